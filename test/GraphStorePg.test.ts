import { afterAll, describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Chunk, Effect, Either, Exit, Layer, Scope, Stream } from "effect"
import { BITCOIN_MAINNET, BITCOIN_REGTEST } from "../src/domain/Chain.js"
import { toHex } from "../src/domain/Hex.js"
import * as GraphStorePg from "../src/layers/graph/GraphStorePg.js"
import * as Node from "../src/layers/Node.js"
import type { GraphBatch } from "../src/services/GraphStore.js"
import { GraphStore } from "../src/services/GraphStore.js"
import * as EmbeddedPostgres from "../src/testing/EmbeddedPostgres.js"
import { graphStoreContract } from "./GraphStore.contract.js"
import { channelAnnouncement, channelUpdate, nodeAnnouncement, nodeId, scid } from "./support/gossip.js"

// One real PostgreSQL server for this file, started before the tests are collected (a failure to start fails the
// file: nothing here is skipped) and stopped, its data removed, after them.
const scope = Effect.runSync(Scope.make())
const server = await Effect.runPromise(Scope.extend(EmbeddedPostgres.make(), scope))
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 30_000)

let n = 0
/** A fresh, empty store: a new schema per layer (milliseconds, where a new database costs a few hundred). */
const freshUrl = () => Effect.orDie(server.createSchema(`g${n++}`))

graphStoreContract(
  "postgres",
  () => Layer.unwrapEffect(Effect.map(freshUrl(), (url) => GraphStorePg.layer({ url, chain: BITCOIN_MAINNET })))
)

