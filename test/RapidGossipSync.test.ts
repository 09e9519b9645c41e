/**
 * Rapid Gossip Sync snapshots checked with LDK's own client: `lightningdevkit` (LDK 0.1's TypeScript bindings, the
 * Rust `lightning-rapid-gossip-sync` crate compiled to WASM). A snapshot lnsync writes is applied to a `NetworkGraph`
 * with `RapidGossipSync.update_network_graph_no_std`, and the graph LDK ends up with is compared with the gossip the
 * store holds. The package is a devDependency: if it is missing the import fails and so does this file.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import * as ldk from "lightningdevkit"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { beforeAll } from "vitest"
import { BITCOIN_MAINNET, BITCOIN_REGTEST } from "../src/domain/Chain.js"
import type { ChannelAnnouncement, ChannelUpdate, NodeAnnouncement } from "../src/domain/Messages.js"
import * as Rgs from "../src/domain/RapidGossipSync.js"
import { toHex } from "../src/domain/Hex.js"
import { signChannelAnnouncement, signChannelUpdate } from "../src/domain/Signatures.js"
import { GraphStore, type GraphStoreService, makeMemory } from "../src/services/GraphStore.js"
import * as RapidGossipSync from "../src/services/RapidGossipSync.js"
import { deriveKey, generateGraph, type GeneratedGraph } from "../src/testing/GraphGenerator.js"
import { publicKeyOf } from "../src/domain/Signatures.js"
import * as Scid from "../src/domain/ShortChannelId.js"

const NOW = 1_780_000_000
const HOUR = 3600

beforeAll(async () => {
  const require = createRequire(import.meta.url)
  const dir = path.dirname(require.resolve("lightningdevkit/package.json"))
  await ldk.initializeWasmFromBinary(fs.readFileSync(path.join(dir, "liblightningjs.wasm")))
}, 60_000)

// ---------------------------------------------------------------------------------------------------------------
// LDK side

interface LdkPolicy {
  readonly cltv: number
  readonly htlcMin: bigint
  readonly htlcMax: bigint
  readonly feeBase: number
  readonly feeProp: number
  readonly enabled: boolean
}

interface LdkChannel {
  readonly node1: string
  readonly node2: string
  readonly directions: readonly [LdkPolicy | undefined, LdkPolicy | undefined]
}

/** A binding object whose Rust value is None (the bindings hand out a wrapper around a null pointer). */
const isNone = (o: object): boolean => "ptr" in o && o.ptr === 0n

const newGraph = (network: ldk.Network = ldk.Network.LDKNetwork_Bitcoin) => {
  const errors: Array<string> = []
  const logger = ldk.Logger.new_impl({
    log(record: ldk.Record) {
      if (record.get_level() === ldk.Level.LDKLevel_Error || record.get_level() === ldk.Level.LDKLevel_Warn) {
        errors.push(record.get_args())
      }
    }
  })
  const graph = ldk.NetworkGraph.constructor_new(network, logger)
  const sync = ldk.RapidGossipSync.constructor_new(graph, logger)
  const apply = (snapshot: Uint8Array, now = NOW + 6 * HOUR): number => {
    const result = sync.update_network_graph_no_std(snapshot, ldk.Option_u64Z.constructor_some(BigInt(now)))
    if (result instanceof ldk.Result_u32GraphSyncErrorZ_OK) return result.res
    const err = result instanceof ldk.Result_u32GraphSyncErrorZ_Err ? result.err : undefined
    const reason = err instanceof ldk.GraphSyncError_LightningError
      ? err.lightning_error.get_err()
      : err instanceof ldk.GraphSyncError_DecodeError
      ? `decode error ${err.decode_error.constructor.name}`
      : "unknown"
    throw new Error(`LDK rejected the snapshot: ${reason}`)
  }
  const policy = (info: ldk.ChannelUpdateInfo): LdkPolicy | undefined =>
    isNone(info) ? undefined : {
      cltv: info.get_cltv_expiry_delta(),
      htlcMin: info.get_htlc_minimum_msat(),
      htlcMax: info.get_htlc_maximum_msat(),
      feeBase: info.get_fees().get_base_msat(),
      feeProp: info.get_fees().get_proportional_millionths(),
      enabled: Boolean(info.get_enabled()) // the bindings hand back 0/1
    }
  const channels = (): Map<bigint, LdkChannel> => {
    const ro = graph.read_only()
    const out = new Map<bigint, LdkChannel>()
    for (const scid of ro.list_channels()) {
      const c = ro.channel(scid)
      out.set(scid, {
        node1: toHex(c.get_node_one().as_slice()),
        node2: toHex(c.get_node_two().as_slice()),
        directions: [policy(c.get_one_to_two()), policy(c.get_two_to_one())]
      })
    }
    ro.free() // a read lock: the bindings insist it is released by hand
    return out
  }
  const node = (id: Uint8Array) => {
    const ro = graph.read_only()
    const info = ro.node(ldk.NodeId.constructor_from_pubkey(id)).get_announcement_info()
    const details = info instanceof ldk.Option_NodeAnnouncementInfoZ_Some
      ? { features: info.some.features().write(), addresses: info.some.addresses().map((a) => a.write()) }
      : undefined
    ro.free()
    return details
  }
  return { apply, channels, node, errors }
}

