import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { encodeMessage } from "../src/domain/Codec.js"
import type { QueryChannelRange, ReplyChannelRange } from "../src/domain/Messages.js"
import { MAX_MESSAGE_SIZE } from "../src/domain/Limits.js"
import { make as scid } from "../src/domain/ShortChannelId.js"
import type { ChannelState } from "../src/services/GraphStore.js"
import type { RangeReplyLimits } from "../src/services/internal/gossipSyncer/rules.js"
import {
  acceptedCount,
  acceptRangeReply,
  chunkLimit,
  chunkReplies,
  groupByBlock,
  lastBlockOf,
  newAccumulator,
  QUERY_FLAG_UPDATE_1,
  QUERY_FLAG_UPDATE_2,
  queryNumBlocks,
  queryStartHeight,
  refreshFlags,
  revivesZombie,
  skipByTimestamps,
  takeInfos,
  U32_MAX,
  wireSize
} from "../src/services/internal/gossipSyncer/rules.js"
import { CHAIN, nodeId } from "./support/gossip.js"
import { rangeReply as reply } from "./support/syncerHarness.js"

const NOW = 1_700_000_000
const DAY = 24 * 3600
const WINDOW = 14 * DAY
const limits: RangeReplyLimits = { maxReplies: 500, maxScids: 100_000, staleAfterSeconds: WINDOW, nowSeconds: NOW }

const query = (first: number, count: number): QueryChannelRange => ({
  _tag: "QueryChannelRange",
  chainHash: CHAIN,
  firstBlocknum: first,
  numberOfBlocks: count,
  queryOption: undefined,
  unknownTlvs: []
})

const run = (q: QueryChannelRange, replies: ReadonlyArray<ReplyChannelRange>, lim: RangeReplyLimits = limits) => {
  const acc = newAccumulator(q)
  const outcomes = replies.map((r) => acceptRangeReply(acc, r, lim))
  return { acc, outcomes, last: outcomes[outcomes.length - 1] }
}

const channel = (block: number, tx: number, t1 = NOW - DAY, t2 = NOW - DAY): ChannelState => ({
  shortChannelId: scid(block, tx, 0),
  nodeId1: nodeId(1),
  nodeId2: nodeId(2),
  timestamp1: t1,
  timestamp2: t2,
  checksum1: 11,
  checksum2: 22
})

