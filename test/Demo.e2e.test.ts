/**
 * End to end over real loopback TCP and BOLT 8: simulated lnsync peers serve parts of a generated signed graph and
 * a fresh node syncs them into SQLite. The database is then read back directly (its own connection) and every
 * stored message is decoded and signature-checked. Waits are on events (accepted gossip, the sync's completion),
 * never on timers.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Deferred, Effect, Either, Logger, LogLevel, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BITCOIN_REGTEST } from "../src/domain/Chain.js"
import { decodeMessage } from "../src/domain/Codec.js"
import { deriveKey, GENERATED_TIP, generateGraph } from "../src/testing/GraphGenerator.js"
import { toHex } from "../src/domain/Hex.js"
import { verifyChannelAnnouncement, verifyChannelUpdate, verifyNodeAnnouncement } from "../src/domain/Signatures.js"
import { runDemo } from "../src/bin/demo.js"
import { runSync } from "../src/bin/run.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import { loadMainnetTopology } from "../src/testing/MainnetTopology.js"
import * as Node from "../src/layers/Node.js"
import { servingPeer, splitGraph } from "../src/testing/SimulatedNetwork.js"
import { GossipPipeline } from "../src/services/GossipPipeline.js"
import { GraphStore } from "../src/services/GraphStore.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-e2e-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

interface Row {
  readonly raw: Uint8Array
}

/** Reads every stored message back from the file and checks it decodes and verifies; returns the id sets. */
const readBack = (filename: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const channels = yield* sql<
      Row & { node_id1: Uint8Array; node_id2: Uint8Array }
    >`SELECT raw, node_id1, node_id2 FROM channels`
    const updates = yield* sql<Row & { scid: bigint }>`SELECT raw, scid FROM channel_updates`
    const nodes = yield* sql<Row>`SELECT raw FROM nodes`
    const endpoints = new Map<bigint, readonly [Uint8Array, Uint8Array]>()
    const channelIds = new Set<string>()
    for (const row of channels) {
      const m = decodeMessage(row.raw)
      if (Either.isLeft(m) || m.right._tag !== "ChannelAnnouncement") throw new Error("stored channel does not decode")
      expect(verifyChannelAnnouncement(m.right).ok).toBe(true)
      endpoints.set(m.right.shortChannelId, [m.right.nodeId1, m.right.nodeId2])
      channelIds.add(m.right.shortChannelId.toString())
    }
    for (const row of updates) {
      const m = decodeMessage(row.raw)
      if (Either.isLeft(m) || m.right._tag !== "ChannelUpdate") throw new Error("stored update does not decode")
      const ends = endpoints.get(m.right.shortChannelId)
      expect(ends).toBeDefined()
      expect(verifyChannelUpdate(m.right, ends![m.right.channelFlags & 1]!)).toBe(true)
    }
    const nodeIds = new Set<string>()
    for (const row of nodes) {
      const m = decodeMessage(row.raw)
      if (Either.isLeft(m) || m.right._tag !== "NodeAnnouncement") throw new Error("stored node does not decode")
      expect(verifyNodeAnnouncement(m.right)).toBe(true)
      nodeIds.add(toHex(m.right.nodeId))
    }
    return { channelIds, updates: updates.length, nodeIds }
  }).pipe(Effect.provide(GraphStoreSqlite.layerWithClient({ filename })))

describe("lnsync demo, end to end over loopback BOLT 8", () => {
  it.live("the demo (500 channels, 3 peers) ends with the union graph in SQLite, every message signed", () =>
    Effect.gen(function* () {
      const db = path.join(dir, "demo.sqlite")
      const result = yield* runDemo({ channels: 500, peers: 3, db, seed: 11, progress: "none" })
      expect(result.complete).toBe(true)
      expect(result.lines.at(-1)).toMatch(/^synced: 500 channels, 1000 updates, \d+ nodes from 3 peers in [\d.]+ s$/)

      const graph = generateGraph({
        seed: 11,
        channels: 500,
        chainHash: BITCOIN_REGTEST,
        now: Math.floor(Date.now() / 1000),
        topology: loadMainnetTopology()
      })
      const stored = yield* readBack(db)
      expect(stored.channelIds).toEqual(new Set(graph.channelAnnouncements.map((a) => a.shortChannelId.toString())))
      expect(stored.updates).toBe(graph.channelUpdates.length)
      expect(stored.nodeIds).toEqual(new Set(graph.nodeAnnouncements.map((n) => toHex(n.nodeId))))
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))

  it.live("a peer killed mid-sync: the sync completes from the others and nothing invalid is stored (SM-22)", () =>
    Effect.gen(function* () {
      const db = path.join(dir, "killed.sqlite")
      const now = Math.floor(Date.now() / 1000)
      const graph = generateGraph({ seed: 12, channels: 1500, chainHash: BITCOIN_REGTEST, now })
      const parts = splitGraph(graph, 3)
      const servers = yield* Effect.forEach(
        parts,
        (part, i) => servingPeer(part, { chain: BITCOIN_REGTEST, name: `e2e/killed/${i}`, bytesPerSecond: 1024 * 1024 })
      )
      const node = Node.layer({
        chain: BITCOIN_REGTEST,
        nodePrivateKey: deriveKey("lnsync/e2e/killed/syncer"),
        store: GraphStoreSqlite.layer({ filename: db }),
        bestHeight: Effect.succeed(GENERATED_TIP)
      })
      const killedAt = yield* Deferred.make<number>()
      const report = yield* Effect.gen(function* () {
        const pipeline = yield* GossipPipeline
        const store = yield* GraphStore
        const accepted = yield* pipeline.accepted
        // kill whichever peer delivered the first accepted gossip: the one the initial sync is running with
        yield* Effect.fork(
          accepted.pipe(
            Stream.take(1),
            Stream.runForEach((first) => {
              const victim = servers.find((s) => toHex(s.nodeId) === first.fromPeer)
              return victim === undefined
                ? Effect.void
                : Effect.flatMap(
                  store.counts,
                  (c) => victim.stop.pipe(Effect.zipRight(Deferred.succeed(killedAt, c.channels)))
                )
            })
          )
        )
        return yield* runSync(
          servers.map((s) => s.address),
          { untilSynced: true, progress: "none" }
        )
      }).pipe(Effect.provide(node), Effect.scoped)

      // the victim went down while the graph was still partial, and the sync still completed
      expect(yield* Deferred.await(killedAt)).toBeLessThan(1500)
      expect(report.counts.channels).toBe(1500)
      expect(report.counts.updates).toBe(3000)
      const stored = yield* readBack(db)
      expect(stored.channelIds.size).toBe(1500)
      expect(stored.nodeIds.size).toBe(graph.nodeAnnouncements.length)
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning)))
})
