import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option, Ref, TestClock } from "effect"
import type { ChannelUpdate, Message, ReplyChannelRange } from "../src/domain/Messages.js"
import { blockHeight, make as scid } from "../src/domain/ShortChannelId.js"
import { makeShared } from "../src/services/GossipSyncer.js"
import { U32_MAX } from "../src/services/internal/gossipSyncer/rules.js"
import { CHAIN, channelAnnouncement, channelUpdate, nodeAnnouncement, nodeId } from "./support/gossip.js"
import type { Sent } from "./support/ScriptedPeer.js"
import type { Harness } from "./support/syncerHarness.js"
import {
  rangeQuery,
  scidQuery,
  seed,
  settle,
  startSyncer,
  TEST_NOW,
  testSettings,
  timestampFilter
} from "./support/syncerHarness.js"
import { toHex } from "../src/domain/Hex.js"

const OTHER_CHAIN = new Uint8Array(32).fill(7)

const asReply = (m: Message): ReplyChannelRange => {
  expect(m._tag).toBe("ReplyChannelRange")
  return m as ReplyChannelRange
}

/** Replies until the one with complete = 1. */
const takeReplies = (h: Harness) =>
  Effect.gen(function* () {
    const out: Array<ReplyChannelRange> = []
    while (true) {
      const r = asReply(yield* h.sp.nextMessage)
      out.push(r)
      if (r.syncComplete === 1 || out.length > 1000) return out
    }
  })

/** `[tag, scid or node index]` for compact assertions. */
const describeSent = (s: Sent): string => {
  const m = s.message
  switch (m._tag) {
    case "ChannelAnnouncement":
      return `ann:${blockHeight(m.shortChannelId)}`
    case "ChannelUpdate":
      return `upd:${blockHeight(m.shortChannelId)}/${m.channelFlags & 1}@${m.timestamp}`
    case "NodeAnnouncement":
      return `node:${new DataView(m.nodeId.buffer, m.nodeId.byteOffset).getUint32(1)}`
    default:
      return m._tag
  }
}

const takeN = (h: Harness, n: number) =>
  Effect.gen(function* () {
    const out: Array<string> = []
    for (let i = 0; i < n; i++) out.push(describeSent(yield* h.sp.next))
    return out
  })

/** Runs the clock forward one second at a time, letting fibers work in between. */
const runClock = (seconds: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < seconds; i++) {
      yield* TestClock.adjust(Duration.seconds(1))
      yield* settle
    }
  })

const T = TEST_NOW
const A = scid(10, 0, 0)
const B = scid(11, 0, 0)
const C = scid(12, 0, 0)

/** Three channels between nodes 1, 2, 3 with updates and node announcements at chosen times. */
const seedTriangle = (h: Harness) =>
  seed(h.store, {
    channels: [
      channelAnnouncement(A, nodeId(1), nodeId(2)),
      channelAnnouncement(B, nodeId(1), nodeId(3)),
      channelAnnouncement(C, nodeId(2), nodeId(3))
    ],
    updates: [
      channelUpdate(A, 0, T - 100),
      channelUpdate(A, 1, T - 50),
      channelUpdate(B, 0, T - 5000),
      channelUpdate(C, 0, T - 10)
    ],
    nodes: [
      nodeAnnouncement(nodeId(1), T - 20),
      nodeAnnouncement(nodeId(2), T - 3000),
      nodeAnnouncement(nodeId(3), T - 30)
    ]
  })

