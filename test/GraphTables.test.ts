/**
 * Issue 16: the decoded columns (migration 4) agree with the raw message of every row, after a sync-like run of
 * batches, after newer gossip replaces older (and older gossip is ignored), and after the backfill of a file made
 * before the columns existed.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import { channelUpdateChecksum } from "../src/domain/Checksum.js"
import {
  decodeChannelAnnouncement,
  decodeChannelUpdate,
  decodeNodeAnnouncement,
  encodeMessage
} from "../src/domain/Codec.js"
import { toHex } from "../src/domain/Hex.js"
import type { ChannelUpdate, NodeAnnouncement } from "../src/domain/Messages.js"
import { migrations } from "../src/layers/graph/GraphStoreSql.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import type { GraphBatch } from "../src/services/GraphStore.js"
import { GraphStore } from "../src/services/GraphStore.js"
import { generateGraph } from "../src/testing/GraphGenerator.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-tables-"))
let n = 0
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
const freshFile = () => path.join(dir, `graph-${n++}.db`)

const NOW = 1_780_000_000
const graph = generateGraph({ seed: 16, channels: 120, chainHash: BITCOIN_MAINNET, now: NOW })

/** Batches as a sync delivers them: announcements, then updates, then node announcements, 50 at a time. */
const syncBatches = (): Array<GraphBatch> => {
  const out: Array<GraphBatch> = []
  const chunk = <A>(items: ReadonlyArray<A>) =>
    Array.from({ length: Math.ceil(items.length / 50) }, (_, i) => items.slice(i * 50, i * 50 + 50))
  for (const channels of chunk(graph.channelAnnouncements)) out.push({ channels, updates: [], nodes: [] })
  for (const updates of chunk(graph.channelUpdates)) out.push({ channels: [], updates, nodes: [] })
  for (const nodes of chunk(graph.nodeAnnouncements)) out.push({ channels: [], updates: [], nodes })
  return out
}

const decodeRight = <A, E>(e: Either.Either<A, E>): A => {
  if (Either.isLeft(e)) throw new Error(`stored raw does not decode: ${String(e.left)}`)
  return e.right
}

/** A changed message, encoded from its fields and decoded back (the store checks no signatures). */
const reencodedUpdate = (u: ChannelUpdate, change: Partial<ChannelUpdate>): ChannelUpdate =>
  decodeRight(decodeChannelUpdate(encodeMessage({ ...u, ...change })))
const reencodedNode = (m: NodeAnnouncement, change: Partial<NodeAnnouncement>): NodeAnnouncement =>
  decodeRight(decodeNodeAnnouncement(encodeMessage({ ...m, ...change })))

type Int = bigint | number
const num = (v: Int | null) => (v === null ? null : Number(v))

