/**
 * Issue 16, the dashboard's server side: the bounded history of graph counts (ring buffer, sampled by a scoped fiber
 * on the TestClock), the fee and capacity histograms computed in SQL (checked against the same buckets computed
 * here from the generated gossip), and `/`, `/dashboard.js`, `/api/v1/history`, `/api/v1/distributions` over real
 * HTTP. The page itself runs in a real browser in `npm run test:e2e` (test/e2e/).
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Fiber, Layer, Ref, Schema, Scope, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import * as GraphDistributionsSql from "../src/layers/graph/GraphDistributionsSql.js"
import * as GraphQuerySqlite from "../src/layers/graph/GraphQuerySqlite.js"
import * as DashboardApi from "../src/layers/http/DashboardApi.js"
import * as DashboardRoutes from "../src/layers/http/DashboardRoutes.js"
import * as HttpServer from "../src/layers/http/HttpServer.js"
import * as ServeStatus from "../src/layers/http/ServeStatus.js"
import { bucketOf, EDGES, GraphDistributions } from "../src/services/GraphDistributions.js"
import * as GraphHistory from "../src/services/GraphHistory.js"
import { GraphQuery } from "../src/services/GraphQuery.js"
import type { GraphQueryService, GraphStats } from "../src/services/GraphQuery.js"
import { GraphStore, GraphStoreError } from "../src/services/GraphStore.js"
import { generateGraph } from "../src/testing/GraphGenerator.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-dashboard-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const NOW = 1_780_000_000
const graph = generateGraph({ seed: 11, channels: 60, chainHash: BITCOIN_MAINNET, now: NOW })
/** Capacities for two thirds of the channels, as a chain source would give them (the rest stay unknown). */
const capacities = new Map(
  graph.channelAnnouncements.flatMap((c, i) => i % 3 === 2 ? [] : [[c.shortChannelId, BigInt(20_000 * 3 ** (i % 9))]])
)
const filename = path.join(dir, "graph.db")

const seeded = Effect.gen(function* () {
  const store = yield* GraphStore
  yield* store.applyBatch({
    channels: graph.channelAnnouncements,
    updates: graph.channelUpdates,
    nodes: graph.nodeAnnouncements,
    capacities
  })
}).pipe(Effect.provide(GraphQuerySqlite.layerWithStore({ filename })))

/** Per-bucket counts of `values` on `edges`, as the SQL should find them. */
const expectedCounts = (edges: ReadonlyArray<number>, values: ReadonlyArray<number>) => {
  const counts = edges.map(() => 0)
  for (const v of values) counts[bucketOf(edges, v)]++
  return counts
}

const enabled = graph.channelUpdates.filter((u) => (u.channelFlags & 2) === 0)

/** A GraphQuery whose only working read is `stats`, counting up by one channel per call (or failing on demand). */
const countingQuery = (calls: Ref.Ref<number>, failing: Ref.Ref<boolean>): GraphQueryService => {
  const unused = Effect.die("not used by GraphHistory")
  return {
    stats: Effect.gen(function* () {
      if (yield* Ref.get(failing)) return yield* new GraphStoreError({ operation: "stats", cause: "locked" })
      const n = yield* Ref.updateAndGet(calls, (c) => c + 1)
      return {
        channels: n,
        updates: 2 * n,
        nodes: 3,
        nodesWithChannel: 3,
        zombies: 0,
        newestUpdate: 0,
        newestNodeAnnouncement: 0
      } satisfies GraphStats
    }),
    node: () => unused,
    nodes: () => unused,
    nodeChannels: () => unused,
    channel: () => unused,
    allNodes: unused,
    allChannels: unused
  }
}

