/**
 * bench:graph — the SQLite GraphStore on a mainnet-size graph (54,000 channels, 108,000 updates, 17,000 node
 * announcements), generated deterministically here (the store never checks signatures, so filler bytes do).
 *
 * Measures: inserting everything in 1,000-message batches (announcements, then updates, then node announcements,
 * as a syncer receives them); a full-range channel-id query (`channelRange(0, 2^24-1)`); draining a 24-hour
 * horizon (`gossipInHorizon(now - 86400, now)`). The count after the inserts builds the horizon indexes (migration 7:
 * built on first use, not kept during the load), timed on its own. The floor is the same work
 * done with raw better-sqlite3 on the same schema and PRAGMAs (prepared statements, plain INSERTs, the horizon
 * indexes built untimed before one unpaginated SELECT): what SQLite itself costs.
 */
import { Effect, Stream } from "effect"
import { createRequire } from "node:module"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import type { ChannelAnnouncement, ChannelUpdate, NodeAnnouncement } from "../src/domain/Messages.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import type { GraphBatch } from "../src/services/GraphStore.js"
import { GraphStore } from "../src/services/GraphStore.js"
import { channelAnnouncement, channelUpdate, nodeAnnouncement, nodeId, scid } from "../test/support/gossip.js"

export const CHANNELS = 54_000
const NODES = 17_000
export const BATCH = 1_000
export const NOW = 1_780_000_000
export const DAY = 86_400

/** Seeded xorshift32: same graph every run. */
const prng = (seed: number) => {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 0x1_0000_0000
  }
}

export const generate = () => {
  const rand = prng(2026)
  const nodeIds = Array.from({ length: NODES }, (_, i) => nodeId(i))
  const channels: Array<ChannelAnnouncement> = []
  const updates: Array<ChannelUpdate> = []
  let block = 500_000
  for (let i = 0; i < CHANNELS; i++) {
    block += rand() < 0.13 ? 1 + Math.floor(rand() * 15) : 0 // ~54k channels over ~420k blocks, clustered
    // every node gets a channel; beyond that endpoints are skewed towards hubs (low indices), like mainnet
    const a = i < NODES ? i : Math.floor(NODES * rand() ** 3)
    let b = Math.floor(NODES * rand() ** 2)
    if (b === a) b = (a + 1) % NODES
    const id = scid(block, i, i & 3)
    channels.push(channelAnnouncement(id, nodeIds[a], nodeIds[b]))
    // updates spread over 13 days (inside the prune window): a 24-hour horizon holds ~1/13 of them
    for (const direction of [0, 1] as const) {
      updates.push(channelUpdate(id, direction, NOW - Math.floor(rand() * 13 * DAY), { feeBaseMsat: i }))
    }
  }
  const nodes: Array<NodeAnnouncement> = nodeIds.map((n, i) =>
    nodeAnnouncement(n, NOW - Math.floor(rand() * 13 * DAY), `n${i}`)
  )
  return { channels, updates, nodes }
}

export const batchesOf = (graph: ReturnType<typeof generate>): Array<GraphBatch> => {
  const out: Array<GraphBatch> = []
  for (let i = 0; i < graph.channels.length; i += BATCH) {
    out.push({ channels: graph.channels.slice(i, i + BATCH), updates: [], nodes: [] })
  }
  for (let i = 0; i < graph.updates.length; i += BATCH) {
    out.push({ channels: [], updates: graph.updates.slice(i, i + BATCH), nodes: [] })
  }
  for (let i = 0; i < graph.nodes.length; i += BATCH) {
    out.push({ channels: [], updates: [], nodes: graph.nodes.slice(i, i + BATCH) })
  }
  return out
}

const ms = (t0: number) => performance.now() - t0

const measureStore = (filename: string, batches: ReadonlyArray<GraphBatch>, messages: number) =>
  Effect.gen(function* () {
    const store = yield* GraphStore
    const t0 = performance.now()
    for (const batch of batches) yield* store.applyBatch(batch)
    const insertMs = ms(t0)
    // the first count builds the horizon indexes (migration 7: not kept during the load)
    const t4 = performance.now()
    const counts = yield* store.counts
    const indexMs = ms(t4)
    if (counts.channels + counts.updates + counts.nodes !== messages) {
      return yield* Effect.dieMessage(`stored ${JSON.stringify(counts)}, expected ${messages} messages`)
    }
    const t1 = performance.now()
    const range = yield* store.channelRange(0, 2 ** 24 - 1)
    const rangeMs = ms(t1)
    const t3 = performance.now()
    const horizon = yield* Stream.runFold(store.gossipInHorizon(NOW - DAY, NOW), 0, (n) => n + 1)
    const horizonMs = ms(t3)
    return { insertMs, rangeMs, indexMs, horizonMs, rangeCount: range.length, horizonCount: horizon }
  }).pipe(Effect.provide(GraphStoreSqlite.layer({ filename })))

/** The few better-sqlite3 calls the floor makes (the package ships no type declarations). */
interface RawStatement {
  run(...params: ReadonlyArray<unknown>): unknown
  all(...params: ReadonlyArray<unknown>): Array<unknown>
  safeIntegers(on: boolean): RawStatement
}
interface RawDatabase {
  pragma(source: string): unknown
  prepare(source: string): RawStatement
  transaction<A>(fn: (arg: A) => void): (arg: A) => void
  close(): void
}
const Database = createRequire(import.meta.url)("better-sqlite3") as new (filename: string) => RawDatabase