describe("GossipSyncerRules", () => {
  describe("query arithmetic", () => {
    it("GS-8: historical queries start at 0; otherwise 144 blocks below our highest channel", () => {
      expect(queryStartHeight(true, scid(700_000, 1, 0))).toBe(0)
      expect(queryStartHeight(false, undefined)).toBe(0)
      expect(queryStartHeight(false, scid(144, 0, 0))).toBe(0)
      expect(queryStartHeight(false, scid(145, 0, 0))).toBe(1)
      expect(queryStartHeight(false, scid(700_000, 1, 0))).toBe(700_000 - 144)
    })

    it("GS-9: numBlocks = bestHeight - start, never below 1", () => {
      expect(queryNumBlocks(800_000, 0)).toBe(800_000)
      expect(queryNumBlocks(0, 0)).toBe(1)
      expect(queryNumBlocks(100, 200)).toBe(1)
    })

    it("GS-14/GS-33: last block saturates at 2^32-1 and a zero count means the first block", () => {
      expect(lastBlockOf(10, 0)).toBe(10)
      expect(lastBlockOf(10, 1)).toBe(10)
      expect(lastBlockOf(0, U32_MAX)).toBe(U32_MAX - 1)
      expect(lastBlockOf(5, U32_MAX)).toBe(U32_MAX)
      expect(lastBlockOf(U32_MAX, U32_MAX)).toBe(U32_MAX)
    })
  })

  describe("reply_channel_range coverage (GS-13/14/19)", () => {
    it("GS-13/GS-19: legacy replies (echoing the query) complete only on complete=1", () => {
      const { last, outcomes } = run(query(0, 1000), [
        reply(0, 1000, [scid(1, 0, 0)], { syncComplete: 0 }),
        reply(0, 1000, [scid(2, 0, 0)], { syncComplete: 0 }),
        reply(0, 1000, [scid(900, 0, 0)], { syncComplete: 1 })
      ])
      expect(outcomes.slice(0, 2)).toEqual([{ complete: false }, { complete: false }])
      expect(last).toEqual({ complete: true })
    })

    it("GS-19: non-legacy completion is by coverage; sync_complete is ignored", () => {
      const early = run(query(0, 1000), [reply(0, 500, [], { syncComplete: 1 })])
      expect(early.last).toEqual({ complete: false })
      const late = run(query(0, 1000), [reply(0, 500), reply(500, 500, [], { syncComplete: 0 })])
      expect(late.last).toEqual({ complete: true })
    })

    it("GS-14: contiguous and same-block continuation accepted", () => {
      const { outcomes } = run(query(100, 300), [
        reply(100, 100, [scid(150, 0, 0), scid(199, 0, 0)]),
        reply(199, 101, [scid(199, 1, 0), scid(250, 0, 0)]), // continues block 199
        reply(300, 100, [scid(399, 0, 0)])
      ])
      expect(outcomes).toEqual([{ complete: false }, { complete: false }, { complete: true }])
    })

    const violation = (q: QueryChannelRange, replies: ReadonlyArray<ReplyChannelRange>) => {
      const { last } = run(q, replies)
      return last !== undefined && "error" in last ? last.error.violation : undefined
    }

    it("GS-14: a gap between replies is rejected", () => {
      expect(violation(query(0, 1000), [reply(0, 100), reply(101, 899)])).toBe("Gap")
    })

    it("GS-14: an overlap (going back) is rejected", () => {
      expect(violation(query(0, 1000), [reply(0, 100), reply(50, 950)])).toBe("Overlap")
    })

    it("GS-14: a first reply starting after the query's first block is rejected", () => {
      expect(violation(query(100, 100), [reply(101, 99)])).toBe("StartsAfterQuery")
    })

    it("GS-14 (port decision): a first reply starting before the query is clamped and accepted", () => {
      const { last } = run(query(100, 100), [reply(50, 150, [scid(60, 0, 0), scid(150, 0, 0)])])
      expect(last).toEqual({ complete: true })
    })

    it("GS-14 (port decision): a reply ending past the query's last block is clamped and completes it", () => {
      const { last, acc } = run(query(100, 100), [reply(100, 50), reply(150, 1000, [scid(160, 0, 0)])])
      expect(last).toEqual({ complete: true })
      expect(acc.coveredTo).toBe(199)
    })

    it("GS-14: a reply entirely before the query is rejected", () => {
      expect(violation(query(100, 100), [reply(10, 5)])).toBe("OutsideQuery")
    })

    it("GS-14: number_of_blocks = 0 covers exactly its first block", () => {
      const q = query(100, 2)
      expect(run(q, [reply(100, 0)]).last).toEqual({ complete: false })
      expect(run(q, [reply(100, 0), reply(101, 0)]).last).toEqual({ complete: true })
      expect(run(query(100, 0), [reply(100, 0)]).last).toEqual({ complete: true })
    })

    it("GS-14: first + num overflowing u32 on both query and reply saturates instead of wrapping", () => {
      const q = query(U32_MAX - 10, U32_MAX)
      expect(run(q, [reply(U32_MAX - 10, U32_MAX)]).last).toEqual({ complete: true })
      expect(run(q, [reply(U32_MAX - 10, 5), reply(U32_MAX - 5, U32_MAX)]).last).toEqual({ complete: true })
    })

    it("LDK: non-final replies declared one block short (next starts at that block) are accepted, no scid lost", () => {
      // LDK: number_of_blocks = block(last scid) - first; the next reply starts at that block
      const { last, acc } = run(query(0, 1000), [
        reply(0, 300, [scid(100, 0, 0), scid(300, 0, 0)]),
        reply(300, 400, [scid(300, 1, 0), scid(700, 0, 0)]),
        reply(700, 300, [scid(700, 5, 0), scid(999, 0, 0)])
      ])
      expect(last).toEqual({ complete: true })
      expect(acc.infos.map((i) => i.shortChannelId)).toEqual([
        scid(100, 0, 0),
        scid(300, 0, 0),
        scid(300, 1, 0),
        scid(700, 0, 0),
        scid(700, 5, 0),
        scid(999, 0, 0)
      ])
    })

    it("GS-14: scids two blocks past a reply, or past a final reply, are rejected", () => {
      expect(violation(query(0, 1000), [reply(0, 300, [scid(301, 0, 0)])])).toBe("ScidOutsideRange")
      expect(violation(query(0, 1000), [reply(0, 500), reply(500, 500, [scid(1000, 0, 0)])])).toBe("ScidOutsideRange")
    })

    it("GS-14: a scid repeated across replies (overlapping content) is rejected", () => {
      expect(
        violation(query(0, 1000), [
          reply(0, 300, [scid(200, 0, 0), scid(299, 0, 0)]),
          reply(299, 701, [scid(299, 0, 0)])
        ])
      ).toBe("ScidsNotAscending")
    })

    it("GS-12: a reply for another chain is rejected", () => {
      expect(violation(query(0, 10), [reply(0, 10, [], { chainHash: new Uint8Array(32) })])).toBe("WrongChain")
    })
  })

  describe("budgets (GS-15/16)", () => {
    const partial = (i: number, encoding: 0 | 1 = 0) =>
      reply(i, 1, [], { shortIds: { encoding, ids: [] }, syncComplete: 0 })

    it("GS-15: 500 plain replies without reaching the end is an error (port decision, not a silent partial)", () => {
      const replies = Array.from({ length: 500 }, (_, i) => partial(i))
      const { outcomes } = run(query(0, 10_000), replies)
      expect(outcomes.slice(0, 499).every((o) => "complete" in o && !o.complete)).toBe(true)
      expect(outcomes[499]).toMatchObject({ error: { violation: "ReplyBudgetExhausted" } })
    })

    it("GS-15: 125 zlib replies exhaust the budget (each costs 4)", () => {
      const replies = Array.from({ length: 125 }, (_, i) => partial(i, 1))
      const { outcomes } = run(query(0, 10_000), replies)
      expect(outcomes[123]).toEqual({ complete: false })
      expect(outcomes[124]).toMatchObject({ error: { violation: "ReplyBudgetExhausted" } })
    })

    it("GS-15: the 500th reply may still complete the range", () => {
      const replies = Array.from({ length: 499 }, (_, i) => partial(i))
      const { last } = run(query(0, 500), [...replies, reply(499, 1)])
      expect(last).toEqual({ complete: true })
    })

    it("GS-16: 100,000 scids in one reply are accepted, 100,001 across replies are not (checked before buffering)", () => {
      const ids = Array.from({ length: 100_000 }, (_, i) => scid(1 + Math.floor(i / 1000), i % 1000, 0))
      const one = run(query(0, 1000), [reply(0, 1000, ids, { shortIds: { encoding: 1, ids } })])
      expect(one.last).toEqual({ complete: true })
      expect(one.acc.scids).toBe(100_000)

      const acc = newAccumulator(query(0, 1000))
      const first = ids.slice(0, 60_000) // blocks 1..60
      expect(acceptRangeReply(acc, reply(0, 61, first), limits)).toEqual({ complete: false })
      const before = acc.infos.length
      const over = [...ids.slice(60_000), scid(150, 0, 0)] // 40,001 more in blocks 61..150
      expect(acceptRangeReply(acc, reply(61, 939, over), limits)).toMatchObject({
        error: { violation: "TooManyScids" }
      })
      expect(acceptRangeReply(acc, reply(61, 939, over.slice(0, 40_000)), limits)).toEqual({ complete: true })
      expect(before).toBe(60_000)
      expect(acc.infos.length).toBe(100_000)
    })
  })

  describe("timestamps (GS-18, GS-20)", () => {
    const fresh = NOW - DAY
    const stale = NOW - 15 * DAY
    const skewed = NOW + 15 * DAY
    const ts = (timestamp1: number, timestamp2: number) => ({ timestamp1, timestamp2 })

    it("GS-18: (stale, stale), (skewed, skewed), (stale, skewed) are skipped; (0, fresh), (fresh, fresh) kept", () => {
      expect(skipByTimestamps(ts(stale, stale), NOW, WINDOW)).toBe(true)
      expect(skipByTimestamps(ts(skewed, skewed), NOW, WINDOW)).toBe(true)
      expect(skipByTimestamps(ts(stale, skewed), NOW, WINDOW)).toBe(true)
      expect(skipByTimestamps(ts(skewed, stale), NOW, WINDOW)).toBe(true)
      expect(skipByTimestamps(ts(0, 0), NOW, WINDOW)).toBe(true)
      expect(skipByTimestamps(ts(0, fresh), NOW, WINDOW)).toBe(false)
      expect(skipByTimestamps(ts(fresh, fresh), NOW, WINDOW)).toBe(false)
      expect(skipByTimestamps(ts(fresh, skewed), NOW, WINDOW)).toBe(false)
    })

    it("GS-18: skipped scids are counted against GS-16 but never buffered", () => {
      const ids = [scid(1, 0, 0), scid(2, 0, 0), scid(3, 0, 0)]
      const { acc, last } = run(query(0, 10), [
        reply(0, 10, ids, {
          timestamps: { encoding: 0, entries: [ts(stale, stale), ts(0, fresh), ts(skewed, skewed)] }
        })
      ])
      expect(last).toEqual({ complete: true })
      expect(acc.scids).toBe(3)
      expect(acc.infos.map((i) => i.shortChannelId)).toEqual([scid(2, 0, 0)])
      expect(acc.skipped).toBe(2)
    })

    it("issue 18: taken channels leave the accumulator; the accepted count keeps them", () => {
      const q = query(0, 10)
      const acc = newAccumulator(q)
      const oneStale = { timestamps: { encoding: 0 as const, entries: [ts(fresh, fresh), ts(stale, stale)] } }
      expect(acceptRangeReply(acc, reply(0, 5, [scid(1, 0, 0), scid(2, 0, 0)], oneStale), limits)).toEqual({
        complete: false
      })
      expect(takeInfos(acc).map((i) => i.shortChannelId)).toEqual([scid(1, 0, 0)])
      expect(acc.infos).toEqual([])
      expect(acceptedCount(acc)).toBe(1)
      expect(acceptRangeReply(acc, reply(5, 5, [scid(6, 0, 0), scid(7, 0, 0)]), limits)).toEqual({ complete: true })
      expect(takeInfos(acc).map((i) => i.shortChannelId)).toEqual([scid(6, 0, 0), scid(7, 0, 0)])
      expect(acceptedCount(acc)).toBe(3)
      expect(takeInfos(acc)).toEqual([])
    })

    it("GS-18: a timestamp or checksum count that differs from the scid count is an error", () => {
      const ids = [scid(1, 0, 0), scid(2, 0, 0)]
      const { last } = run(query(0, 10), [
        reply(0, 10, ids, { timestamps: { encoding: 0, entries: [ts(fresh, fresh)] } })
      ])
      expect(last).toMatchObject({ error: { violation: "TlvCountMismatch" } })
      const { last: last2 } = run(query(0, 10), [reply(0, 10, ids, { checksums: [{ checksum1: 1, checksum2: 2 }] })])
      expect(last2).toMatchObject({ error: { violation: "TlvCountMismatch" } })
    })

    it("GS-20: a zombie is revived only by a fresh timestamp", () => {
      const info = (t?: { timestamp1: number; timestamp2: number }) => ({
        shortChannelId: scid(1, 0, 0),
        timestamps: t,
        checksums: undefined
      })
      expect(revivesZombie(info(), NOW, WINDOW)).toBe(false)
      expect(revivesZombie(info(ts(stale, 0)), NOW, WINDOW)).toBe(false)
      expect(revivesZombie(info(ts(stale, fresh)), NOW, WINDOW)).toBe(true)
    })

    it("extended queries: a known channel is refreshed only for newer, different updates (Eclair/CLN)", () => {
      const ours = channel(10, 1, NOW - 5 * DAY, NOW - 5 * DAY)
      const info = (t1: number, t2: number, c1?: number, c2?: number) => ({
        shortChannelId: ours.shortChannelId,
        timestamps: ts(t1, t2),
        checksums: c1 === undefined ? undefined : { checksum1: c1, checksum2: c2 ?? 0 }
      })
      expect(refreshFlags(ours, info(NOW - 5 * DAY, NOW - 6 * DAY), NOW, WINDOW)).toBe(0n)
      expect(refreshFlags(ours, info(NOW - DAY, NOW - 6 * DAY), NOW, WINDOW)).toBe(QUERY_FLAG_UPDATE_1)
      expect(refreshFlags(ours, info(NOW - DAY, NOW - DAY), NOW, WINDOW)).toBe(
        QUERY_FLAG_UPDATE_1 | QUERY_FLAG_UPDATE_2
      )
      // newer but same content (keep-alive) and ours is not about to go stale: not worth fetching
      expect(refreshFlags(ours, info(NOW - DAY, NOW - DAY, 11, 99), NOW, WINDOW)).toBe(QUERY_FLAG_UPDATE_2)
      // ours about to go stale: the keep-alive is fetched
      const old = channel(10, 1, NOW - 13.5 * DAY, NOW - 13.5 * DAY)
      expect(refreshFlags(old, info(NOW - DAY, NOW - 20 * DAY, 11, 22), NOW, WINDOW)).toBe(QUERY_FLAG_UPDATE_1)
      // the peer's newer update is itself stale or skewed: not fetched
      const older = channel(10, 1, NOW - 30 * DAY, NOW - 30 * DAY)
      expect(refreshFlags(older, info(NOW - 20 * DAY, NOW + 20 * DAY), NOW, WINDOW)).toBe(0n)
      // checksums only: fetched when different
      const ck = {
        shortChannelId: ours.shortChannelId,
        timestamps: undefined,
        checksums: { checksum1: 11, checksum2: 23 }
      }
      expect(refreshFlags(ours, ck, NOW, WINDOW)).toBe(QUERY_FLAG_UPDATE_2)
    })
  })

  describe("reply chunking (GS-34/35/36)", () => {
    const sum = (chunks: ReturnType<typeof chunkReplies>) =>
      chunks.reduce((n, c) => n + c.lastBlock - c.firstBlock + 1, 0)
    const blocks = (spec: ReadonlyArray<readonly [number, number]>) =>
      groupByBlock(spec.flatMap(([b, n]) => Array.from({ length: n }, (_, i) => channel(b, i))))

    it("GS-34: 8000 scids plain, 4000 with timestamps, 2666 with timestamps and checksums", () => {
      expect(chunkLimit(8000, false, false)).toBe(8000)
      expect(chunkLimit(8000, true, false)).toBe(4000)
      expect(chunkLimit(8000, false, true)).toBe(4000)
      expect(chunkLimit(8000, true, true)).toBe(2666)
    })

    it("GS-35: an empty result still yields exactly one reply covering the query", () => {
      expect(chunkReplies(100, 199, [], 10)).toEqual([{
        firstBlock: 100,
        lastBlock: 199,
        channels: [],
        complete: true
      }])
    })

    it("GS-35: an exact fit stays one reply", () => {
      const chunks = chunkReplies(0, 999, blocks([[10, 4], [20, 6]]), 10)
      expect(chunks.map((c) => [c.firstBlock, c.lastBlock, c.channels.length, c.complete])).toEqual([[
        0,
        999,
        10,
        true
      ]])
    })

    it("GS-35: a block that does not fit starts the next reply; blocks are never split", () => {
      const chunks = chunkReplies(0, 999, blocks([[10, 6], [20, 6], [30, 3]]), 10)
      expect(chunks.map((c) => [c.firstBlock, c.lastBlock, c.channels.length, c.complete])).toEqual([
        [0, 19, 6, false],
        [20, 999, 9, true]
      ])
    })

    it("GS-35: an oversized first block at the query's first block sends no empty prefix", () => {
      const chunks = chunkReplies(10, 999, blocks([[10, 12], [20, 1]]), 10, (b, n) => b.slice(0, n))
      expect(chunks.map((c) => [c.firstBlock, c.lastBlock, c.channels.length])).toEqual([
        [10, 19, 10],
        [20, 999, 1]
      ])
    })

    it("GS-35: an oversized first block after the query's first block gets an empty prefix reply", () => {
      const chunks = chunkReplies(0, 999, blocks([[50, 12]]), 10, (b, n) => b.slice(2, 2 + n))
      expect(chunks.map((c) => [c.firstBlock, c.lastBlock, c.channels.length])).toEqual([
        [0, 49, 0],
        [50, 999, 10]
      ])
    })

    it("GS-35: an oversized middle block gets its own reply", () => {
      const chunks = chunkReplies(0, 99, blocks([[10, 3], [50, 13], [60, 2]]), 10, (b, n) => b.slice(0, n))
      expect(chunks.map((c) => [c.firstBlock, c.lastBlock, c.channels.length])).toEqual([
        [0, 49, 3],
        [50, 59, 10],
        [60, 99, 2]
      ])
    })

    it("GS-35/36: replies are ascending, contiguous, cover the query exactly and lose no scid (property)", () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 1000 }),
          fc.integer({ min: 1, max: 2000 }),
          fc.array(fc.tuple(fc.integer({ min: 0, max: 2999 }), fc.integer({ min: 1, max: 12 })), { maxLength: 60 }),
          fc.integer({ min: 1, max: 12 }),
          (first, count, spec, limit) => {
            const last = first + count - 1
            const byBlock = new Map<number, number>()
            for (const [b, n] of spec) if (b >= first && b <= last) byBlock.set(b, n)
            const gs = blocks([...byBlock.entries()].sort((a, b) => a[0] - b[0]))
            const trimmed = gs.map((g) => (g.length > limit ? g.slice(g.length - limit) : g))
            const chunks = chunkReplies(first, last, gs, limit, (b, n) => b.slice(b.length - n))
            expect(chunks[0].firstBlock).toBe(first)
            expect(chunks[chunks.length - 1].lastBlock).toBe(last)
            expect(sum(chunks)).toBe(count)
            for (let i = 1; i < chunks.length; i++) expect(chunks[i].firstBlock).toBe(chunks[i - 1].lastBlock + 1)
            expect(chunks.filter((c) => c.complete).length).toBe(1)
            expect(chunks[chunks.length - 1].complete).toBe(true)
            const all = chunks.flatMap((c) => c.channels.map((ch) => ch.shortChannelId))
            expect(all).toEqual(trimmed.flat().map((c) => c.shortChannelId))
            for (const c of chunks) {
              expect(c.channels.length).toBeLessThanOrEqual(limit)
              for (const ch of c.channels) {
                const h = Number(ch.shortChannelId >> 40n)
                expect(h >= c.firstBlock && h <= c.lastBlock).toBe(true)
              }
            }
          }
        ),
        { numRuns: 300 }
      )
    })
  })

  describe("wire sizes (GS-48)", () => {
    it("wireSize equals the codec's encoded length for every query message shape, and replies fit 65,535 bytes", () => {
      const ids = Array.from({ length: 2666 }, (_, i) => scid(100, i, 0))
      const full: ReplyChannelRange = reply(0, 1000, ids, {
        timestamps: { encoding: 0, entries: ids.map(() => ({ timestamp1: 1, timestamp2: 2 })) },
        checksums: ids.map(() => ({ checksum1: 3, checksum2: 4 }))
      })
      const withTs: ReplyChannelRange = reply(
        0,
        1000,
        ids.concat(Array.from({ length: 1334 }, (_, i) => scid(101, i, 0))),
        {}
      )
      const ts4000: ReplyChannelRange = {
        ...withTs,
        timestamps: { encoding: 0, entries: withTs.shortIds.ids.map(() => ({ timestamp1: 1, timestamp2: 2 })) }
      }
      const plain8000 = reply(0, 1000, Array.from({ length: 8000 }, (_, i) => scid(100, i, 0)))
      const messages = [
        full,
        ts4000,
        plain8000,
        reply(0, 1, []),
        {
          _tag: "QueryChannelRange" as const,
          chainHash: CHAIN,
          firstBlocknum: 0,
          numberOfBlocks: 5,
          queryOption: 3n,
          unknownTlvs: []
        },
        query(0, 5),
        {
          _tag: "QueryShortChannelIds" as const,
          chainHash: CHAIN,
          shortIds: { encoding: 0 as const, ids: ids.slice(0, 500) },
          queryFlags: { encoding: 0 as const, flags: ids.slice(0, 500).map((_, i) => BigInt(i % 2 === 0 ? 31 : 300)) },
          unknownTlvs: []
        },
        { _tag: "ReplyShortChannelIdsEnd" as const, chainHash: CHAIN, fullInformation: 1 },
        { _tag: "GossipTimestampFilter" as const, chainHash: CHAIN, firstTimestamp: 1, timestampRange: 2 }
      ]
      for (const m of messages) expect(wireSize(m)).toBe(encodeMessage(m).length)
      for (const m of [full, ts4000, plain8000]) expect(encodeMessage(m).length).toBeLessThan(MAX_MESSAGE_SIZE)
    })
  })
})