/** Every row of the three tables, its decoded columns checked against its own raw bytes; returns the row counts. */
const checkEveryRow = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const nodes = yield* sql<{
    readonly raw: Uint8Array
    readonly timestamp: Int
    readonly alias: string | null
    readonly rgb_color: string | null
    readonly features: string | null
    readonly addresses: string | null
  }>`SELECT raw, timestamp, alias, rgb_color, features, addresses FROM nodes`
  for (const row of nodes) {
    const m = decodeRight(decodeNodeAnnouncement(Uint8Array.from(row.raw)))
    const alias = Buffer.from(m.alias).toString("utf8").replace(/\0+$/, "")
    expect({ alias: row.alias, color: row.rgb_color, features: row.features, timestamp: num(row.timestamp) }).toEqual({
      alias,
      color: `#${toHex(m.rgbColor)}`,
      features: toHex(m.features),
      timestamp: m.timestamp
    })
    const expected = m.addresses.flatMap((a) =>
      a._tag === "IPv4" ?
        [{ type: "ipv4", address: a.address, port: a.port }]
        : a._tag === "IPv6" ?
        [{ type: "ipv6", address: a.address, port: a.port }]
        : a._tag === "TorV3" ?
        [{ type: "torv3", address: a.onion, port: a.port }]
        : a._tag === "DnsHostname" ?
        [{ type: "dns", address: a.hostname, port: a.port }]
        : []
    )
    expect(JSON.parse(row.addresses ?? "null")).toEqual(expected)
  }
  const channels = yield* sql<
    { readonly raw: Uint8Array; readonly features: string | null; readonly capacity_sat: Int | null }
  >`
    SELECT raw, features, capacity_sat FROM channels`
  for (const row of channels) {
    const m = decodeRight(decodeChannelAnnouncement(Uint8Array.from(row.raw)))
    expect({ features: row.features, capacity: row.capacity_sat }).toEqual({
      features: toHex(m.features),
      capacity: null
    })
  }
  const updates = yield* sql<{
    readonly raw: Uint8Array
    readonly direction: Int
    readonly timestamp: Int
    readonly checksum: Int
    readonly fee_base_msat: Int | null
    readonly fee_proportional_millionths: Int | null
    readonly cltv_expiry_delta: Int | null
    readonly htlc_minimum_msat: Int | null
    readonly htlc_maximum_msat: Int | null
    readonly disabled: Int | null
  }>`SELECT raw, direction, timestamp, checksum, fee_base_msat, fee_proportional_millionths, cltv_expiry_delta,
       htlc_minimum_msat, htlc_maximum_msat, disabled FROM channel_updates`.pipe(
    Effect.provideService(SqlClient.SafeIntegers, true)
  )
  for (const row of updates) {
    const raw = Uint8Array.from(row.raw)
    const m = decodeRight(decodeChannelUpdate(raw))
    expect({
      direction: num(row.direction),
      timestamp: num(row.timestamp),
      checksum: num(row.checksum),
      feeBase: num(row.fee_base_msat),
      feePpm: num(row.fee_proportional_millionths),
      cltv: num(row.cltv_expiry_delta),
      min: row.htlc_minimum_msat,
      max: row.htlc_maximum_msat,
      disabled: num(row.disabled)
    }).toEqual({
      direction: m.channelFlags & 1,
      timestamp: m.timestamp,
      checksum: channelUpdateChecksum(raw),
      feeBase: m.feeBaseMsat,
      feePpm: m.feeProportionalMillionths,
      cltv: m.cltvExpiryDelta,
      min: m.htlcMinimumMsat,
      max: m.htlcMaximumMsat ?? null,
      disabled: (m.channelFlags & 2) === 0 ? 0 : 1
    })
  }
  return { nodes: nodes.length, channels: channels.length, updates: updates.length }
})

const withStore = (filename: string) =>
  Effect.provide(GraphStoreSqlite.layerWithClient({ filename, chain: BITCOIN_MAINNET }))