describe("GossipSyncer answering query_channel_range", () => {
  it.scoped("GS-31: a query for another chain gets one empty reply echoing it, complete = 0", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* seedTriangle(h)
      yield* h.sp.push({ ...rangeQuery(0, 1000), chainHash: OTHER_CHAIN } as Message)
      expect(yield* h.sp.nextMessage).toEqual({
        _tag: "ReplyChannelRange",
        chainHash: OTHER_CHAIN,
        firstBlocknum: 0,
        numberOfBlocks: 1000,
        syncComplete: 0,
        shortIds: { encoding: 0, ids: [] },
        timestamps: undefined,
        checksums: undefined,
        unknownTlvs: []
      })
    }))

  it.scoped("GS-32: timestamps iff query_option bit 0, checksums iff bit 1 (served, unlike lnd); none with noTimestampQueries", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* seedTriangle(h)
      const states = yield* Effect.orDie(h.store.channels([A, B, C]))
      yield* h.sp.push(rangeQuery(0, 100, 1n), rangeQuery(0, 100, 2n), rangeQuery(0, 100, 3n), rangeQuery(0, 100))
      const ts = asReply(yield* h.sp.nextMessage)
      expect(ts.shortIds.ids).toEqual([A, B, C])
      expect(ts.timestamps?.entries).toEqual([
        { timestamp1: T - 100, timestamp2: T - 50 },
        { timestamp1: T - 5000, timestamp2: 0 },
        { timestamp1: T - 10, timestamp2: 0 }
      ])
      expect(ts.checksums).toBeUndefined()
      const ck = asReply(yield* h.sp.nextMessage)
      expect(ck.timestamps).toBeUndefined()
      expect(ck.checksums).toEqual(
        [A, B, C].map((s) => ({ checksum1: states.get(s)!.checksum1, checksum2: states.get(s)!.checksum2 }))
      )
      expect(ck.checksums![0].checksum1).not.toBe(0)
      expect(ck.checksums![1].checksum2).toBe(0) // no update in that direction
      const both = asReply(yield* h.sp.nextMessage)
      expect(both.timestamps).toBeDefined()
      expect(both.checksums).toBeDefined()
      const none = asReply(yield* h.sp.nextMessage)
      expect([none.timestamps, none.checksums]).toEqual([undefined, undefined])

      const off = yield* startSyncer({ settings: { noTimestampQueries: true }, store: h.store, id: 2, keepClock: true })
      yield* off.sp.push(rangeQuery(0, 100, 3n))
      const r = asReply(yield* off.sp.nextMessage)
      expect([r.timestamps, r.checksums, r.shortIds.ids.length]).toEqual([undefined, undefined, 3])
    }))

  it.scoped("GS-33: first + num overflowing u32 saturates at 2^32-1; num = 0 covers just the first block", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* seedTriangle(h)
      yield* h.sp.push(rangeQuery(1, U32_MAX))
      const r = asReply(yield* h.sp.nextMessage)
      expect([r.firstBlocknum, r.numberOfBlocks, r.syncComplete, r.shortIds.ids]).toEqual([1, U32_MAX, 1, [A, B, C]])
      yield* h.sp.push(rangeQuery(11, 0))
      const z = asReply(yield* h.sp.nextMessage)
      expect([z.firstBlocknum, z.numberOfBlocks, z.shortIds.ids]).toEqual([11, 1, [B]])
      yield* h.sp.push(rangeQuery(0x01000000, 10)) // above any block height
      const e = asReply(yield* h.sp.nextMessage)
      expect([e.firstBlocknum, e.numberOfBlocks, e.syncComplete, e.shortIds.ids]).toEqual([0x01000000, 10, 1, []])
    }))

  it.scoped("GS-34/GS-35/GS-36: chunked replies never split a block; an oversized block is randomly sampled and re-sorted", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { chunkSize: 8 } })
      const block = (b: number, n: number) => Array.from({ length: n }, (_, i) => scid(b, i, 0))
      const all = [...block(10, 3), ...block(20, 3), ...block(30, 10), ...block(40, 1)]
      yield* seed(h.store, {
        channels: all.map((s) => channelAnnouncement(s, nodeId(1), nodeId(2))),
        updates: all.map((s, i) => channelUpdate(s, 0, T - 1000 + i))
      })
      yield* h.sp.push(rangeQuery(0, 100))
      const plain = yield* takeReplies(h)
      expect(plain.map((r) => [r.firstBlocknum, r.numberOfBlocks, r.shortIds.ids.length, r.syncComplete])).toEqual([
        [0, 30, 6, 0],
        [30, 10, 8, 0],
        [40, 60, 1, 1]
      ])
      const sampled = plain[1].shortIds.ids
      expect([...sampled].sort((a, b) => (a < b ? -1 : 1))).toEqual(sampled) // re-sorted
      expect(new Set(sampled).size).toBe(8)
      for (const s of sampled) expect(blockHeight(s)).toBe(30)

      // GS-34: timestamps halve the chunk (8 -> 4); timestamps stay in step with their scids
      yield* h.sp.push(rangeQuery(0, 100, 1n))
      const withTs = yield* takeReplies(h)
      expect(withTs.map((r) => [r.firstBlocknum, r.numberOfBlocks, r.shortIds.ids.length])).toEqual([
        [0, 20, 3],
        [20, 10, 3],
        [30, 10, 4],
        [40, 60, 1]
      ])
      for (const r of withTs) {
        r.shortIds.ids.forEach((s, i) => {
          expect(r.timestamps!.entries[i].timestamp1).toBe(T - 1000 + all.indexOf(s))
        })
      }
      // GS-36: strictly increasing scids, contiguous ranges covering the query exactly
      for (const replies of [plain, withTs]) {
        const flat = replies.flatMap((r) => r.shortIds.ids)
        for (let i = 1; i < flat.length; i++) expect(flat[i] > flat[i - 1]).toBe(true)
        expect(replies.reduce((n, r) => n + r.numberOfBlocks, 0)).toBe(100)
      }
    }))

  it.scoped("GS-37/GS-48: every reply waits for the per-peer byte limiter", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { chunkSize: 8, peerBytesPerSecond: 100, peerBurstBytes: 100 } })
      const all = [
        scid(10, 0, 0),
        scid(10, 1, 0),
        scid(10, 2, 0),
        scid(10, 3, 0),
        scid(10, 4, 0),
        scid(20, 0, 0),
        scid(20, 1, 0),
        scid(20, 2, 0),
        scid(20, 3, 0)
      ]
      yield* seed(h.store, { channels: all.map((s) => channelAnnouncement(s, nodeId(1), nodeId(2))) })
      yield* h.sp.push(rangeQuery(0, 100))
      const first = asReply(yield* h.sp.nextMessage) // 5 scids: 86 bytes, within the burst
      expect(first.shortIds.ids.length).toBe(5)
      yield* settle
      expect(yield* h.sp.drain).toEqual([]) // the second (78 bytes) waits for 64 more bytes of budget
      yield* TestClock.adjust(Duration.millis(630))
      yield* settle
      expect(yield* h.sp.drain).toEqual([])
      yield* TestClock.adjust(Duration.millis(10))
      expect(asReply(yield* h.sp.nextMessage).syncComplete).toBe(1)
    }))

  it.scoped("GS-49: replies are limited by bytes only — no seed-era 'ten then one per 5 s' message throttle", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { peerBytesPerSecond: 1_000_000, peerBurstBytes: 1_000_000 } })
      for (let i = 0; i < 11; i++) yield* h.sp.push(rangeQuery(i * 10, 10))
      for (let i = 0; i < 11; i++) expect(asReply(yield* h.sp.nextMessage).firstBlocknum).toBe(i * 10)
    }))
})

