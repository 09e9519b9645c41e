/**
 * `lnsync sync --exit-when-synced` always ends (issue 13, "Done when"): the real CLI, spawned as a user runs it, over
 * loopback TCP and BOLT 8, against
 *   (a) a silent peer (handshake and `init` with gossip_queries, pings answered by the connection, every query left
 *       unanswered) plus an honest lnsync peer serving a small signed graph: exit 0, the database holds that graph;
 *   (b) the silent peer alone: a non-zero exit and the reason, on one line.
 * Short timeouts come in through the flags (`--reply-timeout`, `--sync-deadline`), so each case ends in seconds.
 * The test waits on the child's exit, never on a timer.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import type { Scope } from "effect"
import { Context, Effect, Layer, Logger, LogLevel, Ref, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BITCOIN_REGTEST } from "../src/domain/Chain.js"
import { toHex } from "../src/domain/Hex.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import * as TcpPeerConnector from "../src/layers/net/TcpPeerConnector.js"
import { GraphStore } from "../src/services/GraphStore.js"
import type { PeerAddress } from "../src/services/PeerConnector.js"
import { NodeIdentity, PeerConnector } from "../src/services/PeerConnector.js"
import { deriveKey, generateGraph } from "../src/testing/GraphGenerator.js"
import { servingPeer, splitGraph } from "../src/testing/SimulatedNetwork.js"
import { type CliRun, runCli } from "./support/cli.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-cli-e2e-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

/**
 * A peer that completes the BOLT 8 handshake and `init` (gossip_queries and gossip_queries_ex offered), answers pings
 * (the connection does that ahead of the inbound queue) and reads every message but never answers one. `asked`
 * records what it was sent, so the test can show it really was queried.
 */
const silentPeer = (
  name: string
): Effect.Effect<
  { readonly address: PeerAddress; readonly asked: Ref.Ref<ReadonlyArray<string>> },
  never,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      TcpPeerConnector.layer(
        TcpPeerConnector.makeConfig(deriveKey(`lnsync/cli-e2e/${name}`), BITCOIN_REGTEST, {
          listen: { host: "127.0.0.1", port: 0 }
        })
      )
    ).pipe(Effect.orDie)
    const connector = Context.get(context, PeerConnector)
    const identity = Context.get(context, NodeIdentity)
    const asked = yield* Ref.make<ReadonlyArray<string>>([])
    const events = yield* connector.events
    yield* Effect.forkScoped(
      Stream.runForEach(events, (event) =>
        event._tag === "Connected"
          ? Effect.forkScoped(
            Stream.runForEach(event.peer.messages, (m) => Ref.update(asked, (a) => [...a, m._tag])).pipe(Effect.ignore)
          )
          : Effect.void)
    )
    if (identity.listenAddress._tag === "None") return yield* Effect.dieMessage("silent peer is not listening")
    const { host, port } = identity.listenAddress.value
    return { address: { nodeId: identity.nodeId, host, port }, asked }
  })

const addressText = (a: PeerAddress) => `${toHex(a.nodeId)}@${a.host}:${a.port}`

/** The flags of a short `--exit-when-synced` run into `db`. */
const syncArgs = (db: string, peers: ReadonlyArray<PeerAddress>) => [
  "sync",
  ...peers.flatMap((p) => ["--peer", addressText(p)]),
  "--db",
  db,
  "--key-file",
  path.join(dir, `${path.basename(db)}.key`),
  "--chain",
  "regtest",
  "--exit-when-synced",
  "--reply-timeout",
  "2s",
  "--sync-deadline",
  "60s"
]

const counts = (filename: string) =>
  Effect.flatMap(GraphStore, (s) => s.counts).pipe(Effect.provide(GraphStoreSqlite.layer({ filename })))

/** Shows what the CLI printed when an expectation fails (and in the test log, as the report asks for it). */
const show = (label: string, run: CliRun) =>
  Effect.sync(() => console.log(`--- ${label}: exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`))

describe("lnsync sync --exit-when-synced over TCP (issue 13)", () => {
  it.live(
    "a silent peer plus an honest one: exit 0, one line per peer, the honest graph in the database",
    () =>
      Effect.gen(function* () {
        const graph = generateGraph({
          seed: 31,
          channels: 150,
          chainHash: BITCOIN_REGTEST,
          now: Math.floor(Date.now() / 1000)
        })
        const honest = yield* servingPeer(splitGraph(graph, 1)[0]!, { chain: BITCOIN_REGTEST, name: "cli-e2e/honest" })
        const silent = yield* silentPeer("silent-a")
        const db = path.join(dir, "honest-and-silent.sqlite")

        const run = yield* runCli(syncArgs(db, [silent.address, honest.address]), {
          LNSYNC_LOG_FORMAT: "line",
          NO_COLOR: "1"
        })
        yield* show("silent + honest", run)

        expect(run.code).toBe(0)
        const out = run.stdout.trim().split("\n")
        expect(out).toContainEqual(
          expect.stringMatching(new RegExp(`^peer ${addressText(honest.address)}: completed \\(`))
        )
        expect(out).toContainEqual(
          expect.stringMatching(new RegExp(`^peer ${addressText(silent.address)}: failed: .+`))
        )
        expect(out.at(-1)).toMatch(/^synced: 150 channels, 300 updates, \d+ nodes from 1 peer in [\d.]+ s$/)
        // logs are one line per event: every stderr line starts with a time and a level
        // (node's own process warnings, if any, are not ours)
        const ours = run.stderr.trim().split("\n").filter((l) => !/^\(node:\d+\)|^\(Use `node --trace/.test(l))
        for (const line of ours) expect(line).toMatch(/^\d\d:\d\d:\d\d\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) /)
        // the silent peer was asked (and never answered)
        expect(yield* Ref.get(silent.asked)).toContain("QueryChannelRange")

        const held = yield* counts(db)
        expect([held.channels, held.updates, held.nodes]).toEqual([
          graph.channelAnnouncements.length,
          graph.channelUpdates.length,
          graph.nodeAnnouncements.length
        ])
      }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning)),
    120_000
  )

  it.live("the silent peer alone: non-zero exit, its failure and the reason printed", () =>
    Effect.gen(function* () {
      const silent = yield* silentPeer("silent-b")
      const db = path.join(dir, "silent-only.sqlite")

      const run = yield* runCli(syncArgs(db, [silent.address]), { LNSYNC_LOG_FORMAT: "line", NO_COLOR: "1" })
      yield* show("silent alone", run)

      expect(run.code).toBe(1)
      expect(run.stdout.trim().split("\n")).toEqual([
        expect.stringMatching(new RegExp(`^peer ${addressText(silent.address)}: failed: .+`))
      ])
      expect(run.stderr.trim().split("\n").at(-1)).toBe("lnsync: not synced: the only peer's sync did not complete")
      expect(run.stderr).not.toMatch(/\n\s+at /)
      expect((yield* counts(db)).channels).toBe(0)
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning)), 120_000)
})