describe("GraphStore SQLite decoded tables", () => {
  it.effect("issue 16: after a sync-like run of batches every row's columns agree with its raw message", () =>
    Effect.gen(function* () {
      const store = yield* GraphStore
      for (const batch of syncBatches()) yield* store.applyBatch(batch)
      const rows = yield* checkEveryRow
      expect(rows).toEqual({
        nodes: graph.nodeAnnouncements.length,
        channels: graph.channelAnnouncements.length,
        updates: graph.channelUpdates.length
      })
      // the generator's graph exercises what the columns hold: addresses, features, disabled directions
      const sql = yield* SqlClient.SqlClient
      const [spread] = yield* sql<{ readonly addressed: number; readonly featured: number }>`
        SELECT (SELECT COUNT(*) FROM nodes WHERE addresses <> '[]') AS addressed,
          (SELECT COUNT(*) FROM nodes WHERE features <> '') AS featured`
      expect(spread.addressed).toBeGreaterThan(0)
      expect(spread.featured).toBeGreaterThan(0)
    }).pipe(withStore(freshFile())))

  it.effect("BOLT 7: a newer update or announcement replaces the columns with its own; an older one changes nothing", () =>
    Effect.gen(function* () {
      const store = yield* GraphStore
      const sql = yield* SqlClient.SqlClient
      for (const batch of syncBatches()) yield* store.applyBatch(batch)
      const target = graph.channelUpdates[3]
      const newer = reencodedUpdate(target, {
        timestamp: target.timestamp + 60,
        feeBaseMsat: 4321,
        feeProportionalMillionths: 777,
        cltvExpiryDelta: 40,
        htlcMinimumMsat: 1n,
        channelFlags: target.channelFlags | 2,
        messageFlags: 0,
        htlcMaximumMsat: undefined
      })
      const older = reencodedUpdate(target, { timestamp: target.timestamp - 60, feeBaseMsat: 1 })
      const node = graph.nodeAnnouncements[5]
      const alias = new Uint8Array(32)
      alias.set(new TextEncoder().encode("renamed ⚡ node"))
      const newerNode = reencodedNode(node, {
        timestamp: node.timestamp + 60,
        alias,
        rgbColor: Uint8Array.of(0xff, 0, 0x10)
      })
      const olderNode = reencodedNode(node, { timestamp: node.timestamp - 60, alias: new Uint8Array(32) })
      // newer then older in one batch (two statements: same key), and the older again on its own
      const outcome = yield* store.applyBatch({ channels: [], updates: [newer, older], nodes: [newerNode, olderNode] })
      expect(outcome.updatesApplied).toBe(1)
      expect(outcome.nodesApplied).toBe(1)
      yield* store.applyBatch({ channels: [], updates: [older], nodes: [olderNode] })
      yield* checkEveryRow
      const [u] = yield* sql<
        { readonly fee_base_msat: number; readonly htlc_maximum_msat: number | null; readonly disabled: number }
      >`
        SELECT fee_base_msat, htlc_maximum_msat, disabled FROM channel_updates
        WHERE scid = ${target.shortChannelId} AND direction = ${target.channelFlags & 1}`
      expect(u).toEqual({ fee_base_msat: 4321, htlc_maximum_msat: null, disabled: 1 })
      const [nd] = yield* sql<{ readonly alias: string; readonly rgb_color: string }>`
        SELECT alias, rgb_color FROM nodes WHERE node_id = ${node.nodeId}`
      expect(nd).toEqual({ alias: "renamed ⚡ node", rgb_color: "#ff0010" })
    }).pipe(withStore(freshFile())))

  it.effect("issue 16: a file from before the decoded columns is backfilled from its raw messages on open", () => {
    const filename = freshFile()
    // the schema as migrations 1-3 left it, holding a synced graph's raw rows
    const oldFile = Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* Migrator.make({})({
        loader: Migrator.fromRecord({
          "1_graph": migrations["1_graph"],
          "2_cheaper_writes": migrations["2_cheaper_writes"],
          "3_graph_meta": migrations["3_graph_meta"]
        }),
        table: "lnsync_migrations"
      })
      for (const c of graph.channelAnnouncements) {
        yield* sql`INSERT INTO channels (scid, node_id1, node_id2, raw) VALUES (${c.shortChannelId}, ${c.nodeId1}, ${c.nodeId2}, ${c.raw})`
        yield* sql`INSERT INTO channel_endpoints (node_id) VALUES (${c.nodeId1}), (${c.nodeId2}) ON CONFLICT DO NOTHING`
      }
      for (const u of graph.channelUpdates) {
        yield* sql`INSERT INTO channel_updates (scid, direction, timestamp, checksum, raw)
          VALUES (${u.shortChannelId}, ${u.channelFlags & 1}, ${u.timestamp}, ${
          channelUpdateChecksum(u.raw)
        }, ${u.raw})`
      }
      for (const m of graph.nodeAnnouncements) {
        yield* sql`INSERT INTO nodes (node_id, timestamp, raw) VALUES (${m.nodeId}, ${m.timestamp}, ${m.raw})`
      }
    }).pipe(Effect.provide(GraphStoreSqlite.layerClient({ filename })))
    return Effect.gen(function* () {
      yield* oldFile
      const rows = yield* checkEveryRow.pipe(withStore(filename))
      expect(rows.updates).toBe(graph.channelUpdates.length)
      expect(rows.nodes).toBe(graph.nodeAnnouncements.length)
    })
  })
})
