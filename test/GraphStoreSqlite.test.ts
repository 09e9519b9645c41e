import { afterAll, describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Chunk, Effect, Either, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { toHex } from "../src/domain/Hex.js"
import { layerSqlite, layerSqliteWithClient } from "../src/layers/GraphStoreSqlite.js"
import { GraphStore } from "../src/services/GraphStore.js"
import { graphStoreContract } from "./GraphStore.contract.js"
import { channelAnnouncement, channelUpdate, nodeAnnouncement, nodeId, scid } from "./support/gossip.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-graph-"))
let n = 0
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

// a fresh database file per test
graphStoreContract("sqlite", () => layerSqlite({ filename: path.join(dir, `graph-${n++}.db`) }))

describe("GraphStore SQLite file", () => {
  it.effect("BOLT 7: gossip persists across reopening the file, byte for byte", () =>
    Effect.gen(function*() {
      const filename = path.join(dir, "persist.db")
      const id = scid(812_345, 67, 1)
      const c = channelAnnouncement(id, nodeId(1), nodeId(2))
      const u = channelUpdate(id, 1, 1_700_000_123)
      const a = nodeAnnouncement(nodeId(2), 1_700_000_000)
      yield* Effect.provide(
        Effect.flatMap(GraphStore, (store) => store.applyBatch({ channels: [c], updates: [u], nodes: [a] })),
        layerSqlite({ filename })
      )
      const reopened = yield* Effect.provide(
        Effect.gen(function*() {
          const store = yield* GraphStore
          const sql = yield* SqlClient.SqlClient
          const [mode] = yield* sql<{ readonly journal_mode: string }>`PRAGMA journal_mode`
          const gossip = yield* Stream.runCollect(store.gossipForChannels([id]))
          return {
            mode: mode?.journal_mode,
            counts: yield* store.counts,
            gossip: Chunk.toReadonlyArray(gossip).map((g) => toHex(g.raw))
          }
        }),
        layerSqliteWithClient({ filename })
      )
      expect(reopened.mode).toBe("wal")
      expect(reopened.counts).toEqual({ channels: 1, updates: 1, nodes: 1, zombies: 0, newestTimestamp: 1_700_000_123 })
      expect(reopened.gossip).toEqual([c, u, a].map((m) => toHex(m.raw)))
    }))

  it.effect("Safety: a statement failing late in a batch rolls the whole batch back, as a GraphStoreError", () =>
    Effect.gen(function*() {
      const id = scid(700_000, 1, 0)
      const result = yield* Effect.provide(
        Effect.gen(function*() {
          const store = yield* GraphStore
          const sql = yield* SqlClient.SqlClient
          // node announcements are written last: make that write fail inside the database
          yield* sql`CREATE TRIGGER fail_node BEFORE INSERT ON nodes WHEN NEW.timestamp = 666
            BEGIN SELECT RAISE(ABORT, 'injected failure'); END`
          const failed = yield* Effect.either(
            store.applyBatch({
              channels: [channelAnnouncement(id, nodeId(1), nodeId(2))],
              updates: [channelUpdate(id, 0, 100)],
              nodes: [nodeAnnouncement(nodeId(1), 666)]
            })
          )
          return { failed, counts: yield* store.counts, held: yield* store.channels([id]) }
        }),
        layerSqliteWithClient({ filename: path.join(dir, "rollback.db") })
      )
      expect(Either.isLeft(result.failed) && result.failed.left.operation).toBe("applyBatch")
      expect(result.held.size).toBe(0)
      expect(result.counts).toEqual({ channels: 0, updates: 0, nodes: 0, zombies: 0, newestTimestamp: 0 })
    }))

  it.effect("Safety: a database that cannot be opened fails with a typed GraphStoreError", () =>
    Effect.gen(function*() {
      const result = yield* Effect.either(
        Effect.provide(GraphStore, layerSqlite({ filename: path.join(dir, "missing-dir", "x", "graph.db") }))
      )
      expect(Either.isLeft(result) && result.left.operation).toBe("open")
    }))
})