describe("dashboard: graph history", () => {
  it("the ring keeps the newest `capacity` items, oldest first", () => {
    let ring: GraphHistory.Ring<number> = GraphHistory.emptyRing
    for (let i = 1; i <= 7; i++) ring = GraphHistory.push(ring, i, 3)
    expect(GraphHistory.ordered(ring)).toEqual([5, 6, 7])
    expect(ring.items.length).toBe(3)
    expect(GraphHistory.ordered(GraphHistory.push(GraphHistory.emptyRing, 1, 3))).toEqual([1])
  })

  it.effect("samples at once and every interval, holds at most `capacity`, skips a failed sample, stops with its scope", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      const failing = yield* Ref.make(false)
      const scope = yield* Scope.make()
      const history = yield* Scope.extend(
        GraphHistory.make(countingQuery(calls, failing), { interval: "10 seconds", capacity: 4 }),
        scope
      )
      yield* TestClock.adjust(0)
      expect((yield* history.samples).map((s) => s.channels)).toEqual([1])
      yield* TestClock.adjust(Duration.seconds(30))
      expect((yield* history.samples).map((s) => [s.time, s.channels, s.updates])).toEqual([
        [0, 1, 2],
        [10_000, 2, 4],
        [20_000, 3, 6],
        [30_000, 4, 8]
      ])
      yield* TestClock.adjust(Duration.seconds(20))
      expect((yield* history.samples).map((s) => s.channels)).toEqual([3, 4, 5, 6])
      // a failing database: the tick is skipped, the sampler lives on
      yield* Ref.set(failing, true)
      yield* TestClock.adjust(Duration.seconds(10))
      expect((yield* history.samples).map((s) => s.channels)).toEqual([3, 4, 5, 6])
      yield* Ref.set(failing, false)
      yield* TestClock.adjust(Duration.seconds(10))
      expect((yield* history.samples).map((s) => s.channels)).toEqual([4, 5, 6, 7])
      // the sampling fiber belongs to the scope: closed, nothing samples any more
      yield* Scope.close(scope, Exit.void)
      const before = yield* Ref.get(calls)
      yield* TestClock.adjust(Duration.minutes(5))
      expect(yield* Ref.get(calls)).toBe(before)
    }))

  it.scoped("GraphHistory.layer samples the GraphQuery in context", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      const failing = yield* Ref.make(false)
      // built into the test's scope, which the sampler lives in
      const context = yield* Layer.build(
        GraphHistory.layer({ interval: "1 second", capacity: 2 }).pipe(
          Layer.provide(Layer.succeed(GraphQuery, countingQuery(calls, failing)))
        )
      )
      const history = Context.get(context, GraphHistory.GraphHistory)
      const fiber = yield* Effect.fork(TestClock.adjust(Duration.seconds(5)))
      yield* Fiber.join(fiber)
      expect(history.capacity).toBe(2)
      expect((yield* history.samples).map((s) => s.time)).toEqual([4000, 5000])
    }))
})

describe("dashboard: distributions", () => {
  it.effect("the SQL histograms count what the generated gossip holds, bucket by bucket", () =>
    Effect.gen(function* () {
      yield* seeded
      const d = yield* Effect.flatMap(GraphDistributions, (g) => g.distributions).pipe(
        Effect.provide(GraphDistributionsSql.layerSqlite({ filename }))
      )
      const counts = (h: { readonly buckets: ReadonlyArray<{ readonly count: number }> }) =>
        h.buckets.map((b) => b.count)
      expect(counts(d.feePpm)).toEqual(expectedCounts(EDGES.feePpm, enabled.map((u) => u.feeProportionalMillionths)))
      expect(counts(d.feeBaseMsat)).toEqual(expectedCounts(EDGES.feeBaseMsat, enabled.map((u) => u.feeBaseMsat)))
      expect(counts(d.capacitySat)).toEqual(expectedCounts(EDGES.sat, [...capacities.values()].map(Number)))
      expect(counts(d.htlcMaximumSat)).toEqual(
        expectedCounts(EDGES.sat, enabled.map((u) => Number((u.htlcMaximumMsat ?? 0n) / 1000n)))
      )
      expect(d.feePpm.total).toBe(enabled.length)
      expect(d.capacitySat.total).toBe(capacities.size)
      // contiguous buckets from 0, the last open-ended
      for (const h of [d.feePpm, d.feeBaseMsat, d.capacitySat, d.htlcMaximumSat]) {
        expect(h.buckets[0].from).toBe(0)
        h.buckets.slice(1).forEach((b, i) => expect(b.from).toBe(h.buckets[i].to))
        expect(h.buckets[h.buckets.length - 1].to).toBeNull()
      }
      // the generated fees spread over several buckets (the histogram says something)
      expect(counts(d.feePpm).filter((c) => c > 0).length).toBeGreaterThan(2)
    }))
})

