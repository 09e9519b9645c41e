/**
 * Issue 16: the HTTP API over real HTTP on loopback (port 0) against a small generated graph in SQLite: every
 * endpoint, 400s and 404s with JSON reasons, lnd's describegraph field names, and the OpenAPI document.
 */
import { HttpApi } from "@effect/platform"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema, Stream, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import { toHex } from "../src/domain/Hex.js"
import * as ShortChannelId from "../src/domain/ShortChannelId.js"
import * as GraphQuerySqlite from "../src/layers/graph/GraphQuerySqlite.js"
import { exportStream } from "../src/bin/export.js"
import * as Api from "../src/layers/http/HttpApi.js"
import * as HttpServer from "../src/layers/http/HttpServer.js"
import * as ServeStatus from "../src/layers/http/ServeStatus.js"
import { GraphStore } from "../src/services/GraphStore.js"
import { generateGraph } from "../src/testing/GraphGenerator.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-http-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const NOW = 1_780_000_000
const graph = generateGraph({ seed: 7, channels: 40, chainHash: BITCOIN_MAINNET, now: NOW })
const filename = path.join(dir, "graph.db")

/** The generated graph written into a fresh file, once. */
const seeded = Effect.gen(function* () {
  const store = yield* GraphStore
  yield* store.applyBatch({
    channels: graph.channelAnnouncements,
    updates: graph.channelUpdates,
    nodes: graph.nodeAnnouncements
  })
}).pipe(Effect.provide(GraphQuerySqlite.layerWithStore({ filename })))

const serve = (status: Layer.Layer<ServeStatus.ServeStatus> = ServeStatus.layerStandalone) =>
  HttpServer.layer({ host: "127.0.0.1", port: 0, metrics: Effect.succeed("lnsync_test_metric 1\n") }).pipe(
    Layer.provide(GraphQuerySqlite.layerWithStore({ filename })),
    Layer.provide(status)
  )

interface Reply {
  readonly status: number
  readonly contentType: string
  readonly text: string
  readonly json: unknown
}

const get = (pathname: string) =>
  Effect.gen(function* () {
    const base = yield* HttpServer.baseUrl
    return yield* Effect.promise(async (): Promise<Reply> => {
      const response = await fetch(`${base}${pathname}`)
      const text = await response.text()
      const json: unknown = (() => {
        try {
          return JSON.parse(text)
        } catch {
          return undefined
        }
      })()
      return { status: response.status, contentType: response.headers.get("content-type") ?? "", text, json }
    })
  })

const field = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null && key in value ? (value as Record<string, unknown>)[key] : undefined

const decode = <A, I>(schema: Schema.Schema<A, I>, value: unknown): A => Schema.decodeUnknownSync(schema)(value)

const hex = (b: Uint8Array) => toHex(b)
const aliasOf = (a: Uint8Array) => Buffer.from(a).toString("utf8").replace(/\0+$/, "")

const endpoints = new Set(graph.channelAnnouncements.flatMap((c) => [hex(c.nodeId1), hex(c.nodeId2)]))
const someNode = graph.nodeAnnouncements[2]
const someChannel = graph.channelAnnouncements[5]

