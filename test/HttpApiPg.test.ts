/**
 * Issue 17: `lnsync serve` over a shared PostgreSQL database. The generated graph of HttpApi.test.ts is written once
 * into a SQLite file and once through the PG store; a server over each answers every read endpoint byte for byte the
 * same (PG hands BIGINT back as text and BYTEA as Buffers; mainnet scids are above 2^53). Then two serve instances
 * read one database while a third pool writes to it, and each reply is one committed state.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Ref, Scope, Stream, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { exportStream } from "../src/bin/export.js"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import { toHex } from "../src/domain/Hex.js"
import * as ShortChannelId from "../src/domain/ShortChannelId.js"
import * as GraphQueryPg from "../src/layers/graph/GraphQueryPg.js"
import * as GraphQuerySqlite from "../src/layers/graph/GraphQuerySqlite.js"
import * as GraphStorePg from "../src/layers/graph/GraphStorePg.js"
import * as HttpServer from "../src/layers/http/HttpServer.js"
import * as ServeStatus from "../src/layers/http/ServeStatus.js"
import { GraphDistributions } from "../src/services/GraphDistributions.js"
import type { GraphQuery } from "../src/services/GraphQuery.js"
import type { GraphBatch, GraphStoreChainMismatch, GraphStoreError } from "../src/services/GraphStore.js"
import { GraphStore } from "../src/services/GraphStore.js"
import * as EmbeddedPostgres from "../src/testing/EmbeddedPostgres.js"
import { generateGraph } from "../src/testing/GraphGenerator.js"
import { channelAnnouncement, channelUpdate, nodeId, scid } from "./support/gossip.js"

// One real PostgreSQL server for this file (a failure to start fails the file: nothing is skipped).
const scope = Effect.runSync(Scope.make())
const server = await Effect.runPromise(Scope.extend(EmbeddedPostgres.make(), scope))
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-http-pg-"))
afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  fs.rmSync(dir, { recursive: true, force: true })
}, 30_000)

let n = 0
const freshUrl = () => Effect.orDie(server.createSchema(`api${n++}`))

const NOW = 1_780_000_000
const graph = generateGraph({ seed: 7, channels: 40, chainHash: BITCOIN_MAINNET, now: NOW })
const batch: GraphBatch = {
  channels: graph.channelAnnouncements,
  updates: graph.channelUpdates,
  nodes: graph.nodeAnnouncements
}

const write = (b: GraphBatch) => Effect.flatMap(GraphStore, (store) => store.applyBatch(b))

/** An HTTP server on port 0 over `reads`, built into the current scope: its context (for `get`). */
const serveOver = (
  reads: Layer.Layer<GraphQuery | GraphDistributions | GraphStore, GraphStoreError | GraphStoreChainMismatch>
) =>
  Layer.build(
    HttpServer.layer({ host: "127.0.0.1", port: 0, metrics: Effect.succeed("") }).pipe(
      Layer.provide(reads),
      Layer.provide(ServeStatus.layerStandalone)
    )
  )

/** What `HttpServer.baseUrl` needs: a running server. */
type Served = Context.Context<Effect.Effect.Context<typeof HttpServer.baseUrl>>

interface Reply {
  readonly status: number
  readonly text: string
}

const get = (served: Served, pathname: string) =>
  Effect.flatMap(Effect.provide(HttpServer.baseUrl, served), (base) =>
    Effect.promise(async (): Promise<Reply> => {
      const response = await fetch(`${base}${pathname}`)
      return { status: response.status, text: await response.text() }
    }))

const json = (reply: Reply): unknown => JSON.parse(reply.text)

/** The SQLite file and the PG database holding the same graph, a server over each. */
const both = Effect.gen(function* () {
  const filename = path.join(dir, `graph${n++}.db`)
  yield* Effect.provide(write(batch), GraphQuerySqlite.layerWithStore({ filename }))
  const url = yield* freshUrl()
  yield* Effect.provide(write(batch), GraphStorePg.layer({ url, chain: BITCOIN_MAINNET }))
  return {
    filename,
    url,
    sqlite: yield* serveOver(GraphQueryPg.layerServeFor(filename)),
    pg: yield* serveOver(GraphQueryPg.layerServeFor(url))
  }
})