// ---------------------------------------------------------------------------------------------------------------
// lnsync side

/** What the store holds, as LDK should end up holding it. */
const expected = (announcements: ReadonlyArray<ChannelAnnouncement>, updates: ReadonlyArray<ChannelUpdate>) => {
  const out = new Map<bigint, { node1: string; node2: string; directions: Array<LdkPolicy | undefined> }>()
  const newest = new Map<string, ChannelUpdate>()
  for (const u of updates) {
    const key = `${u.shortChannelId}/${u.channelFlags & 1}`
    const held = newest.get(key)
    if (held === undefined || held.timestamp < u.timestamp) newest.set(key, u)
  }
  for (const a of announcements) {
    out.set(a.shortChannelId, { node1: toHex(a.nodeId1), node2: toHex(a.nodeId2), directions: [undefined, undefined] })
  }
  for (const u of newest.values()) {
    const c = out.get(u.shortChannelId)
    if (c === undefined) continue
    c.directions[u.channelFlags & 1] = {
      cltv: u.cltvExpiryDelta,
      htlcMin: u.htlcMinimumMsat,
      htlcMax: u.htlcMaximumMsat ?? Rgs.MAX_VALUE_MSAT,
      feeBase: u.feeBaseMsat,
      feeProp: u.feeProportionalMillionths,
      enabled: (u.channelFlags & 2) === 0
    }
  }
  // channels without any update are not in snapshots (LDK's server leaves them out too)
  for (const [scid, c] of out) if (c.directions.every((d) => d === undefined)) out.delete(scid)
  return out
}

const storeWith = (
  channels: ReadonlyArray<ChannelAnnouncement>,
  updates: ReadonlyArray<ChannelUpdate>,
  nodes: ReadonlyArray<NodeAnnouncement>
) =>
  Effect.gen(function* () {
    const store = yield* makeMemory
    yield* store.applyBatch({ channels, updates, nodes })
    return store
  })

const serviceOver = (store: GraphStoreService) =>
  RapidGossipSync.make.pipe(Effect.provide(Layer.succeed(GraphStore, store)))

const graph: GeneratedGraph = generateGraph({ seed: 17, channels: 120, chainHash: BITCOIN_MAINNET, now: NOW })
const keyOf = new Map(graph.nodes.map((n) => [toHex(n.nodeId), n.privateKey]))

