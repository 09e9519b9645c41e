import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { Chunk, Effect, Either, Stream } from "effect"
import type { Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BITCOIN_MAINNET, BITCOIN_REGTEST, BITCOIN_SIGNET } from "../src/domain/Chain.js"
import { channelUpdateChecksum } from "../src/domain/Checksum.js"
import { toHex } from "../src/domain/Hex.js"
import { migrations } from "../src/layers/graph/GraphStoreSql.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import type { BatchOutcome, GraphBatch, GraphStoreChainMismatch, GraphStoreError } from "../src/services/GraphStore.js"
import { GraphStore, layerMemory } from "../src/services/GraphStore.js"
import { graphStoreContract } from "./GraphStore.contract.js"
import { channelAnnouncement, channelUpdate, nodeAnnouncement, nodeId, scid } from "./support/gossip.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-graph-"))
let n = 0
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

// a fresh database file per test, opened for a chain as the node opens it
graphStoreContract(
  "sqlite",
  () => GraphStoreSqlite.layer({ filename: path.join(dir, `graph-${n++}.db`), chain: BITCOIN_MAINNET })
)

describe("GraphStore SQLite file", () => {
  it.effect("BOLT 7: gossip persists across reopening the file, byte for byte", () =>
    Effect.gen(function* () {
      const filename = path.join(dir, "persist.db")
      const id = scid(812_345, 67, 1)
      const c = channelAnnouncement(id, nodeId(1), nodeId(2))
      const u = channelUpdate(id, 1, 1_700_000_123)
      const a = nodeAnnouncement(nodeId(2), 1_700_000_000)
      yield* Effect.provide(
        Effect.flatMap(GraphStore, (store) => store.applyBatch({ channels: [c], updates: [u], nodes: [a] })),
        GraphStoreSqlite.layer({ filename })
      )
      const reopened = yield* Effect.provide(
        Effect.gen(function* () {
          const store = yield* GraphStore
          const sql = yield* SqlClient.SqlClient
          const [mode] = yield* sql<{ readonly journal_mode: string }>`PRAGMA journal_mode`
          const [sync] = yield* sql<{ readonly synchronous: number }>`PRAGMA synchronous`
          const [checkpoint] = yield* sql<{ readonly wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`
          const gossip = yield* Stream.runCollect(store.gossipForChannels([id]))
          return {
            mode: mode?.journal_mode,
            synchronous: sync?.synchronous,
            walAutocheckpoint: checkpoint?.wal_autocheckpoint,
            counts: yield* store.counts,
            gossip: Chunk.toReadonlyArray(gossip).map((g) => toHex(g.raw))
          }
        }),
        GraphStoreSqlite.layerWithClient({ filename })
      )
      expect(reopened.mode).toBe("wal")
      expect(reopened.synchronous).toBe(1) // NORMAL
      expect(reopened.walAutocheckpoint).toBe(4096)
      expect(reopened.counts).toEqual({ channels: 1, updates: 1, nodes: 1, zombies: 0, newestTimestamp: 1_700_000_123 })
      expect(reopened.gossip).toEqual([c, u, a].map((m) => toHex(m.raw)))
    }))

  it.effect("BOLT 7: a file written with schema version 1 is upgraded in place, every message kept", () =>
    Effect.gen(function* () {
      const filename = path.join(dir, "v1.db")
      const id = scid(700_123, 4, 1)
      const c = channelAnnouncement(id, nodeId(1), nodeId(2))
      const u0 = channelUpdate(id, 0, 1_700_000_100)
      const u1 = channelUpdate(id, 1, 1_700_000_200)
      const a = nodeAnnouncement(nodeId(2), 1_700_000_300)
      // schema version 1 exactly as its migration created it, with one of each message
      yield* Effect.provide(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* sql`CREATE TABLE lnsync_migrations (
            migration_id integer PRIMARY KEY NOT NULL,
            created_at datetime NOT NULL DEFAULT current_timestamp,
            name VARCHAR(255) NOT NULL)`
          yield* sql`INSERT INTO lnsync_migrations (migration_id, name) VALUES (1, 'graph')`
          yield* sql`CREATE TABLE channels (scid INTEGER PRIMARY KEY NOT NULL, node_id1 BLOB NOT NULL,
            node_id2 BLOB NOT NULL, raw BLOB NOT NULL)`
          yield* sql`CREATE INDEX channels_node_id1 ON channels (node_id1)`
          yield* sql`CREATE INDEX channels_node_id2 ON channels (node_id2)`
          yield* sql`CREATE TABLE channel_updates (scid INTEGER NOT NULL, direction INTEGER NOT NULL,
            timestamp INTEGER NOT NULL, checksum INTEGER NOT NULL, raw BLOB NOT NULL, PRIMARY KEY (scid, direction))`
          yield* sql`CREATE INDEX channel_updates_time ON channel_updates (timestamp, scid, direction)`
          yield* sql`CREATE TABLE nodes (node_id BLOB PRIMARY KEY NOT NULL, timestamp INTEGER NOT NULL, raw BLOB NOT NULL)`
          yield* sql`CREATE INDEX nodes_time ON nodes (timestamp, node_id)`
          yield* sql`CREATE TABLE zombies (scid INTEGER PRIMARY KEY NOT NULL, node_id1 BLOB NOT NULL, node_id2 BLOB NOT NULL)`
          yield* sql`INSERT INTO channels ${
            sql.insert({ scid: id, node_id1: c.nodeId1, node_id2: c.nodeId2, raw: c.raw })
          }`
          for (const u of [u0, u1]) {
            yield* sql`INSERT INTO channel_updates ${
              sql.insert({
                scid: id,
                direction: u.channelFlags & 1,
                timestamp: u.timestamp,
                checksum: channelUpdateChecksum(u.raw),
                raw: u.raw
              })
            }`
          }
          yield* sql`INSERT INTO nodes ${sql.insert({ node_id: a.nodeId, timestamp: a.timestamp, raw: a.raw })}`
        }),
        GraphStoreSqlite.layerClient({ filename })
      )
      const upgraded = yield* Effect.provide(
        Effect.gen(function* () {
          const store = yield* GraphStore
          const sql = yield* SqlClient.SqlClient
          const gossip = yield* Stream.runCollect(store.gossipForChannels([id]))
          const [range] = yield* store.channelRange(700_123, 700_123)
          const nodes = yield* store.nodes([nodeId(1), nodeId(2), nodeId(3)])
          // the endpoint set came from the channels held: a newer announcement of an endpoint applies
          const outcome = yield* store.applyBatch({
            channels: [],
            updates: [],
            nodes: [nodeAnnouncement(nodeId(1), 1_700_000_400), nodeAnnouncement(nodeId(3), 1_700_000_400)]
          })
          return {
            integrity: yield* sql`PRAGMA integrity_check`,
            gossip: Chunk.toReadonlyArray(gossip).map((g) => toHex(g.raw)),
            range,
            nodes: [...nodes.values()].map((n) => [toHex(n.nodeId), n.timestamp, n.hasChannel]),
            outcome,
            counts: yield* store.counts
          }
        }),
        GraphStoreSqlite.layerWithClient({ filename })
      )
      expect(upgraded.integrity).toEqual([{ integrity_check: "ok" }])
      expect(upgraded.gossip).toEqual([c, u0, u1, a].map((m) => toHex(m.raw)))
      expect(upgraded.range).toMatchObject({
        shortChannelId: id,
        timestamp1: u0.timestamp,
        timestamp2: u1.timestamp,
        checksum1: channelUpdateChecksum(u0.raw),
        checksum2: channelUpdateChecksum(u1.raw)
      })
      expect(upgraded.nodes).toEqual([
        [toHex(nodeId(1)), 0, true],
        [toHex(nodeId(2)), 1_700_000_300, true]
      ])
      expect(upgraded.outcome).toMatchObject({ nodesApplied: 1, nodesIgnored: 1 })
      expect(upgraded.counts).toEqual({ channels: 1, updates: 2, nodes: 2, zombies: 0, newestTimestamp: 1_700_000_400 })
    }))

  it.effect("BOLT 7: large batches with repeated keys (many multi-row statements) land exactly as in the memory store", () =>
    Effect.gen(function* () {
      // seeded xorshift32: the same batches every run
      let seed = 7
      const next = (n: number) => {
        seed ^= seed << 13
        seed >>>= 0
        seed ^= seed >>> 17
        seed ^= seed << 5
        seed >>>= 0
        return seed % n
      }
      const ids = Array.from({ length: 400 }, (_, i) => scid(600_000 + (i >> 2), i, 0))
      const batches: Array<GraphBatch> = Array.from({ length: 3 }, () => ({
        // repeated scids with other endpoints (counted known), updates and node announcements repeated many times
        // per key in both orders, some for channels or nodes that are not held
        channels: Array.from(
          { length: 700 },
          () => channelAnnouncement(ids[next(300)], nodeId(next(150)), nodeId(next(150)))
        ),
        updates: Array.from(
          { length: 1500 },
          () => channelUpdate(ids[next(400)], next(2) as 0 | 1, 1_700_000_000 + next(50), { feeBaseMsat: next(1000) })
        ),
        nodes: Array.from(
          { length: 600 },
          () => nodeAnnouncement(nodeId(next(200)), 1_700_000_000 + next(50), `n${next(9)}`)
        )
      }))
      // and one with every key once (runs longer than a statement): shuffled ids, both directions, every node
      const shuffled = <A>(items: ReadonlyArray<A>) => {
        const out = items.slice()
        for (let i = out.length - 1; i > 0; i--) {
          const j = next(i + 1)
          ;[out[i], out[j]] = [out[j], out[i]]
        }
        return out
      }
      batches.push({
        channels: shuffled(ids).map((id) => channelAnnouncement(id, nodeId(next(150)), nodeId(next(150)))),
        updates: shuffled(
          ids.flatMap((id) => [0, 1].map((d) => channelUpdate(id, d as 0 | 1, 1_700_000_000 + next(60))))
        ),
        nodes: shuffled(Array.from({ length: 200 }, (_, i) => nodeAnnouncement(nodeId(i), 1_700_000_000 + next(60))))
      })
      const run = (layer: Layer.Layer<GraphStore, GraphStoreError | GraphStoreChainMismatch>) =>
        Effect.provide(
          Effect.gen(function* () {
            const store = yield* GraphStore
            const outcomes: Array<BatchOutcome> = []
            for (const b of batches) outcomes.push(yield* store.applyBatch(b))
            const nodes = yield* store.nodes(Array.from({ length: 200 }, (_, i) => nodeId(i)))
            return {
              outcomes,
              range: yield* store.channelRange(0, 0xffffff),
              nodes: [...nodes.entries()].map(([hex, n]) => [hex, n.timestamp, n.hasChannel]).sort(),
              horizon: Chunk.toReadonlyArray(yield* Stream.runCollect(store.gossipInHorizon(0, 2 ** 32)))
                .map((g) => `${g.kind}@${g.timestamp}:${toHex(g.raw)}`),
              counts: yield* store.counts
            }
          }),
          layer
        )
      const sqlite = yield* run(GraphStoreSqlite.layer({ filename: path.join(dir, "large.db") }))
      const memory = yield* run(layerMemory)
      expect(sqlite.outcomes[0].updatesApplied).toBeGreaterThan(300) // the batches do exercise the rules
      expect(sqlite.outcomes[0].updatesIgnored).toBeGreaterThan(300)
      expect(sqlite.outcomes[0].nodesIgnored).toBeGreaterThan(100)
      expect(sqlite).toEqual(memory)
    }))

  it.effect("Safety: a statement failing late in a batch rolls the whole batch back, as a GraphStoreError", () =>
    Effect.gen(function* () {
      const id = scid(700_000, 1, 0)
      const result = yield* Effect.provide(
        Effect.gen(function* () {
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
        GraphStoreSqlite.layerWithClient({ filename: path.join(dir, "rollback.db") })
      )
      expect(Either.isLeft(result.failed) && result.failed.left.operation).toBe("applyBatch")
      expect(result.held.size).toBe(0)
      expect(result.counts).toEqual({ channels: 0, updates: 0, nodes: 0, zombies: 0, newestTimestamp: 0 })
    }))

  it.effect("Safety: a database that cannot be opened fails with a typed GraphStoreError", () =>
    Effect.gen(function* () {
      const result = yield* Effect.either(
        Effect.provide(GraphStore, GraphStoreSqlite.layer({ filename: path.join(dir, "missing-dir", "x", "graph.db") }))
      )
      expect(Either.isLeft(result) && result.left._tag === "GraphStoreError" && result.left.operation).toBe("open")
    }))
})

describe("GraphStore SQLite file: its chain", () => {
  const c = channelAnnouncement(scid(812_400, 1, 0), nodeId(1), nodeId(2))
  const write = Effect.flatMap(GraphStore, (store) => store.applyBatch({ channels: [c], updates: [], nodes: [] }))
  const channels = Effect.map(Effect.flatMap(GraphStore, (store) => store.counts), (counts) => counts.channels)

  it.effect("BOLT 7: a regtest database opened for mainnet is refused with GraphStoreChainMismatch, and left as it was", () =>
    Effect.gen(function* () {
      const filename = path.join(dir, "regtest.db")
      yield* Effect.provide(write, GraphStoreSqlite.layer({ filename, chain: BITCOIN_REGTEST }))
      const refused = yield* Effect.flip(
        Effect.provide(channels, GraphStoreSqlite.layer({ filename, chain: BITCOIN_MAINNET }))
      )
      expect(refused._tag).toBe("GraphStoreChainMismatch")
      expect(refused.message).toBe(
        `database ${filename} holds bitcoin regtest gossip; lnsync was started for bitcoin mainnet ` +
          "(use --chain regtest or another --db)"
      )
      // the refusal changed nothing: the same chain still opens, with its gossip
      expect(yield* Effect.provide(channels, GraphStoreSqlite.layer({ filename, chain: BITCOIN_REGTEST }))).toBe(1)
      // and so does a reader that names no chain
      expect(yield* Effect.provide(channels, GraphStoreSqlite.layer({ filename }))).toBe(1)
    }))

  it.effect("BOLT 7: the chain is recorded on the first open that names one, even after opens that named none", () =>
    Effect.gen(function* () {
      const filename = path.join(dir, "unnamed.db")
      yield* Effect.provide(write, GraphStoreSqlite.layer({ filename }))
      expect(yield* Effect.provide(channels, GraphStoreSqlite.layer({ filename, chain: BITCOIN_SIGNET }))).toBe(1)
      const refused = yield* Effect.flip(
        Effect.provide(channels, GraphStoreSqlite.layer({ filename, chain: BITCOIN_MAINNET }))
      )
      expect(refused._tag === "GraphStoreChainMismatch" && refused.message).toContain("holds bitcoin signet gossip")
    }))

  it.effect("BOLT 7: a database from before the chain was recorded (schema version 2) adopts the chain it is opened for", () =>
    Effect.gen(function* () {
      const filename = path.join(dir, "v2.db")
      // schema version 2 exactly as its migrations left it, with one channel
      yield* Effect.provide(
        Effect.gen(function* () {
          yield* Migrator.make({})({
            loader: Migrator.fromRecord({
              "1_graph": migrations["1_graph"],
              "2_cheaper_writes": migrations["2_cheaper_writes"]
            }),
            table: "lnsync_migrations"
          })
          const sql = yield* SqlClient.SqlClient
          yield* sql`INSERT INTO channels ${
            sql.insert({ scid: c.shortChannelId, node_id1: c.nodeId1, node_id2: c.nodeId2, raw: c.raw })
          }`
          yield* sql`INSERT INTO channel_endpoints (node_id) VALUES (${c.nodeId1}), (${c.nodeId2})`
        }),
        GraphStoreSqlite.layerClient({ filename })
      )
      const adopted = yield* Effect.provide(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const [meta] = yield* sql<
            { readonly value: Uint8Array }
          >`SELECT value FROM graph_meta WHERE key = 'chain_hash'`
          return { channels: yield* channels, chain: meta === undefined ? undefined : toHex(meta.value) }
        }),
        GraphStoreSqlite.layerWithClient({ filename, chain: BITCOIN_MAINNET })
      )
      expect(adopted).toEqual({ channels: 1, chain: toHex(BITCOIN_MAINNET) })
      expect(yield* Effect.provide(channels, GraphStoreSqlite.layer({ filename, chain: BITCOIN_MAINNET }))).toBe(1)
      const refused = yield* Effect.flip(
        Effect.provide(channels, GraphStoreSqlite.layer({ filename, chain: BITCOIN_REGTEST }))
      )
      expect(refused._tag).toBe("GraphStoreChainMismatch")
    }))
})
