/**
 * bench:api — the HTTP API on the mainnet-size graph (bench/support/mainnetGraph.ts: 17k nodes, 54k channels,
 * 108k updates), served in-process on loopback by the same layers `lnsync serve` uses.
 *
 * Measures node lookups (`GET /api/v1/nodes/{id}`) and channel lookups (`GET /api/v1/channels/{scid}`, both
 * policies): throughput with CONCURRENCY requests in flight (keep-alive), and p99 latency one request at a time.
 * The floor, measured in the same run on the same file: the same lookups straight from SQLite (raw better-sqlite3,
 * prepared statements, the same SQL as GraphQuerySql, rows mapped to plain objects), one at a time.
 * Client (node:http, keep-alive) and server share one process and event loop, so the HTTP figures include the
 * client's own cost.
 */
import { Effect, Layer } from "effect"
import { createRequire } from "node:module"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { decodeMessage } from "../src/domain/Codec.js"
import { toHex } from "../src/domain/Hex.js"
import type { ChannelAnnouncement, ChannelUpdate, NodeAnnouncement } from "../src/domain/Messages.js"
import * as GraphQuerySqlite from "../src/layers/graph/GraphQuerySqlite.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import * as HttpServer from "../src/layers/http/HttpServer.js"
import * as ServeStatus from "../src/layers/http/ServeStatus.js"
import { GraphStore } from "../src/services/GraphStore.js"
import { mainnetGraph } from "./support/mainnetGraph.js"

const LOOKUPS = 4_000
const CONCURRENCY = 16
const BATCH = 1_000

/** Seeded xorshift32: the same lookups every run. */
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

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]

interface Figures {
  readonly perSecond: number
  readonly p99Ms: number
}

/** Node's http client on a keep-alive agent (lighter than `fetch`, whose cost would blur the server's). */
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })

const getOk = (url: string) =>
  new Promise<void>((resolve, reject) => {
    http.get(url, { agent }, (response) => {
      response.on("data", () => undefined)
      response.on(
        "end",
        () => (response.statusCode === 200 ? resolve() : reject(new Error(`${url}: ${response.statusCode}`)))
      )
      response.on("error", reject)
    }).on("error", reject)
  })

/** One at a time (latencies), then CONCURRENCY at a time (throughput). */
const measureHttp = async (urls: ReadonlyArray<string>): Promise<Figures> => {
  const latencies: Array<number> = []
  for (const url of urls) {
    const t0 = performance.now()
    await getOk(url)
    latencies.push(performance.now() - t0)
  }
  latencies.sort((a, b) => a - b)
  let next = 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < urls.length) await getOk(urls[next++])
  }))
  return { perSecond: urls.length / ((performance.now() - t0) / 1000), p99Ms: percentile(latencies, 0.99) }
}

interface RawStatement {
  get(...params: ReadonlyArray<unknown>): unknown
  all(...params: ReadonlyArray<unknown>): Array<unknown>
  safeIntegers(on: boolean): RawStatement
}
interface RawDatabase {
  pragma(source: string): unknown
  prepare(source: string): RawStatement
  close(): void
}
const Database = createRequire(import.meta.url)("better-sqlite3") as new (
  filename: string,
  options?: { readonly readonly?: boolean }
) => RawDatabase

const measureFloor = (filename: string, run: (db: RawDatabase) => (i: number) => unknown, n: number): Figures => {
  const db = new Database(filename, { readonly: true })
  for (const pragma of GraphStoreSqlite.PRAGMAS) db.pragma(pragma)
  const lookup = run(db)
  for (let i = 0; i < 200; i++) lookup(i) // warm the statement and the page cache, as the HTTP run is
  const latencies: Array<number> = []
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    if (lookup(i) === undefined) throw new Error(`floor lookup ${i} found nothing`)
    latencies.push(performance.now() - t)
  }
  const seconds = (performance.now() - t0) / 1000
  db.close()
  latencies.sort((a, b) => a - b)
  return { perSecond: n / seconds, p99Ms: percentile(latencies, 0.99) }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-bench-api-"))
const filename = path.join(dir, "graph.db")

/**
 * Writes the graph into `filename` and picks the lookups; the decoded messages are dropped before anything is
 * measured (a heap of 180k messages would make every measurement pay for major GCs).
 */
const writeGraph = Effect.gen(function* () {
  const graph = mainnetGraph()
  const channels: Array<ChannelAnnouncement> = []
  const updates: Array<ChannelUpdate> = []
  const nodes: Array<NodeAnnouncement> = []
  for (const raw of graph.messages) {
    const m = decodeMessage(raw)
    if (m._tag !== "Right") return yield* Effect.dieMessage("generated gossip does not decode")
    const msg = m.right
    if (msg._tag === "ChannelAnnouncement") channels.push(msg)
    else if (msg._tag === "ChannelUpdate") updates.push(msg)
    else if (msg._tag === "NodeAnnouncement") nodes.push(msg)
  }
  const tw = performance.now()
  yield* Effect.gen(function* () {
    const store = yield* GraphStore
    for (let i = 0; i < channels.length; i += BATCH) {
      yield* store.applyBatch({ channels: channels.slice(i, i + BATCH), updates: [], nodes: [] })
    }
    for (let i = 0; i < updates.length; i += BATCH) {
      yield* store.applyBatch({ channels: [], updates: updates.slice(i, i + BATCH), nodes: [] })
    }
    for (let i = 0; i < nodes.length; i += BATCH) {
      yield* store.applyBatch({ channels: [], updates: [], nodes: nodes.slice(i, i + BATCH) })
    }
  }).pipe(Effect.provide(GraphStoreSqlite.layer({ filename })))
  console.log(
    `graph: ${channels.length} channels, ${updates.length} updates, ${nodes.length} node announcements written in ${
      ((performance.now() - tw) / 1000).toFixed(1)
    } s`
  )
  const rand = prng(16)
  const nodeIds = Array.from(
    { length: LOOKUPS },
    () => Uint8Array.from(nodes[Math.floor(rand() * nodes.length)].nodeId)
  )
  const scids = Array.from({ length: LOOKUPS }, () => channels[Math.floor(rand() * channels.length)].shortChannelId)
  return { nodeIds, scids }
})