/** A newer signed update for `u` with other fees (and optionally another disabled bit). */
const newer = (
  u: ChannelUpdate,
  timestamp: number,
  change: { feeBase?: number; disabled?: boolean; all?: boolean }
) => {
  const ann = graph.channelAnnouncements.find((a) => a.shortChannelId === u.shortChannelId) as ChannelAnnouncement
  const signer = (u.channelFlags & 1) === 0 ? ann.nodeId1 : ann.nodeId2
  return signChannelUpdate(
    {
      chainHash: u.chainHash,
      shortChannelId: u.shortChannelId,
      timestamp,
      messageFlags: 1,
      channelFlags: (u.channelFlags & 1) | ((change.disabled ?? (u.channelFlags & 2) !== 0) ? 2 : 0),
      cltvExpiryDelta: change.all === true ? u.cltvExpiryDelta + 6 : u.cltvExpiryDelta,
      htlcMinimumMsat: change.all === true ? u.htlcMinimumMsat + 1n : u.htlcMinimumMsat,
      feeBaseMsat: change.feeBase ?? u.feeBaseMsat,
      feeProportionalMillionths: change.all === true ? u.feeProportionalMillionths + 3 : u.feeProportionalMillionths,
      htlcMaximumMsat: change.all === true ? (u.htlcMaximumMsat ?? 0n) - 1000n : u.htlcMaximumMsat
    },
    keyOf.get(toHex(signer)) as Uint8Array
  )
}

/** A channel that did not exist at the older snapshot, between two nodes of the graph. */
const freshChannel = (i: number, timestamp: number) => {
  const [a, b] = [graph.nodes[i], graph.nodes[i + 1]]
  const [n1, n2] = Buffer.compare(a.nodeId, b.nodeId) < 0 ? [a, b] : [b, a]
  const btc1 = deriveKey(`rgs-test/${i}/1`)
  const btc2 = deriveKey(`rgs-test/${i}/2`)
  const scid = Scid.make(950_000 + i, 1, 0)
  const ann = signChannelAnnouncement(
    {
      features: new Uint8Array(0),
      chainHash: BITCOIN_MAINNET,
      shortChannelId: scid,
      nodeId1: n1.nodeId,
      nodeId2: n2.nodeId,
      bitcoinKey1: publicKeyOf(btc1),
      bitcoinKey2: publicKeyOf(btc2)
    },
    n1.privateKey,
    n2.privateKey,
    btc1,
    btc2
  )
  const update = (direction: 0 | 1) =>
    signChannelUpdate(
      {
        chainHash: BITCOIN_MAINNET,
        shortChannelId: scid,
        timestamp,
        messageFlags: 1,
        channelFlags: direction,
        cltvExpiryDelta: 80,
        htlcMinimumMsat: 1n,
        feeBaseMsat: 0,
        feeProportionalMillionths: 2500 + i,
        htlcMaximumMsat: 5_000_000_000n
      },
      direction === 0 ? n1.privateKey : n2.privateKey
    )
  return { ann, updates: [update(0), update(1)] }
}

const compare = (actual: Map<bigint, LdkChannel>, wanted: ReturnType<typeof expected>) => {
  expect(actual.size).toBe(wanted.size)
  for (const [scid, w] of wanted) {
    const a = actual.get(scid)
    expect(a, `channel ${Scid.format(scid)}`).toBeDefined()
    expect({ node1: a?.node1, node2: a?.node2 }).toEqual({ node1: w.node1, node2: w.node2 })
    expect(a?.directions, `channel ${Scid.format(scid)}`).toEqual(w.directions)
  }
}