describe("HTTP API", () => {
  it.scoped("issue 16: health, ready, stats, metrics", () =>
    Effect.gen(function* () {
      yield* seeded
      yield* TestClock.setTime(NOW * 1000)
      expect((yield* get("/health")).json).toEqual({ status: "ok" })
      expect((yield* get("/ready")).status).toBe(200)
      const stats = decode(Api.Stats, (yield* get("/api/v1/stats")).json)
      const newest = Math.max(
        ...graph.channelUpdates.map((u) => u.timestamp),
        ...graph.nodeAnnouncements.map((n) => n.timestamp)
      )
      expect(stats).toMatchObject({
        channels: graph.channelAnnouncements.length,
        updates: graph.channelUpdates.length,
        nodes: graph.nodeAnnouncements.length,
        nodes_with_channel: endpoints.size,
        zombies: 0,
        age_seconds: NOW - newest,
        mode: "serve",
        graph_synced: true,
        peers: []
      })
      const metrics = yield* get("/metrics")
      expect(metrics.status).toBe(200)
      expect(metrics.contentType).toContain("text/plain")
      expect(metrics.text).toBe("lnsync_test_metric 1\n")
    }).pipe(Effect.provide(serve())))

  it.scoped("issue 16: /ready is 503 with a JSON reason until the graph is synced", () =>
    Effect.gen(function* () {
      yield* seeded
      const ready = yield* get("/ready")
      expect(ready.status).toBe(503)
      expect(field(ready.json, "reason")).toMatch(/sync/)
      const stats = decode(Api.Stats, (yield* get("/api/v1/stats")).json)
      expect(stats.peers.map((p) => p.node_id)).toEqual(["02" + "11".repeat(32)])
    }).pipe(Effect.provide(serve(Layer.succeed(ServeStatus.ServeStatus, {
      mode: "sync",
      graphSynced: Effect.succeed(false),
      peers: Effect.succeed([{
        nodeId: "02" + "11".repeat(32),
        syncType: "ActiveSync",
        state: "waitingQueryRangeReply",
        completedSyncs: 0,
        failures: 0,
        lastFailure: null,
        completedInitial: false,
        syncing: true
      }])
    })))))

  it.scoped("issue 16: a node by id (either case), its channels; 400 for a malformed id, 404 for an unknown one", () =>
    Effect.gen(function* () {
      yield* seeded
      const id = hex(someNode.nodeId)
      const node = decode(Api.Node, (yield* get(`/api/v1/nodes/${id.toUpperCase()}`)).json)
      expect(node).toMatchObject({
        node_id: id,
        announced: true,
        alias: aliasOf(someNode.alias),
        color: `#${hex(someNode.rgbColor)}`,
        features: hex(someNode.features),
        last_update: someNode.timestamp
      })
      expect(node.addresses.length).toBe(
        someNode.addresses.filter((a) => a._tag !== "TorV2" && a._tag !== "Unknown").length
      )
      const channels = decode(Api.NodeChannels, (yield* get(`/api/v1/nodes/${id}/channels`)).json)
      const expected = graph.channelAnnouncements.filter((c) => hex(c.nodeId1) === id || hex(c.nodeId2) === id)
      expect(channels.channels.map((c) => c.channel_id)).toEqual(expected.map((c) => c.shortChannelId))
      for (const bad of ["xyz", "02abcd", "g".repeat(66)]) {
        const reply = yield* get(`/api/v1/nodes/${bad}`)
        expect(reply.status).toBe(400)
        expect(field(reply.json, "message")).toMatch(/66 hex digits/)
        expect((yield* get(`/api/v1/nodes/${bad}/channels`)).status).toBe(400)
      }
      const unknown = "03" + "ee".repeat(32)
      const missing = yield* get(`/api/v1/nodes/${unknown}`)
      expect(missing.status).toBe(404)
      expect(missing.json).toEqual({ _tag: "NotFound", reason: `no node ${unknown} in the graph` })
      expect((yield* get(`/api/v1/nodes/${unknown}/channels`)).status).toBe(404)
    }).pipe(Effect.provide(serve())))

  it.scoped("issue 16: a channel by BLOCKxTXxOUT or integer with both policies; 400 and 404", () =>
    Effect.gen(function* () {
      yield* seeded
      const scid = someChannel.shortChannelId
      const byText = (yield* get(`/api/v1/channels/${ShortChannelId.format(scid)}`)).json
      const byInt = (yield* get(`/api/v1/channels/${scid}`)).json
      expect(byInt).toEqual(byText)
      const channel = decode(Api.Channel, byText)
      const [u1, u2] = [0, 1].map((d) =>
        graph.channelUpdates.find((u) => u.shortChannelId === scid && (u.channelFlags & 1) === d)
      )
      expect(channel).toEqual({
        short_channel_id: ShortChannelId.format(scid),
        channel_id: scid,
        node1: hex(someChannel.nodeId1),
        node2: hex(someChannel.nodeId2),
        capacity_sat: null,
        features: hex(someChannel.features),
        node1_policy: u1 === undefined ? null : {
          fee_base_msat: u1.feeBaseMsat,
          fee_proportional_millionths: u1.feeProportionalMillionths,
          cltv_expiry_delta: u1.cltvExpiryDelta,
          htlc_minimum_msat: u1.htlcMinimumMsat,
          htlc_maximum_msat: u1.htlcMaximumMsat ?? null,
          disabled: (u1.channelFlags & 2) !== 0,
          last_update: u1.timestamp
        },
        node2_policy: u2 === undefined ? null : {
          fee_base_msat: u2.feeBaseMsat,
          fee_proportional_millionths: u2.feeProportionalMillionths,
          cltv_expiry_delta: u2.cltvExpiryDelta,
          htlc_minimum_msat: u2.htlcMinimumMsat,
          htlc_maximum_msat: u2.htlcMaximumMsat ?? null,
          disabled: (u2.channelFlags & 2) !== 0,
          last_update: u2.timestamp
        }
      })
      expect(field(byText, "htlc_minimum_msat")).toBeUndefined() // amounts live in the policies, as strings
      expect(typeof field(field(byText, "node1_policy"), "htlc_minimum_msat")).toBe("string")
      for (const bad of ["abc", "1x2", "1x2x3x4", "99999999x1x1", "18446744073709551616", "-5"]) {
        const reply = yield* get(`/api/v1/channels/${bad}`)
        expect(reply.status).toBe(400)
        expect(field(reply.json, "message")).toMatch(/scid must be BLOCKxTXxOUT/)
      }
      const missing = yield* get("/api/v1/channels/1x1x1")
      expect(missing.status).toBe(404)
      expect(field(missing.json, "_tag")).toBe("NotFound")
      // beyond SQLite's signed range: valid input, held by no store
      expect((yield* get("/api/v1/channels/18446744073709551615")).status).toBe(404)
    }).pipe(Effect.provide(serve())))

  it.scoped("issue 16: nodes by alias prefix, paginated with an opaque cursor; bad parameters are 400s", () =>
    Effect.gen(function* () {
      yield* seeded
      const all: Array<string> = []
      let cursor: string | null = null
      let pages = 0
      do {
        const query: string = cursor === null ? "" : `&cursor=${cursor}`
        const page: typeof Api.NodePage.Type = decode(Api.NodePage, (yield* get(`/api/v1/nodes?limit=7${query}`)).json)
        expect(page.nodes.length).toBeLessThanOrEqual(7)
        all.push(...page.nodes.map((n) => n.node_id))
        cursor = page.next_cursor
        pages++
      } while (cursor !== null && pages < 100)
      expect(new Set(all).size).toBe(all.length)
      expect([...all].sort()).toEqual(graph.nodeAnnouncements.map((n) => hex(n.nodeId)).sort())
      const prefix = aliasOf(someNode.alias).toUpperCase() // case-insensitive
      const matching = graph.nodeAnnouncements.filter((n) => aliasOf(n.alias).toUpperCase().startsWith(prefix))
      const found = decode(
        Api.NodePage,
        (yield* get(`/api/v1/nodes?alias=${encodeURIComponent(prefix)}&limit=1000`)).json
      )
      expect(found.nodes.map((n) => n.node_id).sort()).toEqual(matching.map((n) => hex(n.nodeId)).sort())
      expect(found.next_cursor).toBeNull()
      const none = decode(Api.NodePage, (yield* get("/api/v1/nodes?alias=%25")).json) // % is no wildcard
      expect(none.nodes).toEqual([])
      for (const bad of ["limit=0", "limit=1001", "limit=two", "cursor=nonsense", "alias=" + "a".repeat(33)]) {
        const reply = yield* get(`/api/v1/nodes?${bad}`)
        expect(reply.status).toBe(400)
        expect(typeof (field(reply.json, "message") ?? field(reply.json, "reason"))).toBe("string")
      }
    }).pipe(Effect.provide(serve())))

  it.scoped("issue 16: /api/v1/graph streams lnd's describegraph shape", () =>
    Effect.gen(function* () {
      yield* seeded
      const reply = yield* get("/api/v1/graph")
      expect(reply.status).toBe(200)
      expect(reply.contentType).toContain("application/json")
      const described = decode(Api.DescribeGraph, reply.json)
      expect(described.nodes.length).toBe(endpoints.size)
      expect(described.edges.length).toBe(graph.channelAnnouncements.length)
      // lnrpc field names (lncli describegraph, proto names)
      const [node] = described.nodes
      expect(Object.keys(node).sort()).toEqual([
        "addresses",
        "alias",
        "color",
        "custom_records",
        "features",
        "last_update",
        "pub_key"
      ])
      const edge = described.edges.find((e) => e.node1_policy !== null)
      expect(edge).toBeDefined()
      expect(Object.keys(edge ?? {}).sort()).toEqual(
        [
          "capacity",
          "chan_point",
          "channel_id",
          "custom_records",
          "last_update",
          "node1_policy",
          "node1_pub",
          "node2_policy",
          "node2_pub"
        ]
      )
      expect(Object.keys(edge?.node1_policy ?? {}).sort()).toEqual([
        "custom_records",
        "disabled",
        "fee_base_msat",
        "fee_rate_milli_msat",
        "inbound_fee_base_msat",
        "inbound_fee_rate_milli_msat",
        "last_update",
        "max_htlc_msat",
        "min_htlc",
        "time_lock_delta"
      ])
      const announced = described.nodes.find((n) => n.pub_key === hex(someNode.nodeId))
      expect(announced?.alias).toBe(aliasOf(someNode.alias))
      expect(announced?.features["7"]).toEqual({ name: "gossip_queries", is_required: false, is_known: true })
      const asEdge = described.edges.find((e) => e.channel_id === String(someChannel.shortChannelId))
      expect(asEdge?.node1_pub).toBe(hex(someChannel.nodeId1))
    }).pipe(Effect.provide(serve())))

  it.scoped("issue 16: /openapi.json is a valid OpenAPI 3 document listing every path", () =>
    Effect.gen(function* () {
      yield* seeded
      const reply = yield* get("/openapi.json")
      expect(reply.status).toBe(200)
      const doc = reply.json
      expect(String(field(doc, "openapi"))).toMatch(/^3\./)
      expect(field(field(doc, "info"), "title")).toBe("lnsync")
      // every path the API declares is documented (`:param` as `{param}`), these among them
      const declared = new Set<string>()
      HttpApi.reflect(Api.LnsyncApi, {
        onGroup: () => undefined,
        onEndpoint: ({ endpoint }) => declared.add(endpoint.path.replace(/:(\w+)/g, "{$1}"))
      })
      const documented = Object.keys(field(doc, "paths") as object).sort()
      expect(documented).toEqual([...declared].sort())
      expect(documented).toEqual(expect.arrayContaining([
        "/api/v1/channels/{scid}",
        "/api/v1/graph",
        "/api/v1/nodes",
        "/api/v1/nodes/{node_id}",
        "/api/v1/nodes/{node_id}/channels",
        "/api/v1/stats",
        "/health",
        "/metrics",
        "/ready"
      ]))
      expect(doc).toEqual(JSON.parse(JSON.stringify(Api.openApiDocument())))
    }).pipe(Effect.provide(serve())))

  it.scoped("issue 16: lnsync export writes what /api/v1/graph serves, and JSON lines in the API's shapes", () =>
    Effect.gen(function* () {
      yield* seeded
      const served = (yield* get("/api/v1/graph")).text
      const text = (format: "describegraph" | "jsonl") =>
        Stream.runFold(exportStream(format), "", (acc, piece) => acc + piece).pipe(
          Effect.provide(GraphQuerySqlite.layerWithStore({ filename }))
        )
      expect(yield* text("describegraph")).toBe(served)
      const lines = (yield* text("jsonl")).trimEnd().split("\n").map((l) => JSON.parse(l) as unknown)
      const nodes = lines.filter((l) => field(l, "kind") === "node")
      const channels = lines.filter((l) => field(l, "kind") === "channel")
      expect(nodes.length).toBe(endpoints.size)
      expect(channels.length).toBe(graph.channelAnnouncements.length)
      const { kind: _kind, ...asApi } = channels.find((c) =>
        field(c, "short_channel_id") === ShortChannelId.format(someChannel.shortChannelId)
      ) as Record<string, unknown>
      expect(asApi).toEqual((yield* get(`/api/v1/channels/${someChannel.shortChannelId}`)).json)
    }).pipe(Effect.provide(serve())))
})