const main = Effect.gen(function* () {
  const { nodeIds, scids } = yield* writeGraph

  const http = yield* Effect.scoped(Effect.gen(function* () {
    const context = yield* Layer.build(
      HttpServer.layer({ host: "127.0.0.1", port: 0 }).pipe(
        Layer.provide(GraphQuerySqlite.layerWithStore({ filename })),
        Layer.provide(ServeStatus.layerStandalone)
      )
    )
    const base = yield* Effect.provide(HttpServer.baseUrl, context)
    const nodeUrls = nodeIds.map((id) => `${base}/api/v1/nodes/${toHex(id)}`)
    const channelUrls = scids.map((scid) => `${base}/api/v1/channels/${scid}`)
    yield* Effect.promise(() => measureHttp(nodeUrls.slice(0, 200))) // warm-up: JIT, statements, page cache
    const node = yield* Effect.promise(() => measureHttp(nodeUrls))
    const channel = yield* Effect.promise(() => measureHttp(channelUrls))
    return { node, channel }
  }))

  // the floor: GraphQuerySql's statements, straight from SQLite
  const nodeFloor = measureFloor(filename, (db) => {
    const st = db.prepare(
      "SELECT lower(hex(n.node_id)) AS node_hex, n.timestamp, n.alias, n.rgb_color, n.features, n.addresses FROM nodes n WHERE n.node_id = ?"
    ).safeIntegers(true)
    return (i) => {
      const row = st.get(nodeIds[i]) as Record<string, unknown> | undefined
      return row === undefined ? undefined : { ...row, addresses: JSON.parse(String(row.addresses)) as unknown }
    }
  }, LOOKUPS)
  const channelFloor = measureFloor(filename, (db) => {
    const st = db.prepare(
      `SELECT c.scid, lower(hex(c.node_id1)) AS node1_hex, lower(hex(c.node_id2)) AS node2_hex, c.capacity_sat, c.features,
        u1.timestamp AS t1, u1.fee_base_msat AS base1, u1.fee_proportional_millionths AS ppm1, u1.cltv_expiry_delta AS cltv1,
        u1.htlc_minimum_msat AS min1, u1.htlc_maximum_msat AS max1, u1.disabled AS disabled1,
        u2.timestamp AS t2, u2.fee_base_msat AS base2, u2.fee_proportional_millionths AS ppm2, u2.cltv_expiry_delta AS cltv2,
        u2.htlc_minimum_msat AS min2, u2.htlc_maximum_msat AS max2, u2.disabled AS disabled2
      FROM channels c
      LEFT JOIN channel_updates u1 ON u1.scid = c.scid AND u1.direction = 0
      LEFT JOIN channel_updates u2 ON u2.scid = c.scid AND u2.direction = 1
      WHERE c.scid = ?`
    ).safeIntegers(true)
    return (i) => st.get(scids[i])
  }, LOOKUPS)

  const line = (what: string, h: Figures, f: Figures) =>
    `${what}: HTTP ${h.perSecond.toFixed(0)}/s (${CONCURRENCY} in flight), p99 ${
      h.p99Ms.toFixed(2)
    } ms one at a time | ` +
    `SQLite floor ${f.perSecond.toFixed(0)}/s, p99 ${(f.p99Ms * 1000).toFixed(0)} µs | HTTP ${
      (h.perSecond / f.perSecond).toFixed(3)
    }x the floor's rate`
  console.log(line("node lookups", http.node, nodeFloor))
  console.log(line("channel lookups", http.channel, channelFloor))
  console.log(
    `api: node lookups ${http.node.perSecond.toFixed(0)}/s p99 ${http.node.p99Ms.toFixed(2)} ms, channel lookups ${
      http.channel.perSecond.toFixed(0)
    }/s p99 ${http.channel.p99Ms.toFixed(2)} ms over HTTP on loopback = ${
      (http.node.perSecond / nodeFloor.perSecond).toFixed(3)
    }x / ${(http.channel.perSecond / channelFloor.perSecond).toFixed(3)}x the SQLite floor (${
      nodeFloor.perSecond.toFixed(0)
    }/s, ${channelFloor.perSecond.toFixed(0)}/s)`
  )
}).pipe(Effect.ensuring(Effect.sync(() => {
  agent.destroy()
  fs.rmSync(dir, { recursive: true, force: true })
})))

Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