describe("GraphStore PostgreSQL", () => {
  it.effect("the schema is the SQLite one in PG types: BIGINT integers (u32 and scids above 2^31 fit), BYTEA bytes", () =>
    Effect.gen(function* () {
      const url = yield* freshUrl()
      const columns = yield* Effect.provide(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          return yield* sql<{ readonly table_name: string; readonly column_name: string; readonly data_type: string }>`
            SELECT table_name, column_name, data_type FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name IN ('channels', 'channel_updates', 'nodes')
              AND column_name IN ('scid', 'timestamp', 'checksum', 'raw', 'node_id', 'htlc_maximum_msat', 'capacity_sat')
            ORDER BY table_name, column_name`
        }),
        GraphStorePg.layerWithClient({ url })
      )
      expect(columns.map((c) => `${c.table_name}.${c.column_name} ${c.data_type}`)).toEqual([
        "channel_updates.checksum bigint",
        "channel_updates.htlc_maximum_msat bigint",
        "channel_updates.raw bytea",
        "channel_updates.scid bigint",
        "channel_updates.timestamp bigint",
        "channels.capacity_sat bigint",
        "channels.raw bytea",
        "channels.scid bigint",
        "nodes.node_id bytea",
        "nodes.raw bytea",
        "nodes.timestamp bigint"
      ])
    }))

  it.effect("BOLT 7: gossip persists across reopening (a new pool), byte for byte; u32 timestamps above 2^31 too", () =>
    Effect.gen(function* () {
      const url = yield* freshUrl()
      const id = scid(812_345, 67, 1)
      const c = channelAnnouncement(id, nodeId(1), nodeId(2))
      const u = channelUpdate(id, 1, 0xffff_fff0)
      const a = nodeAnnouncement(nodeId(2), 1_700_000_000)
      yield* Effect.provide(
        Effect.flatMap(GraphStore, (store) => store.applyBatch({ channels: [c], updates: [u], nodes: [a] })),
        GraphStorePg.layer({ url, chain: BITCOIN_MAINNET })
      )
      const reopened = yield* Effect.provide(
        Effect.gen(function* () {
          const store = yield* GraphStore
          const gossip = yield* Stream.runCollect(store.gossipForChannels([id]))
          return { counts: yield* store.counts, gossip: Chunk.toReadonlyArray(gossip).map((g) => toHex(g.raw)) }
        }),
        GraphStorePg.layer({ url, chain: BITCOIN_MAINNET })
      )
      expect(reopened.counts).toEqual({ channels: 1, updates: 1, nodes: 1, zombies: 0, newestTimestamp: 0xffff_fff0 })
      expect(reopened.gossip).toEqual([c, u, a].map((m) => toHex(m.raw)))
    }))

  it.effect("BOLT 7: a regtest database opened for mainnet is refused with GraphStoreChainMismatch (password not shown)", () =>
    Effect.gen(function* () {
      const url = yield* freshUrl()
      yield* Effect.provide(
        Effect.flatMap(GraphStore, (s) => s.counts),
        GraphStorePg.layer({ url, chain: BITCOIN_REGTEST })
      )
      const refused = yield* Effect.flip(
        Effect.provide(Effect.flatMap(GraphStore, (s) => s.counts), GraphStorePg.layer({ url, chain: BITCOIN_MAINNET }))
      )
      expect(refused._tag).toBe("GraphStoreChainMismatch")
      expect(refused.message).toContain("holds bitcoin regtest gossip")
      expect(refused.message).toContain(`postgres://postgres:***@127.0.0.1:${server.port}/postgres`)
      expect(refused.message).not.toContain("lnsync@")
    }))

  it.effect("Safety: a server that cannot be reached fails with a typed GraphStoreError (open)", () =>
    Effect.gen(function* () {
      // the server's own port with a database that does not exist: refused at connect
      const result = yield* Effect.either(
        Effect.provide(GraphStore, GraphStorePg.layer({ url: server.url("no_such_db") }))
      )
      expect(Either.isLeft(result) && result.left._tag === "GraphStoreError" && result.left.operation).toBe("open")
    }))

  it.effect("--db / LNSYNC_DB: a node configured with a postgres URL keeps its graph in that database", () =>
    Effect.gen(function* () {
      const url = yield* freshUrl()
      const id = scid(812_000, 1, 0)
      const settings = Node.settingsFromConfig({ ...Node.NodeConfigDefaults, db: url }, new Uint8Array(32).fill(1))
      yield* Effect.provide(
        Effect.flatMap(
          GraphStore,
          (store) =>
            store.applyBatch({ channels: [channelAnnouncement(id, nodeId(1), nodeId(2))], updates: [], nodes: [] })
        ),
        settings.store
      )
      const held = yield* Effect.provide(
        Effect.flatMap(GraphStore, (store) => store.channels([id])),
        GraphStorePg.layer({ url })
      )
      expect([...held.keys()]).toEqual([id])
    }))

  it("--db: postgres:// and postgresql:// URLs are PostgreSQL, anything else a SQLite file", () => {
    expect(GraphStorePg.isPostgresUrl("postgres://u@h/db")).toBe(true)
    expect(GraphStorePg.isPostgresUrl("postgresql://u@h:5432/db")).toBe(true)
    expect(GraphStorePg.isPostgresUrl("./lnsync.sqlite")).toBe(false)
    expect(GraphStorePg.isPostgresUrl("postgres.sqlite")).toBe(false)
  })
})