const hex = (b: Uint8Array) => toHex(b)

describe("HTTP API over PostgreSQL", () => {
  it.scoped("issue 17: every read endpoint answers over PG exactly as over SQLite (scids above 2^53 included)", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW * 1000)
      const { pg, sqlite } = yield* both
      const someNode = graph.nodeAnnouncements[2]
      const someChannel = graph.channelAnnouncements[5]
      expect(someChannel.shortChannelId > 2n ** 53n).toBe(true)
      const unannounced = graph.channelAnnouncements
        .flatMap((c) => [c.nodeId1, c.nodeId2])
        .find((id) => !graph.nodeAnnouncements.some((a) => hex(a.nodeId) === hex(id)))
      const paths = [
        "/api/v1/stats",
        `/api/v1/nodes/${hex(someNode.nodeId)}`,
        `/api/v1/nodes/${hex(someNode.nodeId)}/channels`,
        ...(unannounced === undefined ? [] : [`/api/v1/nodes/${hex(unannounced)}`]),
        `/api/v1/nodes/03${"ee".repeat(32)}`,
        ...graph.channelAnnouncements.map((c) => `/api/v1/channels/${c.shortChannelId}`),
        `/api/v1/channels/${ShortChannelId.format(someChannel.shortChannelId)}`,
        "/api/v1/channels/1x1x1",
        "/api/v1/channels/18446744073709551615",
        "/api/v1/nodes?limit=1000",
        `/api/v1/nodes?alias=${encodeURIComponent(Buffer.from(someNode.alias).toString("utf8").slice(0, 2))}`,
        "/api/v1/graph"
      ]
      for (const p of paths) {
        const [fromPg, fromSqlite] = [yield* get(pg, p), yield* get(sqlite, p)]
        expect({ path: p, status: fromPg.status, text: fromPg.text }).toEqual({
          path: p,
          status: fromSqlite.status,
          text: fromSqlite.text
        })
      }
      // the big scid reads back exactly, not rounded through a double
      const channel = json(yield* get(pg, `/api/v1/channels/${someChannel.shortChannelId}`))
      expect(channel).toMatchObject({ channel_id: String(someChannel.shortChannelId) })
      // pagination: the same pages, cursor for cursor
      const pages = (served: Served) =>
        Effect.gen(function* () {
          const texts: Array<string> = []
          let cursor: unknown = null
          do {
            const query: string = cursor === null ? "" : `&cursor=${String(cursor)}`
            const reply = yield* get(served, `/api/v1/nodes?limit=7${query}`)
            texts.push(reply.text)
            const page = json(reply) as { readonly next_cursor: unknown }
            cursor = page.next_cursor
          } while (cursor !== null && texts.length < 100)
          return texts
        })
      const pgPages = yield* pages(pg)
      expect(pgPages.length).toBeGreaterThan(1)
      expect(pgPages).toEqual(yield* pages(sqlite))
      expect(json(yield* get(pg, "/api/v1/stats"))).toMatchObject({
        channels: graph.channelAnnouncements.length,
        updates: graph.channelUpdates.length,
        nodes: graph.nodeAnnouncements.length
      })
    }))

  it.scoped("issue 17: lnsync export and the dashboard's histograms read PG as SQLite", () =>
    Effect.gen(function* () {
      const { filename, url } = yield* both
      const exported = (db: string, format: "describegraph" | "jsonl") =>
        Stream.runFold(exportStream(format), "", (acc, piece) => acc + piece).pipe(
          Effect.provide(GraphQueryPg.layerWithStoreFor(db))
        )
      for (const format of ["describegraph", "jsonl"] as const) {
        expect(yield* exported(url, format)).toBe(yield* exported(filename, format))
      }
      const distributions = (db: string) =>
        Effect.flatMap(GraphDistributions, (d) => d.distributions).pipe(
          Effect.provide(GraphQueryPg.layerDistributionsFor(db))
        )
      const fromPg = yield* distributions(url)
      expect(fromPg.feePpm.total).toBeGreaterThan(0)
      expect(fromPg).toEqual(yield* distributions(filename))
    }))

  it.scoped("issue 17: two serve instances read one database while a writer writes; each reply is one commit", () =>
    Effect.gen(function* () {
      const url = yield* freshUrl()
      yield* Effect.provide(write(batch), GraphStorePg.layer({ url, chain: BITCOIN_MAINNET }))
      const base = { channels: graph.channelAnnouncements.length, updates: graph.channelUpdates.length }
      const readers = [
        yield* serveOver(GraphQueryPg.layerServeFor(url)),
        yield* serveOver(GraphQueryPg.layerServeFor(url))
      ]
      const BATCHES = 12
      // each batch: a new channel (scid above 2^53) with both directions, in one transaction
      const added = Array.from({ length: BATCHES }, (_, i) => scid(900_000 + i, 1, 0))
      const seen = yield* Ref.make<ReadonlyArray<number>>(readers.map(() => 0))
      const violations = yield* Ref.make<ReadonlyArray<string>>([])
      const violation = (text: string) => Ref.update(violations, (v) => [...v, text])
      const read = (reader: Served, index: number) =>
        Effect.gen(function* () {
          let last = 0
          while (last < BATCHES) {
            const stats = json(yield* get(reader, "/api/v1/stats")) as { channels: number; updates: number }
            const written = stats.channels - base.channels
            if (stats.updates - base.updates !== 2 * written) yield* violation(`torn stats ${JSON.stringify(stats)}`)
            if (written < last) yield* violation(`reader ${index} went back from ${last} to ${written}`)
            last = Math.max(last, written)
            yield* Ref.update(seen, (s) => s.map((v, i) => (i === index ? last : v)))
            // the newest channel a reader can see is whole: both policies, or not there at all
            const newest = added[Math.max(0, written - 1)]
            const reply = yield* get(reader, `/api/v1/channels/${newest}`)
            if (written > 0 && reply.status !== 200) yield* violation(`channel ${newest} missing after stats showed it`)
            if (reply.status === 200) {
              const c = json(reply) as { node1_policy: unknown; node2_policy: unknown; channel_id: string }
              if (c.node1_policy === null || c.node2_policy === null) {
                yield* violation(`channel ${newest} without a policy`)
              }
              if (c.channel_id !== String(newest)) yield* violation(`channel id ${c.channel_id} read as ${newest}`)
            }
            yield* Effect.yieldNow()
          }
          return last
        })
      const writer = Effect.gen(function* () {
        for (let i = 0; i < BATCHES; i++) {
          const id = added[i]
          yield* write({
            channels: [channelAnnouncement(id, nodeId(1000 + i), nodeId(2000 + i))],
            updates: [channelUpdate(id, 0, NOW - 10), channelUpdate(id, 1, NOW - 10)],
            nodes: []
          })
          // the next batch waits until both readers saw this one, so reads interleave with every write
          while ((yield* Ref.get(seen)).some((s) => s < i + 1)) yield* Effect.yieldNow()
        }
      }).pipe(Effect.provide(GraphStorePg.layer({ url, chain: BITCOIN_MAINNET })))
      const [finals] = yield* Effect.all(
        [Effect.all(readers.map(read), { concurrency: "unbounded" }), writer],
        { concurrency: "unbounded" }
      )
      expect(yield* Ref.get(violations)).toEqual([])
      expect(finals).toEqual([BATCHES, BATCHES])
      for (const reader of readers) {
        expect(json(yield* get(reader, "/api/v1/stats"))).toMatchObject({
          channels: base.channels + BATCHES,
          updates: base.updates + 2 * BATCHES
        })
      }
    }))
})