describe("GossipSyncer answering query_short_channel_ids", () => {
  it.scoped("GS-38: a query for another chain gets reply_short_channel_ids_end(chain, 0)", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* seedTriangle(h)
      yield* h.sp.push({ ...scidQuery([A]), chainHash: OTHER_CHAIN } as Message)
      expect(yield* h.sp.nextMessage).toEqual({
        _tag: "ReplyShortChannelIdsEnd",
        chainHash: OTHER_CHAIN,
        fullInformation: 0
      })
    }))

  it.scoped("GS-39 (port decision, BOLT 7): an empty query still gets reply_short_channel_ids_end(chain, 1)", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* h.sp.push(scidQuery([]))
      expect(yield* h.sp.nextMessage).toEqual({ _tag: "ReplyShortChannelIdsEnd", chainHash: CHAIN, fullInformation: 1 })
    }))

  it.scoped("GS-3/GS-40: announcement, updates, then each endpoint's node announcement once, then the end (even if nothing found)", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* seedTriangle(h)
      yield* h.sp.push(scidQuery([A, B, scid(99, 0, 0)]))
      const sent = yield* takeN(h, 9)
      expect(sent).toEqual([
        "ann:10",
        `upd:10/0@${T - 100}`,
        `upd:10/1@${T - 50}`,
        "node:1",
        "node:2",
        "ann:11",
        `upd:11/0@${T - 5000}`,
        "node:3",
        "ReplyShortChannelIdsEnd"
      ])
      yield* h.sp.push(scidQuery([scid(99, 0, 0)]))
      expect(yield* h.sp.nextMessage).toEqual({ _tag: "ReplyShortChannelIdsEnd", chainHash: CHAIN, fullInformation: 1 })
      // stored gossip is served byte for byte
      yield* h.sp.push(scidQuery([C]))
      const raw = yield* h.sp.next
      expect(raw._tag).toBe("Raw")
      expect(raw._tag === "Raw" && toHex(raw.raw)).toBe(toHex(channelAnnouncement(C, nodeId(2), nodeId(3)).raw))
    }))

  it.scoped("GS-40 (extension): query_flags are honoured — only the parts asked for are sent", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* seedTriangle(h)
      // A: update of direction 1 only; B: announcement and node_1's announcement
      yield* h.sp.push(scidQuery([A, B], [4n, 1n | 8n]))
      // node 1 is emitted once per reply, where the store first meets it (after A), but only because B asked for it
      expect(yield* takeN(h, 4)).toEqual([`upd:10/1@${T - 50}`, "node:1", "ann:11", "ReplyShortChannelIdsEnd"])
      yield* h.sp.push(scidQuery([A, B], [2n, 16n]))
      expect(yield* takeN(h, 3)).toEqual([`upd:10/0@${T - 100}`, "node:3", "ReplyShortChannelIdsEnd"])
    }))

  it.scoped("GS-41: a 100,000-scid query (the decode limit) is answered without trouble", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* seedTriangle(h)
      const many = Array.from({ length: 100_000 }, (_, i) => scid(1000 + Math.floor(i / 1000), i % 1000, 0))
      yield* h.sp.push(scidQuery([A, ...many]))
      expect(yield* takeN(h, 6)).toEqual([
        "ann:10",
        `upd:10/0@${T - 100}`,
        `upd:10/1@${T - 50}`,
        "node:1",
        "node:2",
        "ReplyShortChannelIdsEnd"
      ])
    }))
})

