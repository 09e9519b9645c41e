/**
 * Rapid Gossip Sync over HTTP (issue 17): `lnsync serve`'s `/snapshot/<timestamp>` and `/snapshot/v2/<timestamp>`
 * on loopback give exactly the bytes `RapidGossipSync.snapshotFor` builds; off the 3-hour grid, a 404.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import * as GraphQuerySqlite from "../src/layers/graph/GraphQuerySqlite.js"
import * as HttpServer from "../src/layers/http/HttpServer.js"
import * as ServeStatus from "../src/layers/http/ServeStatus.js"
import { GraphStore, makeMemory } from "../src/services/GraphStore.js"
import { SNAPSHOT_INTERVAL_SECONDS } from "../src/domain/RapidGossipSync.js"
import * as RapidGossipSync from "../src/services/RapidGossipSync.js"
import { generateGraph } from "../src/testing/GraphGenerator.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-rgs-http-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const NOW = 1_780_000_000
const graph = generateGraph({ seed: 5, channels: 30, chainHash: BITCOIN_MAINNET, now: NOW })

const get = (pathname: string) =>
  Effect.gen(function* () {
    const base = yield* HttpServer.baseUrl
    return yield* Effect.promise(async () => {
      const response = await fetch(`${base}${pathname}`)
      return {
        status: response.status,
        contentType: response.headers.get("content-type") ?? "",
        body: new Uint8Array(await response.arrayBuffer())
      }
    })
  })

describe("RapidGossipSync over HTTP", () => {
  it.scoped("serves v1 and v2 snapshots at LDK's paths, 404 off the 3-hour grid", () =>
    Effect.gen(function* () {
      const store = yield* makeMemory
      yield* store.applyBatch({
        channels: graph.channelAnnouncements,
        updates: graph.channelUpdates,
        nodes: graph.nodeAnnouncements
      })
      const rgs = yield* Effect.provideService(RapidGossipSync.make, GraphStore, store)
      const server = HttpServer.layer({ host: "127.0.0.1", port: 0, snapshots: rgs }).pipe(
        Layer.provide(GraphQuerySqlite.layerWithStore({ filename: path.join(dir, "graph.db") })),
        Layer.provide(ServeStatus.layerStandalone)
      )
      yield* Effect.gen(function* () {
        const v1 = yield* get("/snapshot/0")
        expect(v1.status).toBe(200)
        expect(v1.contentType).toBe("application/octet-stream")
        expect(v1.body).toEqual((yield* rgs.snapshotFor(0, "v1")).bytes)
        expect(v1.body[3]).toBe(1)
        const since = SNAPSHOT_INTERVAL_SECONDS * 100
        const v2 = yield* get(`/snapshot/v2/${since}`)
        expect(v2.status).toBe(200)
        expect(v2.body).toEqual((yield* rgs.snapshotFor(since, "v2")).bytes)
        expect(v2.body[3]).toBe(2)
        expect((yield* get("/snapshot/1234")).status).toBe(404)
        expect((yield* get("/snapshot/v2/1234")).status).toBe(404)
        expect((yield* get("/snapshot/latest")).status).toBe(404)
      }).pipe(Effect.provide(server))
    }))
})