const get = (pathname: string) =>
  Effect.gen(function* () {
    const base = yield* HttpServer.baseUrl
    return yield* Effect.promise(async () => {
      const response = await fetch(`${base}${pathname}`)
      return { status: response.status, headers: response.headers, text: await response.text() }
    })
  })

describe("dashboard: HTTP", () => {
  const served = Layer.unwrapScoped(
    Effect.gen(function* () {
      yield* seeded
      const history = yield* GraphHistory.make(
        { ...countingQuery(yield* Ref.make(0), yield* Ref.make(false)) },
        { interval: "10 seconds", capacity: 8 }
      )
      const distributions = Context.get(
        yield* Layer.build(GraphDistributionsSql.layerSqlite({ filename })),
        GraphDistributions
      )
      return HttpServer.layer({ host: "127.0.0.1", port: 0, dashboard: { history, distributions } }).pipe(
        Layer.provide(GraphQuerySqlite.layerWithStore({ filename })),
        Layer.provide(ServeStatus.layerStandalone)
      )
    })
  )

  it.scoped("/ and its assets: HTML, script and style from this server only", () =>
    Effect.gen(function* () {
      for (const asset of DashboardRoutes.ASSETS) {
        const reply = yield* get(asset.path)
        expect(reply.status).toBe(200)
        expect(reply.headers.get("content-type")).toBe(asset.contentType)
        expect(reply.headers.get("content-security-policy")).toContain("default-src 'self'")
        expect(reply.text).toBe(fs.readFileSync(path.join("src/layers/http/dashboard", asset.file), "utf8"))
      }
      const page = (yield* get("/")).text
      expect(page).toContain(`<script type="module" src="/dashboard.js">`)
      expect(page).not.toMatch(/(src|href)="https?:/) // nothing from elsewhere
      // the page's script only puts graph data into the DOM as text
      expect((yield* get("/dashboard.js")).text).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/)
    }).pipe(Effect.provide(served)))

  it.scoped("/api/v1/history and /api/v1/distributions answer their declared shapes", () =>
    Effect.gen(function* () {
      yield* TestClock.adjust(Duration.seconds(20))
      const history = Schema.decodeUnknownSync(DashboardApi.History)(JSON.parse((yield* get("/api/v1/history")).text))
      expect(history.interval_seconds).toBe(10)
      expect(history.capacity).toBe(8)
      expect(history.samples.map((s) => [s.time, s.channels])).toEqual([[0, 1], [10_000, 2], [20_000, 3]])
      const d = Schema.decodeUnknownSync(DashboardApi.Distributions)(
        JSON.parse((yield* get("/api/v1/distributions")).text)
      )
      expect(d.fee_ppm.total).toBe(enabled.length)
      expect(d.capacity_sat.total).toBe(capacities.size)
      expect(d.capacity_sat.unit).toBe("sat")
      const openapi = JSON.parse((yield* get("/openapi.json")).text) as { readonly paths: Record<string, unknown> }
      expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(["/api/v1/history", "/api/v1/distributions"]))
    }).pipe(Effect.provide(served)))

  it.scoped("a server without dashboard services: an empty history and a 503 with a reason for distributions", () =>
    Effect.gen(function* () {
      yield* seeded
      const history = JSON.parse((yield* get("/api/v1/history")).text)
      expect(history).toEqual({ interval_seconds: 0, capacity: 0, samples: [] })
      const distributions = yield* get("/api/v1/distributions")
      expect(distributions.status).toBe(503)
      expect(JSON.parse(distributions.text)).toMatchObject({ _tag: "NotReady" })
    }).pipe(
      Effect.provide(
        HttpServer.layer({ host: "127.0.0.1", port: 0 }).pipe(
          Layer.provide(GraphQuerySqlite.layerWithStore({ filename })),
          Layer.provide(ServeStatus.layerStandalone)
        )
      )
    ))
})