describe("GossipSyncer gossip_timestamp_filter from the peer", () => {
  it.scoped("GS-43/GS-44: the filter is stored and the stored gossip in [first, first+range) is dumped", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* seedTriangle(h)
      yield* h.sp.push(timestampFilter(T - 1000, 2000))
      const sent = yield* takeN(h, 7)
      expect([...sent].sort()).toEqual(
        ["ann:10", `upd:10/0@${T - 100}`, `upd:10/1@${T - 50}`, "ann:12", `upd:12/0@${T - 10}`, "node:1", "node:3"]
          .sort()
      )
      expect(sent.indexOf("ann:10")).toBeLessThan(sent.indexOf(`upd:10/0@${T - 100}`))
      expect(sent.indexOf("ann:12")).toBeLessThan(sent.indexOf(`upd:12/0@${T - 10}`))
      expect(sent.slice(5).sort()).toEqual(["node:1", "node:3"])
      expect(yield* h.internals.remoteHorizon).toEqual(Option.some({ firstTimestamp: T - 1000, timestampRange: 2000 }))
      yield* settle
      expect(yield* h.sp.drain).toEqual([])
    }))

  it.scoped("GS-44: a second filter while the backlog runs is stored but not dumped again; after it ends a new one dumps", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { peerBytesPerSecond: 100, peerBurstBytes: 500 } })
      yield* seedTriangle(h)
      yield* h.sp.push(timestampFilter(T - 1000, 2000))
      yield* settle
      expect(yield* h.internals.backlogRunning).toBe(true)
      yield* h.sp.push(timestampFilter(0, U32_MAX))
      yield* settle
      expect(yield* h.internals.remoteHorizon).toEqual(Option.some({ firstTimestamp: 0, timestampRange: U32_MAX }))
      yield* runClock(40)
      expect(yield* h.internals.backlogRunning).toBe(false)
      expect((yield* h.sp.drain).length).toBe(7) // the first dump only
      // GS-45: (0, 2^32-1) means everything
      yield* h.sp.push(timestampFilter(0, U32_MAX))
      yield* runClock(60)
      expect((yield* h.sp.drain).length).toBe(10)
    }))

  it.scoped("GS-44: ignoreHistoricalFilters stores the horizon but dumps nothing", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { ignoreHistoricalFilters: true } })
      yield* seedTriangle(h)
      yield* h.sp.push(timestampFilter(0, U32_MAX))
      yield* settle
      expect(yield* h.internals.remoteHorizon).toEqual(Option.some({ firstTimestamp: 0, timestampRange: U32_MAX }))
      const live = channelUpdate(A, 0, T)
      yield* h.pipeline.publish([{ message: live, fromPeer: "elsewhere" }])
      expect(describeSent(yield* h.sp.next)).toBe(`upd:10/0@${T}`) // the first thing sent is live gossip
    }))

  it.scoped("GS-42 (port decision): noTimestampQueries does not silence the peer — its filters are still served", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { noTimestampQueries: true } })
      yield* seedTriangle(h)
      yield* h.sp.push(timestampFilter(0, U32_MAX))
      expect((yield* takeN(h, 10)).length).toBe(10)
    }))

  it.scoped("GS-42: one filter queued at most — a third filter while the processor waits is dropped", () =>
    Effect.gen(function* () {
      const settings = testSettings({ filterConcurrency: 1 })
      const shared = yield* makeShared(settings)
      const h = yield* startSyncer({ shared, settings: { filterConcurrency: 1 } })
      yield* shared.filterSemaphore.take(1) // someone else's backlog holds the only permit
      yield* h.sp.push(timestampFilter(1, 1))
      yield* settle
      yield* h.sp.push(timestampFilter(2, 2), timestampFilter(3, 3))
      yield* settle
      expect(yield* h.internals.remoteHorizon).toEqual(Option.some({ firstTimestamp: 1, timestampRange: 1 }))
      yield* shared.filterSemaphore.release(1)
      yield* settle
      expect(yield* h.internals.remoteHorizon).toEqual(Option.some({ firstTimestamp: 2, timestampRange: 2 }))
      yield* settle
      expect(yield* h.internals.remoteHorizon).toEqual(Option.some({ firstTimestamp: 2, timestampRange: 2 }))
    }))

  it.scoped("GS-44/SM-31: the shared filter semaphore makes a second peer's backlog wait for the first one's", () =>
    Effect.gen(function* () {
      const settings = testSettings({ filterConcurrency: 1 })
      const shared = yield* makeShared(settings)
      const slow = yield* startSyncer({
        shared,
        settings: { filterConcurrency: 1, peerBytesPerSecond: 100, peerBurstBytes: 500 }
      })
      yield* seedTriangle(slow)
      const fast = yield* startSyncer({ shared, store: slow.store, id: 2, keepClock: true })
      yield* slow.sp.push(timestampFilter(0, U32_MAX))
      yield* settle
      yield* fast.sp.push(timestampFilter(0, U32_MAX))
      yield* settle
      expect(yield* fast.internals.remoteHorizon).toEqual(Option.some({ firstTimestamp: 0, timestampRange: U32_MAX }))
      expect(yield* fast.sp.drain).toEqual([])
      yield* runClock(60)
      expect(yield* slow.internals.backlogRunning).toBe(false)
      expect((yield* fast.sp.drain).length).toBe(10)
    }))

  it.scoped("GS-44: a filter for another chain is ignored", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* seedTriangle(h)
      yield* h.sp.push({ ...timestampFilter(0, U32_MAX), chainHash: OTHER_CHAIN } as Message)
      yield* settle
      expect(yield* h.internals.remoteHorizon).toEqual(Option.none())
      expect(yield* h.sp.drain).toEqual([])
    }))
})

