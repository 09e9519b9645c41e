/**
 * `--exit-when-synced` with a store that fails every write (issue 13, "errors surface"): the run ends, not synced,
 * with the store's reason on the peer's line — never "synced" with nothing stored. In process, over real loopback
 * TCP against an honest lnsync peer; waits on the run's end, never on a timer.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Logger, LogLevel, Option } from "effect"
import { BITCOIN_REGTEST } from "../src/domain/Chain.js"
import { runSync } from "../src/bin/run.js"
import * as Node from "../src/layers/Node.js"
import { deriveKey, GENERATED_TIP, generateGraph } from "../src/testing/GraphGenerator.js"
import { servingPeer, splitGraph } from "../src/testing/SimulatedNetwork.js"
import { failingStore } from "./pipelineFixtures.js"

describe("lnsync sync --exit-when-synced with a failing store", () => {
  it.live("ends not synced, the store's failure as the peer's reason", () =>
    Effect.gen(function* () {
      const graph = generateGraph({
        seed: 5,
        channels: 40,
        chainHash: BITCOIN_REGTEST,
        now: Math.floor(Date.now() / 1000)
      })
      const honest = yield* servingPeer(splitGraph(graph, 1)[0]!, {
        chain: BITCOIN_REGTEST,
        name: "cli-store-failure/honest"
      })
      const node = Node.layer({
        chain: BITCOIN_REGTEST,
        nodePrivateKey: deriveKey("lnsync/cli-store-failure/syncer"),
        store: failingStore(Effect.succeed(true)),
        bestHeight: Effect.succeed(GENERATED_TIP),
        verifier: "in-thread",
        syncer: { replyTimeout: Option.some(Duration.seconds(2)) }
      })
      const report = yield* runSync([honest.address], {
        untilSynced: true,
        progress: "none",
        deadline: Duration.seconds(60)
      }).pipe(
        Effect.provide(node)
      )
      expect(report.ok).toBe(false)
      expect(report.account?.graphSynced).toBe(false)
      // the final flush fails too: the store's failure is the run's reason
      expect(report.reason).toBe("gossip could not be written to the graph store (applyBatch): disk I/O error")
      expect(report.peerLines).toHaveLength(1)
      expect(report.peerLines[0]).toMatch(/: failed: .*disk I\/O error/)
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Error)), 120_000)
})