describe("GraphStore PostgreSQL: many writers", () => {
  it.effect(
    "two stores (two pools) racing over the same channels keep newest-wins: the sequential answer, nothing lost or duplicated",
    () =>
      Effect.gen(function* () {
        const url = yield* Effect.orDie(server.createDatabase("writers"))
        // seeded xorshift32: the same batches every run
        let seed = 20_261_202
        const next = (k: number) => {
          seed ^= seed << 13
          seed >>>= 0
          seed ^= seed >>> 17
          seed ^= seed << 5
          seed >>>= 0
          return seed % k
        }
        const ids = Array.from({ length: 120 }, (_, i) => scid(700_000 + i, i, 0))
        const ends = ids.map((id, i) => [nodeId(i % 40), nodeId(40 + (i % 37))] as const)
        // Each writer announces every channel in its first batch (in its own order), and again some in later ones,
        // so every update and node announcement finds its channel whichever writer runs first: the outcome is then
        // the same in any order (newest-wins). Updates and node announcements have interleaved timestamps: writer 0
        // the even ones, writer 1 the odd ones (never a tie), and a fee per writer (the winner shows in the checksum).
        const announce = (i: number) => channelAnnouncement(ids[i], ends[i][0], ends[i][1])
        const shuffled = (k: number) => {
          const out = Array.from({ length: k }, (_, i) => i)
          for (let i = k - 1; i > 0; i--) {
            const j = next(i + 1)
            ;[out[i], out[j]] = [out[j], out[i]]
          }
          return out
        }
        const batchesFor = (writer: 0 | 1): Array<GraphBatch> =>
          Array.from({ length: 12 }, (_, b) => ({
            channels: b === 0
              ? shuffled(ids.length).map(announce)
              : Array.from({ length: 30 }, () => announce(next(ids.length))),
            updates: Array.from({ length: 120 }, () =>
              channelUpdate(ids[next(ids.length)], next(2) as 0 | 1, 1_700_000_000 + 2 * next(500) + writer, {
                feeBaseMsat: writer
              })),
            nodes: Array.from(
              { length: 30 },
              () => nodeAnnouncement(nodeId(next(80)), 1_700_000_000 + 2 * next(500) + writer)
            )
          }))
        const writers = [batchesFor(0), batchesFor(1)] as const
        const all = [...writers[0], ...writers[1]]
        const snapshot = Effect.gen(function* () {
          const store = yield* GraphStore
          const sql = yield* SqlClient.SqlClient
          const nodes = yield* store.nodes(Array.from({ length: 80 }, (_, i) => nodeId(i)))
          const [dupes] = yield* sql<{ readonly n: string }>`SELECT
          (SELECT COUNT(*) FROM (SELECT scid, direction FROM channel_updates GROUP BY scid, direction HAVING COUNT(*) > 1) d)
          + (SELECT COUNT(*) FROM (SELECT node_id FROM nodes GROUP BY node_id HAVING COUNT(*) > 1) e) AS n`
          return {
            range: (yield* store.channelRange(0, 0xffffff)).map((
              c
            ) => [c.shortChannelId, c.timestamp1, c.timestamp2, c.checksum1, c.checksum2]),
            nodes: [...nodes.entries()].map(([hex, s]) => [hex, s.timestamp, s.hasChannel]).sort(),
            horizon: Chunk.toReadonlyArray(yield* Stream.runCollect(store.gossipInHorizon(0, 2 ** 32))).map((g) =>
              toHex(g.raw)
            ),
            counts: yield* store.counts,
            duplicates: Number(dupes?.n)
          }
        })

        // the sequential answer: one store, every batch in turn (order does not matter for newest-wins: the
        // timestamps of the two writers never tie)
        const sequentialUrl = yield* freshUrl()
        const sequential = yield* Effect.provide(
          Effect.gen(function* () {
            const store = yield* GraphStore
            for (const b of all) yield* store.applyBatch(b)
            return yield* snapshot
          }),
          GraphStorePg.layerWithClient({ url: sequentialUrl, chain: BITCOIN_MAINNET })
        )

        // the race: two stores with their own pools opened at once on one empty database (the migrations race
        // too), each applying its batches as fast as it can, in parallel
        const store = (i: 0 | 1) =>
          Effect.provide(
            Effect.gen(function* () {
              const s = yield* GraphStore
              for (const b of writers[i]) yield* s.applyBatch(b)
            }),
            GraphStorePg.layer({ url, chain: BITCOIN_MAINNET })
          )
        yield* Effect.all([store(0), store(1)], { concurrency: "unbounded", discard: true })
        const raced = yield* Effect.provide(snapshot, GraphStorePg.layerWithClient({ url, chain: BITCOIN_MAINNET }))

        expect(sequential.counts.updates).toBeGreaterThan(200) // the batches do exercise the rules
        expect(sequential.duplicates).toBe(0)
        expect(raced).toEqual(sequential)
      }),
    120_000
  )
})
