/**
 * bench:graph-sync — the SQLite GraphStore's share of an initial sync, without the network, the signatures or the
 * pipeline: the mainnet-size signed graph (bench/support/mainnetGraph: 54,000 channels, 108,000 updates, ~17,000
 * node announcements) in the order a serving peer sends it (GS-40: per channel its announcement, its updates, then
 * the endpoints' node announcements not sent yet), cut into 2048-message batches (the pipeline's `batchSize`). Per
 * batch the store does what the pipeline asks of it: the precheck's reads (`channels` for every scid of the batch,
 * `zombies` for the announced ones, `nodes` for the announced nodes), then `applyBatch` with everything.
 *
 * Prints the CPU-seconds (process.cpuUsage: user + system, this single-threaded process) of the reads and of the
 * writes, and of a floor measured in the same run: the same rows (channel, endpoints, update, node) inserted with
 * raw better-sqlite3 prepared single-row statements, batch by batch in one transaction each, on a schema the store
 * created. The last line is the headline: store CPU as a ratio to the floor's.
 *
 * `BENCH_RUNS` (default 2): store runs, each on a fresh file; the floor runs once per store run, interleaved.
 */
import { Effect } from "effect"
import { createRequire } from "node:module"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { channelUpdateChecksum } from "../src/domain/Checksum.js"
import { toHex } from "../src/domain/Hex.js"
import type { ChannelAnnouncement, ChannelUpdate, GossipMessage, NodeAnnouncement } from "../src/domain/Messages.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import type { GraphBatch } from "../src/services/GraphStore.js"
import { GraphStore } from "../src/services/GraphStore.js"
import { mainnetGraph } from "./support/mainnetGraph.js"
import { decodeAll } from "./support/signatureFloor.js"

const BATCH = 2048
const RUNS = Number(process.env.BENCH_RUNS ?? 2)

/** The graph in a serving peer's order (GS-40), in 2048-message batches. */
const syncBatches = (messages: ReadonlyArray<GossipMessage>): Array<GraphBatch> => {
  const anns: Array<ChannelAnnouncement> = []
  const updates = new Map<bigint, Array<ChannelUpdate>>()
  const nodes = new Map<string, NodeAnnouncement>()
  for (const m of messages) {
    if (m._tag === "ChannelAnnouncement") anns.push(m)
    else if (m._tag === "ChannelUpdate") {
      const list = updates.get(m.shortChannelId) ?? []
      list.push(m)
      updates.set(m.shortChannelId, list)
    } else if (m._tag === "NodeAnnouncement") nodes.set(toHex(m.nodeId), m)
  }
  const ordered: Array<GossipMessage> = []
  const sent = new Set<string>()
  for (const a of anns) {
    ordered.push(a, ...(updates.get(a.shortChannelId) ?? []))
    for (const id of [a.nodeId1, a.nodeId2]) {
      const hex = toHex(id)
      const n = nodes.get(hex)
      if (n !== undefined && !sent.has(hex)) {
        sent.add(hex)
        ordered.push(n)
      }
    }
  }
  const out: Array<GraphBatch> = []
  for (let i = 0; i < ordered.length; i += BATCH) {
    const slice = ordered.slice(i, i + BATCH)
    out.push({
      channels: slice.filter((m): m is ChannelAnnouncement => m._tag === "ChannelAnnouncement"),
      updates: slice.filter((m): m is ChannelUpdate => m._tag === "ChannelUpdate"),
      nodes: slice.filter((m): m is NodeAnnouncement => m._tag === "NodeAnnouncement")
    })
  }
  return out
}

const cpuSince = (t0: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(t0)
  return (d.user + d.system) / 1e6
}

const measureStore = (filename: string, batches: ReadonlyArray<GraphBatch>) =>
  Effect.gen(function* () {
    const store = yield* GraphStore
    let readCpu = 0
    let writeCpu = 0
    const w0 = performance.now()
    for (const batch of batches) {
      const r0 = process.cpuUsage()
      const scids = [...new Set([...batch.channels, ...batch.updates].map((m) => m.shortChannelId))]
      const annScids = [...new Set(batch.channels.map((c) => c.shortChannelId))]
      if (scids.length > 0) yield* store.channels(scids)
      if (annScids.length > 0) yield* store.zombies(annScids)
      if (batch.nodes.length > 0) yield* store.nodes(batch.nodes.map((n) => n.nodeId))
      readCpu += cpuSince(r0)
      const a0 = process.cpuUsage()
      yield* store.applyBatch(batch)
      writeCpu += cpuSince(a0)
    }
    const wallS = (performance.now() - w0) / 1000
    const counts = yield* store.counts
    return { readCpu, writeCpu, wallS, counts }
  }).pipe(Effect.provide(GraphStoreSqlite.layer({ filename })))

