/**
 * The GraphStore contract: one suite, run against every layer (GraphStoreMemory.test.ts, GraphStoreSqlite.test.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Option, Stream } from "effect"
import type { Layer } from "effect"
import * as fc from "fast-check"
import { channelUpdateChecksum } from "../src/domain/Checksum.js"
import { toHex } from "../src/domain/Hex.js"
import type { ChannelAnnouncement, ChannelUpdate, NodeAnnouncement } from "../src/domain/Messages.js"
import type { ShortChannelId } from "../src/domain/ShortChannelId.js"
import type {
  GraphBatch,
  GraphStoreChainMismatch,
  GraphStoreError,
  GraphStoreService,
  StoredGossip
} from "../src/services/GraphStore.js"
import { GraphStore } from "../src/services/GraphStore.js"
import { channelAnnouncement, channelUpdate, nodeAnnouncement, nodeId, scid } from "./support/gossip.js"

const batch = (parts: Partial<GraphBatch>): GraphBatch => ({
  channels: parts.channels ?? [],
  updates: parts.updates ?? [],
  nodes: parts.nodes ?? []
})

const collect = (stream: Stream.Stream<StoredGossip, GraphStoreError>) =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

/** Gossip as comparable text: kind, timestamp and the exact bytes. */
const show = (gossip: ReadonlyArray<StoredGossip>) => gossip.map((g) => `${g.kind}@${g.timestamp}:${toHex(g.raw)}`)
const ann = (c: ChannelAnnouncement, timestamp: number) => `ChannelAnnouncement@${timestamp}:${toHex(c.raw)}`
const upd = (u: ChannelUpdate) => `ChannelUpdate@${u.timestamp}:${toHex(u.raw)}`
const nod = (n: NodeAnnouncement) => `NodeAnnouncement@${n.timestamp}:${toHex(n.raw)}`

const A = nodeId(1)
const B = nodeId(2)
const C = nodeId(3)
const D = nodeId(4)