describe("RapidGossipSync snapshots, applied by LDK's client", () => {
  it.effect("a full v1 snapshot gives LDK every channel and direction the store holds", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW * 1000)
      const store = yield* storeWith(graph.channelAnnouncements, graph.channelUpdates, graph.nodeAnnouncements)
      const rgs = yield* serviceOver(store)
      const snapshot = yield* rgs.snapshot({ format: "v1" })
      const ldkGraph = newGraph()
      const latestSeen = ldkGraph.apply(snapshot.bytes)
      expect(latestSeen).toBe(snapshot.latestSeen)
      expect(latestSeen % Rgs.SNAPSHOT_INTERVAL_SECONDS).toBe(0)
      const wanted = expected(graph.channelAnnouncements, graph.channelUpdates)
      expect(snapshot.channels).toBe(wanted.size)
      compare(ldkGraph.channels(), wanted)
      // the generated graph has disabled directions, and policies that differ from the defaults
      const directions = [...wanted.values()].flatMap((c) => c.directions)
      expect(directions.some((d) => d?.enabled === false)).toBe(true)
      expect(new Set(directions.map((d) => d?.feeBase)).size).toBeGreaterThan(2)
      expect(ldkGraph.errors).toEqual([])
      // much smaller than the signed gossip it replaces
      expect(snapshot.bytes.length * 3).toBeLessThan(snapshot.rawBytes)
    }))

  it.effect("a full v2 snapshot also carries node features and addresses", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW * 1000)
      const store = yield* storeWith(graph.channelAnnouncements, graph.channelUpdates, graph.nodeAnnouncements)
      const rgs = yield* serviceOver(store)
      const snapshot = yield* rgs.snapshot({ format: "v2" })
      expect(snapshot.bytes[3]).toBe(2)
      const ldkGraph = newGraph()
      ldkGraph.apply(snapshot.bytes)
      compare(ldkGraph.channels(), expected(graph.channelAnnouncements, graph.channelUpdates))
      expect(snapshot.nodes).toBe(graph.nodeAnnouncements.length)
      for (const n of graph.nodeAnnouncements) {
        const held = ldkGraph.node(n.nodeId)
        expect(held, toHex(n.nodeId)).toBeDefined()
        // LDK writes features as a u16 length and the bytes (the BOLT form); addresses as BOLT 7 descriptors
        expect(toHex(held?.features ?? new Uint8Array())).toBe(
          toHex(Uint8Array.of(0, n.features.length, ...n.features))
        )
        expect((held?.addresses ?? []).map(toHex)).toEqual(Rgs.nodeOf(n).addresses.map(toHex))
      }
      expect(ldkGraph.errors).toEqual([])
    }))

  it.effect("an incremental snapshot on top of an older full one matches a newer full one", () =>
    Effect.gen(function* () {
      // older state: all but the last 3 channels
      const late = graph.channelAnnouncements.slice(-3).map((a) => a.shortChannelId)
      const isLate = (scid: bigint) => late.includes(scid)
      const store = yield* storeWith(
        graph.channelAnnouncements.filter((a) => !isLate(a.shortChannelId)),
        graph.channelUpdates.filter((u) => !isLate(u.shortChannelId)),
        graph.nodeAnnouncements
      )
      yield* TestClock.setTime(NOW * 1000)
      const rgs = yield* serviceOver(store)
      const older = yield* rgs.snapshotFor(0, "v1")

      // then: the late channels arrive with fresh updates, some fees change, a direction is disabled, one
      // direction changes every field, and a brand-new channel appears
      const t = NOW + 4 * HOUR
      const lateAnnouncements = graph.channelAnnouncements.filter((a) => isLate(a.shortChannelId))
      const lateUpdates = graph.channelUpdates.filter((u) => isLate(u.shortChannelId)).map((u) => newer(u, t, {}))
      const changed = [
        newer(graph.channelUpdates[0], t, { feeBase: 4242 }),
        newer(graph.channelUpdates[7], t, { disabled: true }),
        newer(graph.channelUpdates[10], t, { all: true }),
        newer(graph.channelUpdates[13], t + 60, { feeBase: 1 })
      ]
      const fresh = freshChannel(2, t)
      yield* store.applyBatch({
        channels: [...lateAnnouncements, fresh.ann],
        updates: [...lateUpdates, ...changed, ...fresh.updates],
        nodes: []
      })
      yield* TestClock.setTime((NOW + 5 * HOUR) * 1000)
      const incremental = yield* rgs.snapshotFor(older.latestSeen, "v1")
      const newerFull = yield* rgs.snapshotFor(0, "v1")
      expect(incremental.since).toBe(older.latestSeen)
      expect(incremental.latestSeen).toBeGreaterThan(older.latestSeen)
      expect(incremental.latestSeen).toBe(newerFull.latestSeen)
      // only what changed travels: the updates from `since` on (the 8 of the 3 late and the fresh channel, the 4
      // changes, and any generated one in the overlap since the older snapshot's slot), and the announcements of the
      // channels the client may lack: the late and fresh ones, not the 4 whose other direction it already held
      const allUpdates = [...graph.channelUpdates, ...lateUpdates, ...changed, ...fresh.updates]
      const all = [...graph.channelAnnouncements, fresh.ann]
      const overlap = graph.channelUpdates.filter((u) => u.timestamp >= older.latestSeen).length
      expect(incremental.updates).toBe(12 + overlap)
      expect(incremental.channels).toBeGreaterThanOrEqual(4)
      expect(incremental.channels).toBeLessThanOrEqual(4 + overlap)
      expect(incremental.bytes.length).toBeLessThan(newerFull.bytes.length / 5)

      const client = newGraph()
      client.apply(older.bytes)
      client.apply(incremental.bytes)
      const fromScratch = newGraph()
      fromScratch.apply(newerFull.bytes)
      compare(fromScratch.channels(), expected(all, allUpdates))
      compare(client.channels(), expected(all, allUpdates))
      expect(client.errors).toEqual([])
    }))

  it.effect("served snapshots: only on the 3-hour grid, and built once per slot", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW * 1000)
      const store = yield* storeWith(graph.channelAnnouncements, graph.channelUpdates, graph.nodeAnnouncements)
      const rgs = yield* serviceOver(store)
      const error = yield* Effect.flip(rgs.snapshotFor(NOW - 1, "v1"))
      expect(error._tag).toBe("SnapshotTimestampNotAligned")
      const first = yield* rgs.snapshotFor(0, "v2")
      yield* store.applyBatch({
        channels: [],
        updates: [newer(graph.channelUpdates[3], NOW + 1, { feeBase: 9 })],
        nodes: []
      })
      expect(yield* rgs.snapshotFor(0, "v2")).toBe(first) // same slot: the cached snapshot
      yield* TestClock.adjust(`${Rgs.SNAPSHOT_INTERVAL_SECONDS} seconds`)
      const next = yield* rgs.snapshotFor(0, "v2")
      expect(next).not.toBe(first)
      expect(next.bytes).not.toEqual(first.bytes)
    }))

  it.effect("an empty graph gives an empty snapshot LDK accepts, for the configured chain", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW * 1000)
      const store = yield* makeMemory
      const rgs = yield* RapidGossipSync.make.pipe(
        Effect.provide(Layer.succeed(GraphStore, store)),
        Effect.provide(
          Layer.succeed(RapidGossipSync.RapidGossipSyncConfig, { chainHash: BITCOIN_REGTEST, cacheCapacity: 4 })
        )
      )
      for (const format of ["v1", "v2"] as const) {
        const snapshot = yield* rgs.snapshot({ format })
        expect(snapshot.latestSeen).toBe(Rgs.alignTimestamp(NOW))
        const ldkGraph = newGraph(ldk.Network.LDKNetwork_Regtest)
        expect(ldkGraph.apply(snapshot.bytes)).toBe(Rgs.alignTimestamp(NOW))
        expect(() => newGraph().apply(snapshot.bytes)).toThrow(/chain hash/)
      }
    }))
})