/** The same work with raw better-sqlite3 on a schema the store created. */
const measureFloor = (filename: string, graph: ReturnType<typeof generate>) => {
  const db = new Database(filename)
  db.pragma("journal_mode = WAL")
  for (const pragma of GraphStoreSqlite.PRAGMAS) db.pragma(pragma)
  const insChannel = db.prepare("INSERT INTO channels (scid, node_id1, node_id2, raw) VALUES (?, ?, ?, ?)")
  const insUpdate = db.prepare(
    "INSERT INTO channel_updates (scid, direction, timestamp, checksum, raw) VALUES (?, ?, ?, ?, ?)"
  )
  const insNode = db.prepare("INSERT INTO nodes (node_id, timestamp, raw) VALUES (?, ?, ?)")
  // the schema keeps the set of nodes with a channel beside the channels: part of storing an announcement
  const insEndpoints = db.prepare("INSERT INTO channel_endpoints (node_id) VALUES (?), (?) ON CONFLICT DO NOTHING")
  const t0 = performance.now()
  const inBatches = <A>(items: ReadonlyArray<A>, write: (a: A) => void) => {
    const tx = db.transaction((chunk: ReadonlyArray<A>) => chunk.forEach(write))
    for (let i = 0; i < items.length; i += BATCH) tx(items.slice(i, i + BATCH))
  }
  inBatches(graph.channels, (c) => {
    insChannel.run(c.shortChannelId, c.nodeId1, c.nodeId2, c.raw)
    insEndpoints.run(c.nodeId1, c.nodeId2)
  })
  inBatches(graph.updates, (u) => insUpdate.run(u.shortChannelId, u.channelFlags & 1, u.timestamp, 0, u.raw))
  inBatches(graph.nodes, (n) => insNode.run(n.nodeId, n.timestamp, n.raw))
  const insertMs = ms(t0)
  const t1 = performance.now()
  const range = db
    .prepare(
      `SELECT c.scid, c.node_id1, c.node_id2, u1.timestamp, u1.checksum, u2.timestamp, u2.checksum FROM channels c
       LEFT JOIN channel_updates u1 ON u1.scid = c.scid AND u1.direction = 0
       LEFT JOIN channel_updates u2 ON u2.scid = c.scid AND u2.direction = 1
       WHERE c.scid BETWEEN 0 AND ? ORDER BY c.scid`
    )
    .safeIntegers(true)
    .all((1n << 63n) - 1n)
  const rangeMs = ms(t1)
  db.prepare("CREATE INDEX IF NOT EXISTS channel_updates_time ON channel_updates (timestamp, scid, direction)").run()
  db.prepare("CREATE INDEX IF NOT EXISTS nodes_time ON nodes (timestamp, node_id)").run()
  const t2 = performance.now()
  const updates = db
    .prepare(
      `SELECT c.raw, u.raw FROM channel_updates u JOIN channels c ON c.scid = u.scid
       WHERE u.timestamp >= ? AND u.timestamp < ? ORDER BY u.timestamp, u.scid, u.direction`
    )
    .all(NOW - DAY, NOW)
  const nodes = db.prepare("SELECT raw FROM nodes WHERE timestamp >= ? AND timestamp < ? ORDER BY timestamp, node_id")
    .all(NOW - DAY, NOW)
  const horizonMs = ms(t2)
  db.close()
  return { insertMs, rangeMs, horizonMs, rangeCount: range.length, horizonRows: updates.length + nodes.length }
}

const main = Effect.acquireUseRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-bench-graph-"))),
  (dir) =>
    Effect.gen(function* () {
      {
        const tg = performance.now()
        const graph = generate()
        const batches = batchesOf(graph)
        const messages = graph.channels.length + graph.updates.length + graph.nodes.length
        console.log(
          `generated ${graph.channels.length} channels, ${graph.updates.length} updates, ${graph.nodes.length} nodes in ${
            ms(tg).toFixed(0)
          } ms`
        )
        // the floor runs on an empty schema the store created (then closed)
        const floorFile = path.join(dir, "floor.db")
        yield* Effect.provide(Effect.void, GraphStoreSqlite.layer({ filename: floorFile }))
        const floor = measureFloor(floorFile, graph)
        const store = yield* measureStore(path.join(dir, "store.db"), batches, messages)
        if (store.rangeCount !== CHANNELS || floor.rangeCount !== CHANNELS) {
          return yield* Effect.dieMessage(`range returned ${store.rangeCount} / ${floor.rangeCount} channels`)
        }
        const insertRate = messages / (store.insertMs / 1000)
        const floorRate = messages / (floor.insertMs / 1000)
        console.log(
          `horizon: ${store.horizonCount} messages in the last 24 h (floor read ${floor.horizonRows} rows); the first ` +
            `count, building the horizon indexes, took ${store.indexMs.toFixed(1)} ms`
        )
        console.log(
          `floor (raw better-sqlite3, same schema): insert ${floorRate.toFixed(0)} msg/s; range query ${
            floor.rangeMs.toFixed(1)
          } ms; ` +
            `horizon ${floor.horizonMs.toFixed(1)} ms | store vs floor: insert ${
              (insertRate / floorRate).toFixed(2)
            }x the rate, ` +
            `range ${(store.rangeMs / floor.rangeMs).toFixed(2)}x the time, horizon ${
              (store.horizonMs / floor.horizonMs).toFixed(2)
            }x the time`
        )
        console.log(
          `graph: insert ${insertRate.toFixed(0)} msg/s; range query ${store.rangeMs.toFixed(1)} ms; horizon ${
            store.horizonMs.toFixed(1)
          } ms`
        )
      }
    }),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

// run when executed (bench:graph), not when bench:graph-pg imports the generator
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  Effect.runPromise(main).catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
