/**
 * One run of the syncing lnsync node for bench:resync, in a process of its own (so each sync is a fresh process
 * over the same database file, as a node restarted would be, and its CPU is its own): builds the node as
 * bench/sync.ts does (Node.layer over GraphStoreSqlite), runs `runSync(..., {untilSynced: true})` against the one
 * peer, and prints `RESULT <json>` with the wall time, the CPU-seconds and what the sync requested and received.
 *
 * Env: RESYNC_DB (the SQLite file), RESYNC_PEER (`<node_id hex>@127.0.0.1:<port>`).
 */
import { Duration, Effect } from "effect"
import { BITCOIN_MAINNET } from "../../src/domain/Chain.js"
import { fromHex } from "../../src/domain/Hex.js"
import * as GraphStoreSqlite from "../../src/layers/graph/GraphStoreSqlite.js"
import * as Node from "../../src/layers/Node.js"
import { runSync } from "../../src/bin/run.js"
import { deriveKey, GENERATED_TIP } from "../../src/testing/GraphGenerator.js"

export interface ResyncRunResult {
  readonly wallSeconds: number
  /** User + system CPU of this process (all threads: the verify workers too) during the sync. */
  readonly cpuSeconds: number
  readonly counts: { readonly channels: number; readonly updates: number; readonly nodes: number }
  readonly ok: boolean
  readonly reason: string | undefined
  /** run.ts's account lines, one per peer. */
  readonly peerLines: ReadonlyArray<string>
  /** What each peer's last completed sync requested and received (`SyncCounts`), by node id. */
  readonly fetched: ReadonlyArray<{ readonly nodeIdHex: string; readonly fetched: unknown }>
  readonly peakRssMb: number
}

const filename = process.env.RESYNC_DB
const peer = /^([0-9a-f]{66})@([0-9.]+):(\d+)$/.exec(process.env.RESYNC_PEER ?? "")
if (filename === undefined || peer === null) throw new Error("RESYNC_DB and RESYNC_PEER (<id>@<host>:<port>) needed")

const program = Effect.gen(function* () {
  const node = Node.layer({
    chain: BITCOIN_MAINNET,
    // the same identity both runs: the serving peer sees the same node come back
    nodePrivateKey: deriveKey("lnsync/bench/resync/syncer"),
    store: GraphStoreSqlite.layer({ filename }),
    bestHeight: Effect.succeed(GENERATED_TIP)
  })
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const report = yield* runSync([{ nodeId: fromHex(peer[1]!), host: peer[2]!, port: Number(peer[3]) }], {
    untilSynced: true,
    progress: "none",
    // a sync that stalls fails the bench in minutes instead of waiting out the Reconciler's 30-minute default
    deadline: Duration.minutes(10)
  }).pipe(Effect.provide(node), Effect.scoped)
  const wallSeconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  const result: ResyncRunResult = {
    wallSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    counts: { channels: report.counts.channels, updates: report.counts.updates, nodes: report.counts.nodes },
    ok: report.ok,
    reason: report.reason,
    peerLines: report.peerLines,
    fetched: (report.account?.peers ?? []).map((p) => ({
      nodeIdHex: p.nodeIdHex,
      fetched: p._tag === "Completed" ? p.fetched : `${p._tag}: ${p.reason}`
    })),
    peakRssMb: process.resourceUsage().maxRSS / 1024
  }
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
})

Effect.runPromise(program).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  }
)