/** The few better-sqlite3 calls the floor makes (the package ships no type declarations). */
interface RawStatement {
  run(...params: ReadonlyArray<unknown>): unknown
}
interface RawDatabase {
  pragma(source: string): unknown
  prepare(source: string): RawStatement
  transaction<A>(fn: (arg: A) => void): (arg: A) => void
  close(): void
}
const Database = createRequire(import.meta.url)("better-sqlite3") as new (filename: string) => RawDatabase

/** The same rows through raw prepared single-row INSERTs, one transaction per batch, on the store's schema. */
const measureFloor = (filename: string, batches: ReadonlyArray<GraphBatch>) => {
  const db = new Database(filename)
  db.pragma("journal_mode = WAL")
  for (const pragma of GraphStoreSqlite.PRAGMAS) db.pragma(pragma)
  const insChannel = db.prepare("INSERT INTO channels (scid, node_id1, node_id2, raw) VALUES (?, ?, ?, ?)")
  const insEndpoints = db.prepare("INSERT INTO channel_endpoints (node_id) VALUES (?), (?) ON CONFLICT DO NOTHING")
  const insUpdate = db.prepare(
    "INSERT INTO channel_updates (scid, direction, timestamp, checksum, raw) VALUES (?, ?, ?, ?, ?)"
  )
  const insNode = db.prepare("INSERT INTO nodes (node_id, timestamp, raw) VALUES (?, ?, ?)")
  const tx = db.transaction((batch: GraphBatch) => {
    for (const c of batch.channels) {
      insChannel.run(c.shortChannelId, c.nodeId1, c.nodeId2, c.raw)
      insEndpoints.run(c.nodeId1, c.nodeId2)
    }
    for (const u of batch.updates) {
      insUpdate.run(u.shortChannelId, u.channelFlags & 1, u.timestamp, channelUpdateChecksum(u.raw), u.raw)
    }
    for (const n of batch.nodes) insNode.run(n.nodeId, n.timestamp, n.raw)
  })
  const t0 = process.cpuUsage()
  for (const batch of batches) tx(batch)
  const cpu = cpuSince(t0)
  db.close()
  return cpu
}

const main = Effect.acquireUseRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-bench-graph-sync-"))),
  (dir) =>
    Effect.gen(function* () {
      const batches = syncBatches(decodeAll(mainnetGraph(54_000).messages))
      const totals = batches.reduce<readonly [number, number, number]>(
        (t, b) => [t[0] + b.channels.length, t[1] + b.updates.length, t[2] + b.nodes.length],
        [0, 0, 0]
      )
      console.log(
        `${batches.length} batches of <= ${BATCH}: ${totals[0]} channels, ${totals[1]} updates, ${totals[2]} nodes`
      )
      const results: Array<{ readonly store: number; readonly floor: number }> = []
      for (let run = 0; run < RUNS; run++) {
        const floorFile = path.join(dir, `floor-${run}.db`)
        yield* Effect.provide(Effect.void, GraphStoreSqlite.layer({ filename: floorFile }))
        const floor = measureFloor(floorFile, batches)
        const s = yield* measureStore(path.join(dir, `store-${run}.db`), batches)
        if (s.counts.channels !== totals[0] || s.counts.updates !== totals[1] || s.counts.nodes !== totals[2]) {
          return yield* Effect.dieMessage(`stored ${JSON.stringify(s.counts)}, expected ${JSON.stringify(totals)}`)
        }
        const store = s.readCpu + s.writeCpu
        results.push({ store, floor })
        console.log(
          `run ${run + 1}: store cpu ${store.toFixed(2)} s (reads ${s.readCpu.toFixed(2)} s, applyBatch ${
            s.writeCpu.toFixed(2)
          } s; wall ${s.wallS.toFixed(2)} s); floor cpu ${floor.toFixed(2)} s`
        )
      }
      const best = results.reduce((a, b) => (b.store / b.floor < a.store / a.floor ? b : a))
      console.log(
        `graph-sync: store cpu ${best.store.toFixed(2)} s = ${(best.store / best.floor).toFixed(2)}× floor cpu (${
          best.floor.toFixed(2)
        } s), best of ${RUNS}`
      )
    }),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
