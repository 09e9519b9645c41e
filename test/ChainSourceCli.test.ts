/**
 * Issue 15, "Done when": `lnsync sync --chain-source esplora:<url>` against the in-suite chain server rejects a
 * channel without a funding output and stores the capacity of the others. The real CLI, spawned as a user runs it,
 * syncs over loopback TCP from an honest lnsync peer serving a small signed graph; the chain holds real funding
 * outputs (P2WSH 2-of-2 of each announcement's bitcoin keys) for every channel but one. Waits on the child's exit.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BITCOIN_REGTEST } from "../src/domain/Chain.js"
import { toHex } from "../src/domain/Hex.js"
import * as ChainServer from "../src/testing/chain/ChainServer.js"
import { capacityOf, SyntheticChain } from "../src/testing/chain/SyntheticChain.js"
import { GENERATED_TIP, generateGraph } from "../src/testing/GraphGenerator.js"
import { servingPeer, splitGraph } from "../src/testing/SimulatedNetwork.js"
import { runCli } from "./support/cli.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-chain-cli-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

describe("lnsync sync --chain-source (issue 15)", () => {
  it.live(
    "esplora: the channel without a funding output is rejected, the others stored with their capacity",
    () =>
      Effect.gen(function* () {
        const graph = generateGraph({
          seed: 41,
          channels: 40,
          chainHash: BITCOIN_REGTEST,
          now: Math.floor(Date.now() / 1000)
        })
        const [unfunded, ...funded] = graph.channelAnnouncements
        const chain = SyntheticChain.forAnnouncements(funded, GENERATED_TIP)
        const server = yield* ChainServer.make(chain)
        const peer = yield* servingPeer(splitGraph(graph, 1)[0]!, { chain: BITCOIN_REGTEST, name: "chain-cli/honest" })
        const db = path.join(dir, "esplora.sqlite")
        const run = yield* runCli([
          "sync",
          "--peer",
          `${toHex(peer.address.nodeId)}@${peer.address.host}:${peer.address.port}`,
          "--db",
          db,
          "--key-file",
          path.join(dir, "key"),
          "--chain",
          "regtest",
          "--chain-source",
          `esplora:${server.esploraUrl}`,
          "--exit-when-synced",
          "--reply-timeout",
          "5s",
          "--sync-deadline",
          "60s"
        ], { LNSYNC_LOG_FORMAT: "line", NO_COLOR: "1" })
        if (run.code !== 0) console.log(run.stdout, run.stderr)
        expect(run.code).toBe(0)
        expect(server.requests.get("txs") ?? 0).toBeGreaterThan(0)

        const rows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql<
            { readonly scid: bigint; readonly capacity_sat: bigint | null }
          >`SELECT scid, capacity_sat FROM channels ORDER BY scid`.pipe(
            Effect.provideService(SqlClient.SafeIntegers, true)
          )).pipe(Effect.provide(SqliteClient.layer({ filename: db, readonly: true })))
        const held = new Map(rows.map((r) => [BigInt(r.scid), r.capacity_sat === null ? null : BigInt(r.capacity_sat)]))
        expect(held.has(unfunded.shortChannelId)).toBe(false)
        expect(held.size).toBe(funded.length)
        for (const a of funded) expect(held.get(a.shortChannelId)).toBe(capacityOf(a.shortChannelId))
      }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning)),
    120_000
  )
})
