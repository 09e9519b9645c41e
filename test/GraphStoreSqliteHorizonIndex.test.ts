import { afterAll, describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Chunk, Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import { toHex } from "../src/domain/Hex.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import { GraphStore } from "../src/services/GraphStore.js"
import { channelAnnouncement, channelUpdate, nodeAnnouncement, nodeId, scid } from "./support/gossip.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-horizon-index-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

/** The horizon indexes the file holds (migration 7: built by the first horizon walk). */
const horizonIndexes = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  Effect.map(
    sql<{ readonly name: string }>`SELECT name FROM sqlite_master
      WHERE type = 'index' AND name IN ('channel_updates_time', 'nodes_time') ORDER BY name`,
    (rows) => rows.map((r) => r.name)
  ))

describe("GraphStore SQLite horizon indexes (migration 7)", () => {
  it.effect("GS-44: writes keep no horizon index until a horizon is walked; the first walk builds both, and answers", () =>
    Effect.gen(function* () {
      const filename = path.join(dir, "lazy.db")
      const id = scid(800_000, 1, 0)
      const c = channelAnnouncement(id, nodeId(1), nodeId(2))
      const u0 = channelUpdate(id, 0, 1_700_000_100)
      const u1 = channelUpdate(id, 1, 1_700_000_300)
      const a = nodeAnnouncement(nodeId(1), 1_700_000_200)
      const layer = GraphStoreSqlite.layerWithClient({ filename, chain: BITCOIN_MAINNET })
      const first = yield* Effect.provide(
        Effect.gen(function* () {
          const store = yield* GraphStore
          yield* store.applyBatch({ channels: [c], updates: [u0, u1], nodes: [a] })
          const before = yield* horizonIndexes
          // an empty window reads nothing and builds nothing
          yield* Stream.runDrain(store.gossipInHorizon(1_700_000_000, 1_700_000_000))
          const afterEmpty = yield* horizonIndexes
          const gossip = yield* Stream.runCollect(store.gossipInHorizon(1_700_000_000, 1_700_000_250))
          const after = yield* horizonIndexes
          // the indexes are kept from then on: a newer update is found through them
          const u0b = channelUpdate(id, 0, 1_700_000_400)
          yield* store.applyBatch({ channels: [], updates: [u0b], nodes: [] })
          const later = yield* Stream.runCollect(store.gossipInHorizon(1_700_000_350, 1_700_000_450))
          return {
            before,
            afterEmpty,
            after,
            gossip: Chunk.toReadonlyArray(gossip).map((g) => toHex(g.raw)),
            later: Chunk.toReadonlyArray(later).map((g) => toHex(g.raw)),
            expectedLater: [c, u0b].map((m) => toHex(m.raw))
          }
        }),
        layer
      )
      expect(first.before).toEqual([])
      expect(first.afterEmpty).toEqual([])
      expect(first.gossip).toEqual([c, u0, a].map((m) => toHex(m.raw)))
      expect(first.after).toEqual(["channel_updates_time", "nodes_time"])
      expect(first.later).toEqual(first.expectedLater)
      // a later open of the file finds them built (migration 7 ran once) and walks through them
      const reopened = yield* Effect.provide(
        Effect.gen(function* () {
          const store = yield* GraphStore
          const indexes = yield* horizonIndexes
          const gossip = yield* Stream.runCollect(store.gossipInHorizon(1_700_000_000, 1_700_000_450))
          return { indexes, gossip: Chunk.toReadonlyArray(gossip).map((g) => toHex(g.raw)) }
        }),
        layer
      )
      expect(reopened.indexes).toEqual(["channel_updates_time", "nodes_time"])
      // oldest first: the channel at its earliest update in the window (u1), then the node
      expect(reopened.gossip).toEqual([c, u1, channelUpdate(id, 0, 1_700_000_400), a].map((m) => toHex(m.raw)))
    }))

  it.effect("a count builds none (a sync's progress counts while it loads) and counts right without them", () =>
    Effect.gen(function* () {
      const id = scid(800_001, 2, 1)
      const c = channelAnnouncement(id, nodeId(3), nodeId(4))
      const u = channelUpdate(id, 1, 1_700_000_500)
      const result = yield* Effect.provide(
        Effect.gen(function* () {
          const store = yield* GraphStore
          yield* store.applyBatch({ channels: [c], updates: [u], nodes: [nodeAnnouncement(nodeId(4), 1_700_000_600)] })
          const before = yield* horizonIndexes
          const counts = yield* store.counts
          return { before, counts, after: yield* horizonIndexes }
        }),
        GraphStoreSqlite.layerWithClient({ filename: path.join(dir, "count.db"), chain: BITCOIN_MAINNET })
      )
      expect(result.before).toEqual([])
      expect(result.counts).toEqual({ channels: 1, updates: 1, nodes: 1, zombies: 0, newestTimestamp: 1_700_000_600 })
      expect(result.after).toEqual([])
    }))
})