describe("RapidGossipSync encoding", () => {
  it("incremental updates carry only the changed fields, and LDK applies them over what it holds", () => {
    const channels = graph.channelAnnouncements.slice(0, 5).map(Rgs.channelOf)
    const scids = new Set(channels.map((c) => c.shortChannelId))
    const updates = graph.channelUpdates.filter((u) => scids.has(u.shortChannelId))
    const base = Rgs.encodeSnapshot({
      version: 1,
      chainHash: BITCOIN_MAINNET,
      latestSeen: Rgs.alignTimestamp(NOW),
      channels,
      updates: updates.map((u) => Rgs.updateOf(u))
    })
    const before = Rgs.policyOf(updates[0])
    const after: Rgs.RgsPolicy = { ...before, feeBaseMsat: before.feeBaseMsat + 17 }
    const delta = Rgs.encodeSnapshot({
      version: 1,
      chainHash: BITCOIN_MAINNET,
      latestSeen: Rgs.alignTimestamp(NOW) + Rgs.SNAPSHOT_INTERVAL_SECONDS,
      channels: [],
      updates: [{ ...Rgs.updateOf(updates[0]), policy: after, previous: before }]
    })
    // header 4 + chain 32 + timestamp 4 + 0 nodes 4 + 0 announcements 4 + 1 update 4 + defaults 26 (all zero: no
    // full update) + scid (BigSize 9) + flags 1 + fee_base 4
    expect(delta.length).toBe(4 + 32 + 4 + 4 + 4 + 4 + 26 + 9 + 1 + 4)
    expect(delta[delta.length - 5]).toBe(0b1000_0000 | 0b0001_0000 | (updates[0].channelFlags & 3))
    const client = newGraph()
    client.apply(base)
    client.apply(delta)
    const held = client.channels().get(updates[0].shortChannelId)
    expect(held?.directions[updates[0].channelFlags & 1]?.feeBase).toBe(after.feeBaseMsat)
    expect(held?.directions[updates[0].channelFlags & 1]?.cltv).toBe(before.cltvExpiryDelta)
  })

  it("lays out announcements and full updates as LDK's server does: scid deltas, node indices, default values", () => {
    const [n1, n2, n3] = graph.nodes.map((n) => n.nodeId).sort(Buffer.compare)
    const policy: Rgs.RgsPolicy = {
      cltvExpiryDelta: 40,
      htlcMinimumMsat: 1000n,
      feeBaseMsat: 1000,
      feeProportionalMillionths: 1,
      htlcMaximumMsat: 978_000_000n
    }
    const bytes = Rgs.encodeSnapshot({
      version: 1,
      chainHash: BITCOIN_MAINNET,
      latestSeen: 0x61e362da,
      channels: [
        { shortChannelId: 0x899c00021b0001n, features: new Uint8Array(0), nodeId1: n2, nodeId2: n3 },
        { shortChannelId: 0x899c00021b0000n, features: new Uint8Array(0), nodeId1: n1, nodeId2: n2 }
      ],
      updates: [
        { shortChannelId: 0x899c00021b0000n, direction: 1, disabled: false, policy },
        {
          shortChannelId: 0x899c00021b0000n,
          direction: 0,
          disabled: true,
          policy: { ...policy, cltvExpiryDelta: 144 }
        },
        { shortChannelId: 0x899c00021b0001n, direction: 0, disabled: false, policy }
      ]
    })
    const hex = toHex(bytes)
    const at = 4 + 32 + 4
    expect(hex.slice(0, 8)).toBe("4c444b01")
    expect(hex.slice(8, 72)).toBe(toHex(BITCOIN_MAINNET))
    expect(hex.slice(72, 80)).toBe("61e362da")
    // node table in order of first use, the lower scid first: n1, n2, n3
    expect(hex.slice(at * 2, (at + 4 + 99) * 2)).toBe("00000003" + toHex(n1) + toHex(n2) + toHex(n3))
    const rest = hex.slice((at + 4 + 99) * 2)
    expect(rest).toBe(
      "00000002" + // announcements
        "0000" + "ff00899c00021b0000" + "00" + "01" + // empty features, scid from 0, nodes 0 and 1
        "0000" + "01" + "01" + "02" + // next scid as a delta of 1
        "00000003" + // updates
        "0028" + "00000000000003e8" + "000003e8" + "00000001" + "000000003a4b1880" + // defaults: the common values
        "ff00899c00021b0000" + "42" + "0090" + // direction 0, disabled (bit 1), cltv differs (bit 6)
        "00" + "01" + // direction 1 of the same scid: delta 0, nothing differs
        "01" + "00" // next scid
    )
  })
})