describe("GossipSyncer live gossip forwarding (GS-46/47)", () => {
  const other = "02" + "ab".repeat(32)
  const publish = (h: Harness, ...messages: ReadonlyArray<Message>) =>
    h.pipeline.publish(messages.map((message) => ({ message: message as ChannelUpdate, fromPeer: other })))

  it.scoped("GS-47: a peer that never sent a filter receives no live gossip", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* publish(h, channelUpdate(A, 0, T))
      yield* settle
      expect(yield* h.sp.drain).toEqual([])
    }))

  it.scoped("GS-46: updates and node announcements pass at first and inside the window, not at its end", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { ignoreHistoricalFilters: true } })
      yield* h.sp.push(timestampFilter(T, 100))
      yield* settle
      yield* publish(
        h,
        channelUpdate(A, 0, T - 1),
        channelUpdate(A, 0, T),
        channelUpdate(A, 1, T + 99),
        channelUpdate(B, 0, T + 100)
      )
      yield* publish(h, nodeAnnouncement(nodeId(1), T + 100), nodeAnnouncement(nodeId(2), T + 50))
      expect(yield* takeN(h, 3)).toEqual([`upd:10/0@${T}`, `upd:10/1@${T + 99}`, "node:2"])
      yield* settle
      expect(yield* h.sp.drain).toEqual([])
    }))

  it.scoped("SM-34: remote gossip accepted while the graph is not synced is not relayed; after it is, it is", () =>
    Effect.gen(function* () {
      const synced = yield* Ref.make(false)
      const h = yield* startSyncer({ settings: { ignoreHistoricalFilters: true }, isGraphSynced: Ref.get(synced) })
      yield* h.sp.push(timestampFilter(0, U32_MAX))
      yield* settle
      yield* publish(h, channelUpdate(A, 0, T))
      yield* settle
      expect(yield* h.sp.drain).toEqual([])
      yield* Ref.set(synced, true)
      yield* publish(h, channelUpdate(B, 0, T))
      expect(yield* takeN(h, 1)).toEqual([`upd:11/0@${T}`])
    }))

  it.scoped("GS-45/GS-46: the window end is computed without u32 wrap", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { ignoreHistoricalFilters: true } })
      yield* h.sp.push(timestampFilter(U32_MAX - 10, 100))
      yield* settle
      yield* publish(h, channelUpdate(A, 0, U32_MAX - 1))
      expect(yield* takeN(h, 1)).toEqual([`upd:10/0@${U32_MAX - 1}`])
    }))

  it.scoped("GS-46: gossip that came from this very peer is not echoed back", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { ignoreHistoricalFilters: true } })
      yield* h.sp.push(timestampFilter(0, U32_MAX))
      yield* settle
      yield* h.pipeline.publish([{ message: channelUpdate(A, 0, T), fromPeer: h.sp.peer.nodeIdHex }])
      yield* publish(h, channelUpdate(B, 0, T))
      expect(yield* takeN(h, 1)).toEqual([`upd:11/0@${T}`])
    }))

  it.scoped("GS-46: an announcement passes when one of its updates (same batch, else stored) passes", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { ignoreHistoricalFilters: true } })
      yield* seedTriangle(h) // A's stored updates: T-100, T-50; B's: T-5000
      yield* h.sp.push(timestampFilter(T - 200, 1000))
      yield* settle
      yield* publish(h, channelAnnouncement(B, nodeId(1), nodeId(3))) // stored update outside: not sent
      yield* publish(h, channelAnnouncement(A, nodeId(1), nodeId(2))) // stored updates inside: sent
      yield* publish(h, channelAnnouncement(C, nodeId(2), nodeId(3)), channelUpdate(C, 0, T)) // same batch
      expect(yield* takeN(h, 3)).toEqual(["ann:10", "ann:12", `upd:12/0@${T}`])
    }))

  it.scoped("GS-46 (port decision): an announcement without any update is held and sent just before its first passing update", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { ignoreHistoricalFilters: true, maxHeldAnnouncements: 2 } })
      yield* h.sp.push(timestampFilter(0, U32_MAX))
      yield* settle
      const D = scid(20, 0, 0)
      const E = scid(21, 0, 0)
      const F = scid(22, 0, 0)
      yield* publish(h, channelAnnouncement(D, nodeId(4), nodeId(5)))
      yield* settle
      expect(yield* h.sp.drain).toEqual([]) // BOLT 7: never an announcement without an update
      expect(yield* h.internals.heldAnnouncements).toBe(1)
      yield* publish(h, channelAnnouncement(E, nodeId(4), nodeId(6)))
      yield* publish(h, channelAnnouncement(F, nodeId(4), nodeId(7))) // bounded: D is evicted
      yield* settle
      expect(yield* h.internals.heldAnnouncements).toBe(2)
      yield* publish(h, channelUpdate(E, 1, T))
      yield* publish(h, channelUpdate(D, 0, T))
      expect(yield* takeN(h, 3)).toEqual(["ann:21", `upd:21/1@${T}`, `upd:20/0@${T}`])
      expect(yield* h.internals.heldAnnouncements).toBe(1)
    }))
})