export const graphStoreContract = (
  name: string,
  makeLayer: () => Layer.Layer<GraphStore, GraphStoreError | GraphStoreChainMismatch>
) =>
  describe(`GraphStore contract (${name})`, () => {
    const withStore = <A>(
      body: (store: GraphStoreService) => Effect.Effect<A, GraphStoreError | GraphStoreChainMismatch>
    ) => Effect.flatMap(GraphStore, body).pipe(Effect.provide(makeLayer()))

    it.effect("GS-3: an empty store has no highest id, no channels and zero counts", () =>
      withStore((store) =>
        Effect.gen(function* () {
          expect(Option.isNone(yield* store.highestChannelId)).toBe(true)
          expect(yield* store.channelRange(0, 0xffffff)).toEqual([])
          expect(yield* store.counts).toEqual({ channels: 0, updates: 0, nodes: 0, zombies: 0, newestTimestamp: 0 })
          expect(yield* collect(store.gossipInHorizon(0, 2 ** 32))).toEqual([])
        })
      ))

    it.effect("BOLT 7: announcements are added once; a repeat (other batch or same batch) counts as known", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const c1 = channelAnnouncement(scid(700_000, 1, 0), A, B)
          const c2 = channelAnnouncement(scid(700_001, 2, 1), B, C)
          const first = yield* store.applyBatch(batch({ channels: [c1, c2, c1] }))
          expect(first).toEqual({
            channelsAdded: 2,
            channelsKnown: 1,
            updatesApplied: 0,
            updatesIgnored: 0,
            nodesApplied: 0,
            nodesIgnored: 0
          })
          const second = yield* store.applyBatch(batch({ channels: [c2] }))
          expect(second.channelsAdded).toBe(0)
          expect(second.channelsKnown).toBe(1)
          expect((yield* store.counts).channels).toBe(2)
          expect(yield* store.highestChannelId).toEqual(Option.some(c2.shortChannelId))
          const held = yield* store.channels([c1.shortChannelId, scid(1, 1, 1), c2.shortChannelId])
          expect([...held.keys()].sort()).toEqual([c1.shortChannelId, c2.shortChannelId].sort())
          expect(held.get(c1.shortChannelId)).toEqual({
            shortChannelId: c1.shortChannelId,
            nodeId1: A,
            nodeId2: B,
            timestamp1: 0,
            timestamp2: 0,
            checksum1: 0,
            checksum2: 0
          })
        })
      ))

    it.effect("BOLT 7: newest timestamp wins per direction; older or equal updates are ignored", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const id = scid(700_000, 5, 0)
          yield* store.applyBatch(batch({ channels: [channelAnnouncement(id, A, B)] }))
          const u100 = channelUpdate(id, 0, 100, { feeBaseMsat: 1 })
          const r1 = yield* store.applyBatch(batch({ updates: [u100, channelUpdate(id, 1, 50)] }))
          expect([r1.updatesApplied, r1.updatesIgnored]).toEqual([2, 0])
          // equal timestamp (different content) and older: no-ops
          const r2 = yield* store.applyBatch(
            batch({ updates: [channelUpdate(id, 0, 100, { feeBaseMsat: 2 }), channelUpdate(id, 0, 90)] })
          )
          expect([r2.updatesApplied, r2.updatesIgnored]).toEqual([0, 2])
          let state = (yield* store.channels([id])).get(id)
          expect(state?.timestamp1).toBe(100)
          expect(state?.checksum1).toBe(channelUpdateChecksum(u100.raw))
          expect(state?.timestamp2).toBe(50)
          // newer one in direction 1 does not touch direction 0
          const u60 = channelUpdate(id, 1, 60, { disabled: true })
          const r3 = yield* store.applyBatch(batch({ updates: [u60] }))
          expect(r3.updatesApplied).toBe(1)
          state = (yield* store.channels([id])).get(id)
          expect([state?.timestamp1, state?.timestamp2]).toEqual([100, 60])
          expect([state?.checksum1, state?.checksum2]).toEqual([
            channelUpdateChecksum(u100.raw),
            channelUpdateChecksum(u60.raw)
          ])
          expect(state?.checksum2).not.toBe(channelUpdateChecksum(channelUpdate(id, 1, 50).raw))
          // the served bytes are the winners'
          const served = show(yield* collect(store.gossipForChannels([id])))
          expect(served).toEqual([ann(channelAnnouncement(id, A, B), 100), upd(u100), upd(u60)])
          expect((yield* store.counts).updates).toBe(2)
        })
      ))

    it.effect("BOLT 7: within one batch updates apply in order (a newer one after an older one wins)", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const id = scid(650_000, 1, 1)
          const c = channelAnnouncement(id, A, B)
          const u10 = channelUpdate(id, 0, 10)
          const u20 = channelUpdate(id, 0, 20)
          const u15 = channelUpdate(id, 0, 15)
          // the announcement is applied before the updates although it travels in the same batch
          const r = yield* store.applyBatch(batch({ channels: [c], updates: [u10, u20, u15] }))
          expect([r.channelsAdded, r.updatesApplied, r.updatesIgnored]).toEqual([1, 2, 1])
          expect(show(yield* collect(store.gossipForChannels([id])))).toEqual([ann(c, 20), upd(u20)])
          expect((yield* store.counts).updates).toBe(1)
        })
      ))

    it.effect("BOLT 7: an update for a channel we do not hold is ignored", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const r = yield* store.applyBatch(batch({ updates: [channelUpdate(scid(700_000, 9, 0), 0, 100)] }))
          expect([r.updatesApplied, r.updatesIgnored]).toEqual([0, 1])
          expect(yield* store.counts).toEqual({ channels: 0, updates: 0, nodes: 0, zombies: 0, newestTimestamp: 0 })
        })
      ))

    it.effect("BOLT 7: node announcements only for nodes with a channel; newest wins", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const c = channelAnnouncement(scid(700_000, 1, 0), A, B)
          const a1 = nodeAnnouncement(A, 1000, "a")
          const r1 = yield* store.applyBatch(
            batch({ channels: [c], nodes: [a1, nodeAnnouncement(C, 1000, "stray")] })
          )
          expect([r1.nodesApplied, r1.nodesIgnored]).toEqual([1, 1])
          const r2 = yield* store.applyBatch(
            batch({ nodes: [nodeAnnouncement(A, 1000, "same"), nodeAnnouncement(A, 999, "old")] })
          )
          expect([r2.nodesApplied, r2.nodesIgnored]).toEqual([0, 2])
          const known = yield* store.nodes([A, B, C])
          expect(known.get(toHex(A))).toEqual({ nodeId: A, timestamp: 1000, hasChannel: true })
          // an endpoint without an announcement is held with timestamp 0
          expect(known.get(toHex(B))).toEqual({ nodeId: B, timestamp: 0, hasChannel: true })
          expect(known.has(toHex(C))).toBe(false)
          const a2 = nodeAnnouncement(A, 1001, "newer")
          const r3 = yield* store.applyBatch(batch({ nodes: [a2] }))
          expect(r3.nodesApplied).toBe(1)
          expect((yield* store.nodes([A])).get(toHex(A))?.timestamp).toBe(1001)
          expect(show(yield* collect(store.gossipInHorizon(0, 2 ** 32)))).toEqual([nod(a2)])
          expect((yield* store.counts).nodes).toBe(1)
        })
      ))

    it.effect("GS-33: channelRange is inclusive on both ends, ascending, with timestamps and checksums", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const ids = [
            scid(99, 0, 0),
            scid(100, 0, 0),
            scid(100, 5, 1),
            scid(150, 2, 0),
            scid(200, 0xffffff, 0xffff),
            scid(201, 0, 0)
          ]
          // inserted out of order
          const channels = [ids[3], ids[5], ids[0], ids[2], ids[4], ids[1]].map((id, i) =>
            channelAnnouncement(id, nodeId(i), nodeId(i + 10))
          )
          const u = channelUpdate(ids[2], 1, 777)
          yield* store.applyBatch(batch({ channels, updates: [u] }))
          const range = yield* store.channelRange(100, 200)
          expect(range.map((c) => c.shortChannelId)).toEqual(ids.slice(1, 5))
          const withUpdate = range.find((c) => c.shortChannelId === ids[2])
          expect([withUpdate?.timestamp1, withUpdate?.timestamp2, withUpdate?.checksum1, withUpdate?.checksum2])
            .toEqual([
              0,
              777,
              0,
              channelUpdateChecksum(u.raw)
            ])
          expect((yield* store.channelRange(150, 150)).map((c) => c.shortChannelId)).toEqual([ids[3]])
          expect(yield* store.channelRange(151, 199)).toEqual([])
          expect(yield* store.channelRange(200, 100)).toEqual([])
          // saturating: a last block beyond 2^24-1 (first + num overflow) still means "to the end"
          expect((yield* store.channelRange(201, 2 ** 32 + 5)).map((c) => c.shortChannelId)).toEqual([ids[5]])
          expect((yield* store.channelRange(0, 0xffffff)).map((c) => c.shortChannelId)).toEqual(ids)
        })
      ))

    it.effect("GS-40: gossipForChannels sends, in ids order, announcement, updates, then node announcements once", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const id1 = scid(700_000, 1, 0)
          const id2 = scid(700_001, 1, 0)
          const id3 = scid(700_002, 1, 0)
          const c1 = channelAnnouncement(id1, A, B)
          const c2 = channelAnnouncement(id2, B, C)
          const c3 = channelAnnouncement(id3, C, D)
          const u1a = channelUpdate(id1, 0, 500)
          const u1b = channelUpdate(id1, 1, 400)
          const u2b = channelUpdate(id2, 1, 300)
          const nA = nodeAnnouncement(A, 10)
          const nB = nodeAnnouncement(B, 20)
          const nC = nodeAnnouncement(C, 30)
          yield* store.applyBatch(batch({ channels: [c1, c2, c3], updates: [u1b, u2b, u1a], nodes: [nA, nB, nC] }))
          const served = show(yield* collect(store.gossipForChannels([id2, scid(5, 5, 5), id1, 2n ** 64n - 1n])))
          expect(served).toEqual([
            ann(c2, 300),
            upd(u2b),
            nod(nB),
            nod(nC),
            ann(c1, 500),
            upd(u1a),
            upd(u1b),
            nod(nA)
          ])
          // D has no announcement: nothing for it; C was not sent yet in this call
          expect(show(yield* collect(store.gossipForChannels([id3])))).toEqual([ann(c3, 0), nod(nC)])
          expect(yield* collect(store.gossipForChannels([]))).toEqual([])
        })
      ))

    it.effect("GS-44/45: gossipInHorizon is [start, end): announcement before its in-window updates, nodes last", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const id1 = scid(700_000, 1, 0)
          const id2 = scid(700_000, 2, 0)
          const id3 = scid(700_000, 3, 0)
          const id4 = scid(700_000, 4, 0)
          const c1 = channelAnnouncement(id1, A, B)
          const c2 = channelAnnouncement(id2, B, C)
          const c3 = channelAnnouncement(id3, C, D)
          const c4 = channelAnnouncement(id4, A, D)
          const u1a = channelUpdate(id1, 0, 1000) // == start: in
          const u1b = channelUpdate(id1, 1, 1500)
          const u2a = channelUpdate(id2, 0, 2000) // == end: out
          const u2b = channelUpdate(id2, 1, 1200) // in; the announcement still says 2000 (newest)
          const u3a = channelUpdate(id3, 0, 999) // before start
          const u4a = channelUpdate(id4, 0, 1100)
          const u4b = channelUpdate(id4, 1, 1100) // tie on timestamp: direction 0 first
          const nA = nodeAnnouncement(A, 1999)
          const nB = nodeAnnouncement(B, 1000)
          const nC = nodeAnnouncement(C, 2000)
          yield* store.applyBatch(
            batch({ channels: [c1, c2, c3, c4], updates: [u1a, u1b, u2a, u2b, u3a, u4b, u4a], nodes: [nA, nB, nC] })
          )
          const got = show(yield* collect(store.gossipInHorizon(1000, 2000)))
          expect(got).toEqual([
            ann(c1, 1500),
            upd(u1a),
            upd(u1b),
            ann(c4, 1100),
            upd(u4a),
            upd(u4b),
            ann(c2, 2000),
            upd(u2b),
            nod(nB),
            nod(nA)
          ])
          // GS-45: first = 0, range = 2^32 - 1 means everything held
          const all = show(yield* collect(store.gossipInHorizon(0, 2 ** 32 - 1)))
          expect(all).toContain(ann(c3, 999))
          expect(all).toContain(upd(u2a))
          expect(all).toContain(nod(nC))
          expect(all.length).toBe(4 + 7 + 3)
          expect(yield* collect(store.gossipInHorizon(1500, 1500))).toEqual([])
        })
      ))

    it.effect("GS-44: a horizon over many pages lists every channel once, ordered by its earliest in-window update", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const n = 700
          const channels: Array<ChannelAnnouncement> = []
          const updates: Array<ChannelUpdate> = []
          const nodes: Array<NodeAnnouncement> = []
          const earliest = new Map<ShortChannelId, number>()
          for (let i = 0; i < n; i++) {
            const id = scid(600_000 + i, i, 0)
            channels.push(channelAnnouncement(id, nodeId(i), nodeId(i + 1)))
            // timestamps interleave across channels so that pages split channels' updates; ties order by scid
            const t0 = 10_000 + ((i * 7919) % 1000)
            const t1 = 10_000 + ((i * 104729) % 1000)
            updates.push(channelUpdate(id, 0, t0), channelUpdate(id, 1, t1))
            earliest.set(id, Math.min(t0, t1))
            nodes.push(nodeAnnouncement(nodeId(i), 20_000 + (i % 13)))
          }
          yield* store.applyBatch(batch({ channels, updates, nodes }))
          const got = yield* collect(store.gossipInHorizon(10_000, 30_000))
          const announced = got.filter((g) => g.kind === "ChannelAnnouncement").map((g) => toHex(g.raw))
          expect(announced.length).toBe(n)
          expect(new Set(announced).size).toBe(n)
          const expectedOrder = [...channels]
            .sort((x, y) => {
              const ex = earliest.get(x.shortChannelId) ?? 0
              const ey = earliest.get(y.shortChannelId) ?? 0
              return ex - ey || (x.shortChannelId < y.shortChannelId ? -1 : 1)
            })
            .map((c) => toHex(c.raw))
          expect(announced).toEqual(expectedOrder)
          expect(got.filter((g) => g.kind === "ChannelUpdate").length).toBe(2 * n)
          const nodeTimes = got.filter((g) => g.kind === "NodeAnnouncement").map((g) => g.timestamp)
          expect(nodeTimes.length).toBe(n)
          expect(nodeTimes).toEqual([...nodeTimes].sort((x, y) => x - y))
          // every node announcement comes after all channel gossip
          expect(got.findIndex((g) => g.kind === "NodeAnnouncement")).toBe(3 * n)
        })
      ))

    it.effect("BOLT 7: prune removes stale channels, keeps them as zombies (not the update-less), drops orphaned node announcements", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const stale = scid(600_000, 1, 0) // both directions old
          const half = scid(600_000, 2, 0) // one direction fresh: kept
          const bare = scid(600_000, 3, 0) // no update at all: removed, but not a zombie
          const oneOld = scid(600_000, 4, 0) // only direction old: stale
          const cStale = channelAnnouncement(stale, A, B)
          yield* store.applyBatch(
            batch({
              channels: [
                cStale,
                channelAnnouncement(half, B, C),
                channelAnnouncement(bare, C, D),
                channelAnnouncement(oneOld, D, A)
              ],
              updates: [
                channelUpdate(stale, 0, 100),
                channelUpdate(stale, 1, 200),
                channelUpdate(half, 0, 100),
                channelUpdate(half, 1, 5000),
                channelUpdate(oneOld, 1, 300)
              ],
              nodes: [nodeAnnouncement(A, 50), nodeAnnouncement(B, 60), nodeAnnouncement(D, 70)]
            })
          )
          expect(yield* store.prune(1000)).toEqual({ channelsPruned: 3 })
          expect(yield* store.counts).toEqual({ channels: 1, updates: 2, nodes: 1, zombies: 2, newestTimestamp: 5000 })
          expect([...(yield* store.zombies([stale, half, bare, oneOld, scid(1, 1, 1)]))].sort()).toEqual(
            [stale, oneOld].sort()
          )
          expect([...(yield* store.channels([stale, half, bare, oneOld])).keys()]).toEqual([half])
          // A and D lost every channel: their announcements are gone; B keeps its channel and announcement
          const held = yield* store.nodes([A, B, C, D])
          expect([...held.keys()].sort()).toEqual([toHex(B), toHex(C)].sort())
          expect(held.get(toHex(B))?.timestamp).toBe(60)
          expect(yield* collect(store.gossipForChannels([stale]))).toEqual([])
          // pruning again finds nothing new
          expect(yield* store.prune(1000)).toEqual({ channelsPruned: 0 })
          // updates for a zombie are for an unknown channel
          const ignored = yield* store.applyBatch(batch({ updates: [channelUpdate(stale, 0, 9000)] }))
          expect(ignored.updatesIgnored).toBe(1)
          // a fresh announcement revives it: the zombie mark is cleared and its gossip is accepted again
          const revived = yield* store.applyBatch(
            batch({ channels: [cStale], updates: [channelUpdate(stale, 0, 9000)], nodes: [nodeAnnouncement(A, 80)] })
          )
          expect([revived.channelsAdded, revived.updatesApplied, revived.nodesApplied]).toEqual([1, 1, 1])
          expect((yield* store.zombies([stale])).size).toBe(0)
          expect(yield* store.counts).toEqual({ channels: 2, updates: 3, nodes: 2, zombies: 1, newestTimestamp: 9000 })
        })
      ))

    // Issue 13/15: an announcement whose updates have not arrived yet (mid-sync, or a peer that stalled after it) is
    // not a stale policy; as a zombie it would never be asked for again (GS-20), even from peers that have updates.
    it.effect("BOLT 7: prune removes an update-less channel without a zombie mark; its announcement and update are taken again", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const bare = scid(600_000, 1, 0)
          const kept = scid(600_000, 2, 0)
          const cBare = channelAnnouncement(bare, A, B)
          yield* store.applyBatch(
            batch({
              channels: [cBare, channelAnnouncement(kept, B, C)],
              updates: [channelUpdate(kept, 0, 5000)],
              nodes: [nodeAnnouncement(A, 50), nodeAnnouncement(B, 60)]
            })
          )
          expect(yield* store.prune(1000)).toEqual({ channelsPruned: 1 })
          expect(yield* store.counts).toEqual({ channels: 1, updates: 1, nodes: 1, zombies: 0, newestTimestamp: 5000 })
          expect((yield* store.zombies([bare])).size).toBe(0)
          expect((yield* store.channels([bare])).size).toBe(0)
          expect(yield* collect(store.gossipForChannels([bare]))).toEqual([])
          expect([...(yield* store.nodes([A, B])).keys()]).toEqual([toHex(B)]) // A lost its only channel
          // an update alone is for an unknown channel, as before the announcement
          expect((yield* store.applyBatch(batch({ updates: [channelUpdate(bare, 0, 2000)] }))).updatesIgnored).toBe(1)
          // the announcement with its update, as a later range reply fetches them: accepted normally
          const again = yield* store.applyBatch(
            batch({ channels: [cBare], updates: [channelUpdate(bare, 0, 2000)], nodes: [nodeAnnouncement(A, 80)] })
          )
          expect(again).toEqual({
            channelsAdded: 1,
            channelsKnown: 0,
            updatesApplied: 1,
            updatesIgnored: 0,
            nodesApplied: 1,
            nodesIgnored: 0
          })
          expect(
            (yield* store.channelRange(600_000, 600_000)).map((c) => [c.shortChannelId, c.timestamp1, c.timestamp2])
          )
            .toEqual([[bare, 2000, 0], [kept, 5000, 0]])
          expect(yield* store.counts).toEqual({ channels: 2, updates: 2, nodes: 2, zombies: 0, newestTimestamp: 5000 })
          // now it has an update newer than the cutoff: kept
          expect(yield* store.prune(1000)).toEqual({ channelsPruned: 0 })
        })
      ))

    it.effect("BOLT 7: a scid above 2^53 round-trips exactly through every read", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const top = scid(0x7fffff, 0xffffff, 0xfffe) // 2^63 - 2: the largest block a signed 64-bit column holds
          const mainnet = scid(800_123, 2345, 1)
          expect(top > 2n ** 53n && mainnet > 2n ** 53n).toBe(true)
          const neighbour = top - 1n // differs only in the lowest bit: lost by any float conversion
          yield* store.applyBatch(
            batch({
              channels: [
                channelAnnouncement(top, A, B),
                channelAnnouncement(neighbour, A, C),
                channelAnnouncement(mainnet, B, C)
              ],
              updates: [channelUpdate(top, 0, 10)]
            })
          )
          expect(yield* store.highestChannelId).toEqual(Option.some(top))
          expect((yield* store.channelRange(0, 0xffffff)).map((c) => c.shortChannelId)).toEqual([
            mainnet,
            neighbour,
            top
          ])
          expect((yield* store.channelRange(0x7fffff, 0x7fffff)).map((c) => c.shortChannelId)).toEqual([neighbour, top])
          expect([...(yield* store.channels([top])).keys()]).toEqual([top])
          expect(show(yield* collect(store.gossipForChannels([top])))[0]).toBe(ann(channelAnnouncement(top, A, B), 10))
          expect(yield* store.prune(100)).toEqual({ channelsPruned: 3 })
          // only `top` had an update: the two update-less ones are gone without a zombie mark
          expect([...(yield* store.zombies([top, neighbour, mainnet]))]).toEqual([top])
          expect((yield* store.counts).channels).toBe(0)
        })
      ))

    it.effect("BOLT 7: ids no store can hold are unknown to queries and rejected whole in a batch", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const huge = 2n ** 64n - 1n // block 2^24-1: beyond a signed 64-bit column
          expect((yield* store.channels([huge])).size).toBe(0)
          expect((yield* store.zombies([huge])).size).toBe(0)
          const ok = channelAnnouncement(scid(700_000, 1, 0), A, B)
          const result = yield* Effect.either(
            store.applyBatch(batch({ channels: [ok, channelAnnouncement(huge, A, B)] }))
          )
          expect(Either.isLeft(result) && result.left._tag).toBe("GraphStoreError")
          // all or nothing: the valid announcement of the failed batch is not there
          expect((yield* store.counts).channels).toBe(0)
          const r = yield* store.applyBatch(batch({ channels: [ok], updates: [channelUpdate(huge, 0, 1)] }))
          expect([r.channelsAdded, r.updatesIgnored]).toEqual([1, 1])
        })
      ))

    it.effect("GS-3: counts track the newest update or node announcement timestamp", () =>
      withStore((store) =>
        Effect.gen(function* () {
          const id = scid(700_000, 1, 0)
          yield* store.applyBatch(
            batch({ channels: [channelAnnouncement(id, A, B)], nodes: [nodeAnnouncement(A, 300)] })
          )
          expect((yield* store.counts).newestTimestamp).toBe(300)
          yield* store.applyBatch(batch({ updates: [channelUpdate(id, 1, 250)] }))
          expect((yield* store.counts).newestTimestamp).toBe(300)
          yield* store.applyBatch(batch({ updates: [channelUpdate(id, 0, 400)] }))
          expect(yield* store.counts).toEqual({ channels: 1, updates: 2, nodes: 1, zombies: 0, newestTimestamp: 400 })
        })
      ))

    // A reference model of the rules, checked against the layer over random batch/prune sequences.
    it.effect("BOLT 7: random batches and prunes agree with a reference model", () =>
      Effect.gen(function* () {
        const nodeIds = [0, 1, 2, 3, 4, 5].map((i) => nodeId(i))
        const scidArb = fc.integer({ min: 0, max: 7 }).map((i) => scid(700_000 + (i >> 1), i, 0))
        const ops = fc.array(
          fc.oneof(
            fc.record({
              kind: fc.constant("batch" as const),
              channels: fc.array(fc.tuple(scidArb, fc.nat(5), fc.nat(5)), { maxLength: 4 }),
              updates: fc.array(fc.tuple(scidArb, fc.constantFrom<0 | 1>(0, 1), fc.integer({ min: 1, max: 40 })), {
                maxLength: 8
              }),
              nodes: fc.array(fc.tuple(fc.nat(5), fc.integer({ min: 1, max: 40 })), { maxLength: 4 })
            }),
            fc.record({ kind: fc.constant("prune" as const), olderThan: fc.integer({ min: 0, max: 45 }) })
          ),
          { maxLength: 12 }
        )
        const runs = fc.sample(ops, { numRuns: 25, seed: 42 })
        for (const sequence of runs) {
          // model
          const channels = new Map<ShortChannelId, { n1: string; n2: string; ts: [number, number] }>()
          const nodesModel = new Map<string, number>()
          const zombieModel = new Set<ShortChannelId>()
          const hasChannel = (hex: string) => [...channels.values()].some((c) => c.n1 === hex || c.n2 === hex)
          yield* withStore((store) =>
            Effect.gen(function* () {
              for (const op of sequence) {
                if (op.kind === "prune") {
                  let pruned = 0
                  for (const [id, c] of [...channels]) {
                    if (Math.max(c.ts[0], c.ts[1]) < op.olderThan) {
                      channels.delete(id)
                      if (c.ts[0] > 0 || c.ts[1] > 0) zombieModel.add(id) // update-less: removed, not a zombie
                      pruned++
                    }
                  }
                  for (const hex of [...nodesModel.keys()]) if (!hasChannel(hex)) nodesModel.delete(hex)
                  expect(yield* store.prune(op.olderThan)).toEqual({ channelsPruned: pruned })
                  continue
                }
                const anns = op.channels.map(([id, a, b]) => channelAnnouncement(id, nodeIds[a], nodeIds[b]))
                const ups = op.updates.map(([id, dir, t]) => channelUpdate(id, dir, t))
                const nds = op.nodes.map(([n, t]) => nodeAnnouncement(nodeIds[n], t))
                const expected = {
                  channelsAdded: 0,
                  channelsKnown: 0,
                  updatesApplied: 0,
                  updatesIgnored: 0,
                  nodesApplied: 0,
                  nodesIgnored: 0
                }
                for (const c of anns) {
                  if (channels.has(c.shortChannelId)) expected.channelsKnown++
                  else {
                    expected.channelsAdded++
                    zombieModel.delete(c.shortChannelId)
                    channels.set(c.shortChannelId, { n1: toHex(c.nodeId1), n2: toHex(c.nodeId2), ts: [0, 0] })
                  }
                }
                for (const u of ups) {
                  const c = channels.get(u.shortChannelId)
                  const dir = u.channelFlags & 1
                  if (c === undefined || u.timestamp <= c.ts[dir]) expected.updatesIgnored++
                  else {
                    expected.updatesApplied++
                    c.ts[dir] = u.timestamp
                  }
                }
                for (const n of nds) {
                  const hex = toHex(n.nodeId)
                  if (!hasChannel(hex) || n.timestamp <= (nodesModel.get(hex) ?? 0)) expected.nodesIgnored++
                  else {
                    expected.nodesApplied++
                    nodesModel.set(hex, n.timestamp)
                  }
                }
                expect(yield* store.applyBatch(batch({ channels: anns, updates: ups, nodes: nds }))).toEqual(expected)
              }
              const range = yield* store.channelRange(0, 0xffffff)
              expect(range.map((c) => [c.shortChannelId, c.timestamp1, c.timestamp2])).toEqual(
                [...channels.entries()].sort(([x], [y]) => (x < y ? -1 : 1)).map(([id, c]) => [id, c.ts[0], c.ts[1]])
              )
              const counts = yield* store.counts
              expect(counts.channels).toBe(channels.size)
              expect(counts.nodes).toBe(nodesModel.size)
              expect(counts.zombies).toBe(zombieModel.size)
              expect(counts.updates).toBe(
                [...channels.values()].reduce((s, c) => s + (c.ts[0] > 0 ? 1 : 0) + (c.ts[1] > 0 ? 1 : 0), 0)
              )
              const horizon = yield* collect(store.gossipInHorizon(10, 30))
              const expectedHorizon = [...channels.values()].flatMap((c) =>
                c.ts.filter((t) => t >= 10 && t < 30)
              ).length +
                [...channels.values()].filter((c) => c.ts.some((t) => t >= 10 && t < 30)).length +
                [...nodesModel.values()].filter((t) => t >= 10 && t < 30).length
              expect(horizon.length).toBe(expectedHorizon)
              const ids = [...channels.keys()]
              const zs = yield* store.zombies([...zombieModel, ...ids])
              expect([...zs].sort()).toEqual([...zombieModel].sort())
            })
          )
        }
      }))
  })
