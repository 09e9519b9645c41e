import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Exit, Fiber, Option, Stream, SubscriptionRef, TestClock } from "effect"
import type { Message, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange } from "../src/domain/Messages.js"
import { make as scid } from "../src/domain/ShortChannelId.js"
import type { GossipSyncer, SyncerState } from "../src/services/GossipSyncer.js"
import { isActiveSync } from "../src/services/GossipSyncer.js"
import { U32_MAX } from "../src/services/internal/gossipSyncer/rules.js"
import type { ScriptedPeer } from "./support/ScriptedPeer.js"
import { CHAIN, channelAnnouncement, channelUpdate, nodeId } from "./support/gossip.js"
import {
  awaitSleeper,
  awaitState,
  BEST_HEIGHT,
  rangeQuery,
  rangeReply,
  scidEnd,
  scidQuery,
  seed,
  settle,
  startSyncer,
  TEST_NOW
} from "./support/syncerHarness.js"

const DAY = 24 * 3600
const asRange = (m: Message): QueryChannelRange => {
  expect(m._tag).toBe("QueryChannelRange")
  return m as QueryChannelRange
}
const asScids = (m: Message): QueryShortChannelIds => {
  expect(m._tag).toBe("QueryShortChannelIds")
  return m as QueryShortChannelIds
}
const asReply = (m: Message): ReplyChannelRange => {
  expect(m._tag).toBe("ReplyChannelRange")
  return m as ReplyChannelRange
}
const ids = (n: number, block = 100) =>
  Array.from({ length: n }, (_, i) => scid(block + Math.floor(i / 1000), i % 1000, 0))

const startHistorical = (h: { readonly syncer: GossipSyncer; readonly sp: ScriptedPeer }) =>
  Effect.gen(function* () {
    yield* h.syncer.historicalSync
    const signal = yield* h.syncer.resetSyncedSignal
    const query = asRange(yield* h.sp.nextMessage)
    return { signal, query }
  })

describe("GossipSyncer state machine", () => {
  it.scoped("GS-29/GS-8/GS-9/GS-21/GS-22/GS-20: a full historical sync, observed state by state", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const seen: Array<SyncerState> = []
      yield* h.syncer.state.changes.pipe(
        Stream.runForEach((s) => Effect.sync(() => seen.push(s))),
        Effect.forkScoped
      )
      yield* settle
      yield* h.syncer.historicalSync
      const signal = yield* h.syncer.resetSyncedSignal
      const q = asRange(yield* h.sp.nextMessage)
      expect(q.firstBlocknum).toBe(0) // GS-8: historical
      expect(q.numberOfBlocks).toBe(BEST_HEIGHT) // GS-9
      expect(q.queryOption).toBeUndefined() // GS-10: peer without gossip_queries_ex
      const wanted = [scid(100, 1, 0), scid(200, 2, 1)]
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, wanted))
      const sq = asScids(yield* h.sp.nextMessage)
      expect(sq.shortIds.ids).toEqual(wanted)
      expect(sq.queryFlags).toBeUndefined() // GS-21: plain peer, no query_flags
      yield* h.sp.push(channelAnnouncement(wanted[0], nodeId(1), nodeId(2)), scidEnd(1))
      yield* signal
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("chansSynced")
      expect(yield* h.graphSynced).toBe(1)
      expect(seen).toEqual([
        "chansSynced",
        "syncingChans",
        "waitingQueryRangeReply",
        "queryNewChannels",
        "waitingQueryChanReply",
        "queryNewChannels",
        "chansSynced"
      ])
      // the gossip went to the pipeline, not to the state machine
      const submitted = yield* h.pipeline.submitted
      expect(submitted.map((s) => s.message._tag)).toEqual(["ChannelAnnouncement"])
      expect(submitted[0].fromPeer).toBe(h.sp.peer.nodeIdHex)
      expect(yield* h.sp.drain).toEqual([]) // passive: no horizon sent
    }))

  it.scoped("GS-1/GS-2/GS-23/GS-25: an Active syncer in chansSynced sends one horizon (now, 2^32-1) and never a query", () =>
    Effect.gen(function* () {
      expect(isActiveSync("ActiveSync")).toBe(true)
      expect(isActiveSync("PinnedSync")).toBe(true)
      expect(isActiveSync("PassiveSync")).toBe(false)
      const h = yield* startSyncer({ syncType: "ActiveSync" })
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("chansSynced")
      expect(yield* h.sp.nextMessage).toEqual({
        _tag: "GossipTimestampFilter",
        chainHash: CHAIN,
        firstTimestamp: TEST_NOW,
        timestampRange: U32_MAX
      })
      yield* TestClock.adjust(Duration.hours(2))
      yield* settle
      expect(yield* h.sp.drain).toEqual([]) // GS-1: no reconciliation on its own
      expect(yield* h.internals.localHorizon).toEqual(
        Option.some({ firstTimestamp: TEST_NOW, timestampRange: U32_MAX })
      )
    }))

  it.scoped("GS-1/GS-2: a Passive syncer sends nothing; a Pinned one starts idle and sends its horizon only once synced", () =>
    Effect.gen(function* () {
      const passive = yield* startSyncer({ syncType: "PassiveSync" })
      const pinned = yield* startSyncer({ syncType: "PinnedSync", initialState: "syncerIdle", id: 2 })
      expect(yield* SubscriptionRef.get(pinned.syncer.state)).toBe("syncerIdle")
      expect(yield* passive.sp.drain).toEqual([])
      expect(yield* pinned.sp.drain).toEqual([])
      const { signal } = yield* startHistorical(pinned)
      yield* pinned.sp.push(rangeReply(0, BEST_HEIGHT, []))
      yield* signal
      expect(yield* pinned.sp.nextMessage).toMatchObject({ _tag: "GossipTimestampFilter", timestampRange: U32_MAX })
      expect(yield* pinned.graphSynced).toBe(1)
    }))

  it.scoped("GS-4: run is idempotent and interrupting it stops every fiber; requests then fail with Exiting", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const second = yield* Effect.fork(Effect.scoped(h.run))
      expect(Exit.isSuccess(yield* Fiber.await(second))).toBe(true) // returns at once
      yield* h.sp.push(rangeQuery(0, 10))
      expect(asReply(yield* h.sp.nextMessage).firstBlocknum).toBe(0)
      yield* settle
      expect(yield* h.sp.drain).toEqual([]) // answered once: one consumer
      const signal = yield* h.syncer.resetSyncedSignal
      yield* h.syncer.historicalSync
      const armed = yield* h.syncer.resetSyncedSignal
      yield* Fiber.interrupt(h.fiber)
      expect(yield* Effect.either(armed)).toEqual(Either.left(expect.objectContaining({ _tag: "GossipSyncerExiting" })))
      expect(yield* Effect.either(signal)).toEqual(Either.right(undefined)) // fired before the stop
      const t = yield* Effect.either(h.syncer.processSyncTransition("ActiveSync"))
      expect(t).toEqual(Either.left(expect.objectContaining({ _tag: "GossipSyncerExiting" })))
      const hs = yield* Effect.either(h.syncer.historicalSync)
      expect(hs).toEqual(Either.left(expect.objectContaining({ _tag: "GossipSyncerExiting" })))
      yield* h.sp.drain
      yield* h.sp.push(rangeQuery(0, 10))
      yield* settle
      expect(yield* h.sp.drain).toEqual([]) // nobody answers any more
      expect(yield* h.internals.pendingScids).toBe(0)
    }))

  it.scoped("GS-5: replies arriving in chansSynced are dropped and never count for a later query", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [scid(5, 0, 0)]), scidEnd())
      yield* settle
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("chansSynced")
      const { signal } = yield* startHistorical(h)
      yield* settle
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("waitingQueryRangeReply")
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [scid(7, 0, 0)]))
      expect(asScids(yield* h.sp.nextMessage).shortIds.ids).toEqual([scid(7, 0, 0)])
      yield* h.sp.push(scidEnd())
      yield* signal
    }))

  it.scoped("GS-4/GS-5: queries are answered in every state, e.g. while waiting for our own range reply", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* startHistorical(h)
      yield* h.sp.push(rangeQuery(0, 100), scidQuery([scid(1, 0, 0)]))
      expect(asReply(yield* h.sp.nextMessage).numberOfBlocks).toBe(100)
      expect(yield* h.sp.nextMessage).toEqual({ _tag: "ReplyShortChannelIdsEnd", chainHash: CHAIN, fullInformation: 1 })
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("waitingQueryRangeReply")
    }))

  it.scoped("GS-6: the waiting state is entered before each query hits the wire, so an instant reply is accepted", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* h.syncer.historicalSync
      const signal = yield* h.syncer.resetSyncedSignal
      yield* h.sp.next
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("waitingQueryRangeReply")
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [scid(9, 0, 0)]))
      yield* h.sp.next
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("waitingQueryChanReply")
      yield* h.sp.push(scidEnd())
      yield* signal
    }))

  it.scoped("GS-7: an end while waiting for a range reply, or a range reply while waiting for an end, changes nothing", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const { signal } = yield* startHistorical(h)
      yield* h.sp.push(scidEnd())
      yield* settle
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("waitingQueryRangeReply")
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [scid(9, 0, 0), scid(10, 0, 0)]))
      yield* h.sp.next
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [scid(11, 0, 0)]))
      yield* settle
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("waitingQueryChanReply")
      expect(yield* h.sp.drain).toEqual([])
      yield* h.sp.push(scidEnd())
      yield* signal
      expect(yield* h.sp.drain).toEqual([]) // scid 11 was never queried
    }))

  it.scoped("GS-10: with gossip_queries_ex we ask for timestamps and checksums (query_option 3); noTimestampQueries asks for none", () =>
    Effect.gen(function* () {
      const ex = yield* startSyncer({ gossipQueriesEx: true })
      expect((yield* startHistorical(ex)).query.queryOption).toBe(3n)
      const plain = yield* startSyncer({ gossipQueriesEx: true, settings: { noTimestampQueries: true }, id: 2 })
      expect((yield* startHistorical(plain)).query.queryOption).toBeUndefined()
    }))

  it.scoped("GS-8: a non-historical range query (initial state syncingChans) starts 144 blocks below our highest channel", () =>
    Effect.gen(function* () {
      const donor = yield* startSyncer({ id: 77 })
      yield* seed(donor.store, { channels: [channelAnnouncement(scid(700_000, 5, 1), nodeId(1), nodeId(2))] })
      const h = yield* startSyncer({ store: donor.store, initialState: "syncingChans", keepClock: true })
      const q = asRange(yield* h.sp.nextMessage)
      expect([q.firstBlocknum, q.numberOfBlocks]).toEqual([700_000 - 144, BEST_HEIGHT - (700_000 - 144)])
      yield* h.sp.push(rangeReply(q.firstBlocknum, q.numberOfBlocks, []))
      yield* awaitState(h, "chansSynced")
      expect(yield* h.graphSynced).toBe(1)
    }))

  it.scoped("GS-9: bestHeight 0 asks for one block", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { bestHeight: Effect.succeed(0) } })
      const { query } = yield* startHistorical(h)
      expect([query.firstBlocknum, query.numberOfBlocks]).toEqual([0, 1])
    }))

  it.scoped("GS-11: a send failure ends the syncer cleanly (no spinning) and the armed signal fails with Exiting", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* h.sp.failSends(true)
      yield* h.syncer.historicalSync
      const signal = yield* h.syncer.resetSyncedSignal
      const exit = yield* Fiber.await(h.fiber)
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(yield* Effect.either(signal)).toEqual(
        Either.left(expect.objectContaining({ _tag: "GossipSyncerExiting" }))
      )
      expect(yield* h.sp.sentCount).toBe(0)
    }))

  it.scoped("GS-13/GS-19: legacy replies (query echoed, complete 0,0,1) complete only on complete=1", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const { query, signal } = yield* startHistorical(h)
      const echo = (ids: ReadonlyArray<bigint>, complete: number) =>
        rangeReply(query.firstBlocknum, query.numberOfBlocks, ids, { syncComplete: complete })
      yield* h.sp.push(echo([scid(1, 0, 0)], 0), echo([scid(2, 0, 0)], 0))
      yield* settle
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("waitingQueryRangeReply")
      expect(yield* h.internals.bufferedScids).toBe(2)
      yield* h.sp.push(echo([scid(3, 0, 0)], 1))
      expect(asScids(yield* h.sp.nextMessage).shortIds.ids).toEqual([scid(1, 0, 0), scid(2, 0, 0), scid(3, 0, 0)])
      yield* h.sp.push(scidEnd())
      yield* signal
    }))

  it.scoped("GS-14/GS-17: an overlapping (lying) peer fails the sync: typed error, idle state, buffers released, signal failed", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const { signal } = yield* startHistorical(h)
      yield* h.sp.push(rangeReply(0, 400_000, ids(3000)))
      yield* settle
      expect(yield* h.internals.bufferedScids).toBe(3000)
      yield* h.sp.push(rangeReply(300_000, 500_000, [])) // goes back over covered blocks
      const failure = yield* Effect.either(signal)
      expect(failure).toEqual(Either.left(expect.objectContaining({ _tag: "HistoricalSyncFailed" })))
      expect(Either.isLeft(failure) && failure.left._tag === "HistoricalSyncFailed" && failure.left.reason).toMatch(
        /Overlap/
      )
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("syncerIdle")
      expect(yield* h.internals.bufferedScids).toBe(0)
      expect(yield* h.internals.pendingScids).toBe(0)
      expect(Option.isSome(yield* h.internals.lastFailure)).toBe(true)
      expect(yield* h.graphSynced).toBe(0)
      expect(yield* h.sp.drain).toEqual([]) // no SCID query from a failed range
      // a failed sync is not "synced": a new signal waits for a real completion
      const next = yield* h.syncer.resetSyncedSignal
      yield* h.syncer.historicalSync
      asRange(yield* h.sp.nextMessage)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, []))
      yield* next
      // the fiber is alive and answers queries after the failure
      yield* h.sp.push(rangeQuery(0, 5))
      expect(asReply(yield* h.sp.nextMessage).syncComplete).toBe(1)
    }))

  it.scoped("GS-14: a gap, a first reply after the query start and scids outside the declared range all fail the sync", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<[ReadonlyArray<ReplyChannelRange>, RegExp]> = [
        [[rangeReply(0, 1000, []), rangeReply(1001, 10, [])], /Gap/],
        [[rangeReply(5, 10, [])], /StartsAfterQuery/],
        [[rangeReply(0, 1000, [scid(5000, 0, 0)])], /ScidOutsideRange/]
      ]
      let id = 10
      for (const [replies, reason] of cases) {
        const h = yield* startSyncer({ id: id++ })
        const { signal } = yield* startHistorical(h)
        yield* h.sp.push(...replies)
        const r = yield* Effect.either(signal)
        expect(Either.isLeft(r) && r.left._tag === "HistoricalSyncFailed" && r.left.reason).toMatch(reason)
      }
    }))

  it.scoped("GS-15: 500 replies that never cover the range fail the sync (incomplete response, not a silent partial)", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const { signal } = yield* startHistorical(h)
      for (let i = 0; i < 500; i++) yield* h.sp.push(rangeReply(i, 1, [scid(i, 0, 0)], { syncComplete: 0 }))
      const r = yield* Effect.either(signal)
      expect(Either.isLeft(r) && r.left._tag === "HistoricalSyncFailed" && r.left.reason).toMatch(
        /ReplyBudgetExhausted/
      )
      expect(yield* h.internals.bufferedScids).toBe(0)
      expect(yield* h.sp.drain).toEqual([])
    }))

  it.scoped("GS-16: 100,000 scids in one (zlib) reply are taken; 100,001 across replies fail; a disconnect mid-fetch releases all", () =>
    Effect.gen(function* () {
      const many = ids(100_000, 1)
      const h = yield* startSyncer()
      const { signal } = yield* startHistorical(h)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, many, { shortIds: { encoding: 1, ids: many } }))
      expect(asScids(yield* h.sp.nextMessage).shortIds.ids.length).toBe(500)
      expect(yield* h.internals.pendingScids).toBe(99_500)
      expect(yield* h.internals.bufferedScids).toBe(0) // range state already released (GS-20)
      yield* h.sp.disconnect("peer went away")
      yield* Fiber.await(h.fiber)
      expect(yield* h.internals.pendingScids).toBe(0)
      expect(yield* Effect.either(signal)).toEqual(
        Either.left(expect.objectContaining({ _tag: "GossipSyncerExiting" }))
      )

      const over = yield* startSyncer({ id: 2 })
      const o = yield* startHistorical(over)
      yield* over.sp.push(
        rangeReply(0, 101, many, { syncComplete: 0 }),
        rangeReply(102, BEST_HEIGHT, [scid(500, 0, 0)])
      )
      const r = yield* Effect.either(o.signal)
      expect(Either.isLeft(r) && r.left._tag === "HistoricalSyncFailed" && r.left.reason).toMatch(/TooManyScids/)
      expect(yield* over.internals.bufferedScids).toBe(0)
    }))

  it.scoped("GS-18: scids whose timestamps are both stale or skewed are never queried", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ gossipQueriesEx: true })
      const { signal } = yield* startHistorical(h)
      const fresh = TEST_NOW - DAY
      const stale = TEST_NOW - 15 * DAY
      const skewed = TEST_NOW + 15 * DAY
      const list = [scid(1, 0, 0), scid(2, 0, 0), scid(3, 0, 0), scid(4, 0, 0), scid(5, 0, 0)]
      const entries = [
        { timestamp1: stale, timestamp2: stale },
        { timestamp1: skewed, timestamp2: skewed },
        { timestamp1: stale, timestamp2: skewed },
        { timestamp1: 0, timestamp2: fresh },
        { timestamp1: fresh, timestamp2: fresh }
      ]
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, list, { timestamps: { encoding: 0, entries } }))
      const q = asScids(yield* h.sp.nextMessage)
      expect(q.shortIds.ids).toEqual([scid(4, 0, 0), scid(5, 0, 0)])
      yield* h.sp.push(scidEnd())
      yield* signal
    }))

  it.scoped("GS-20: all channels known -> chansSynced and graph synced without any SCID query", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const known = [scid(10, 0, 0), scid(11, 0, 0)]
      yield* seed(h.store, { channels: known.map((s) => channelAnnouncement(s, nodeId(1), nodeId(2))) })
      const { signal } = yield* startHistorical(h)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, known))
      yield* signal
      expect(yield* h.graphSynced).toBe(1)
      expect(yield* h.sp.drain).toEqual([])
    }))

  it.scoped("GS-20: zombies are not fetched again unless the peer's timestamps show a fresh update", () =>
    Effect.gen(function* () {
      const store = (yield* startSyncer({ id: 50 })).store
      const zombie = scid(10, 0, 0)
      yield* seed(store, {
        channels: [channelAnnouncement(zombie, nodeId(1), nodeId(2))],
        updates: [channelUpdate(zombie, 0, TEST_NOW - 30 * DAY)]
      })
      expect((yield* Effect.orDie(store.prune(TEST_NOW - 14 * DAY))).channelsPruned).toBe(1)
      const unknown = scid(20, 0, 0)
      // plain peer: no timestamps, the zombie stays dead
      const plain = yield* startSyncer({ store, id: 51, keepClock: true })
      const p = yield* startHistorical(plain)
      yield* plain.sp.push(rangeReply(0, BEST_HEIGHT, [zombie, unknown]))
      expect(asScids(yield* plain.sp.nextMessage).shortIds.ids).toEqual([unknown])
      yield* plain.sp.push(scidEnd())
      yield* p.signal
      // extended peer with a fresh update for it: revived
      const ex = yield* startSyncer({ store, id: 52, gossipQueriesEx: true, keepClock: true })
      const e = yield* startHistorical(ex)
      yield* ex.sp.push(
        rangeReply(0, BEST_HEIGHT, [zombie], {
          timestamps: { encoding: 0, entries: [{ timestamp1: TEST_NOW - DAY, timestamp2: 0 }] }
        })
      )
      expect(asScids(yield* ex.sp.nextMessage).shortIds.ids).toEqual([zombie])
      yield* ex.sp.push(scidEnd())
      yield* e.signal
    }))

  it.scoped("GS-21: 1, 499, 500, 501, 1000 new scids -> batches 1 / 499 / 500 / 500+1 / 500+500, one at a time (GS-22)", () =>
    Effect.gen(function* () {
      let id = 100
      for (
        const [n, expected] of [
          [1, [1]],
          [499, [499]],
          [500, [500]],
          [501, [500, 1]],
          [1000, [500, 500]]
        ] as const
      ) {
        const h = yield* startSyncer({ id: id++ })
        const { signal } = yield* startHistorical(h)
        const list = ids(n)
        yield* h.sp.push(rangeReply(0, BEST_HEIGHT, list))
        const sizes: Array<number> = []
        const asked: Array<bigint> = []
        while (asked.length < n) {
          const q = asScids(yield* h.sp.nextMessage)
          sizes.push(q.shortIds.ids.length)
          asked.push(...q.shortIds.ids)
          yield* settle
          expect(yield* h.sp.drain).toEqual([]) // GS-22: nothing more until the end arrives
          yield* h.sp.push(scidEnd(0)) // full_information = 0 still advances
        }
        yield* signal
        expect(sizes).toEqual(expected)
        expect(asked).toEqual(list)
      }
    }))

  it.scoped("extended queries: query_flags ask for everything of unknown channels and only newer updates of known ones", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ gossipQueriesEx: true })
      const known = scid(10, 0, 0)
      const same = scid(11, 0, 0)
      const unknown = scid(12, 0, 0)
      const old = TEST_NOW - 5 * DAY
      const u = (s: bigint, d: 0 | 1, t: number) => channelUpdate(s, d, t)
      const ours = [u(known, 0, old), u(known, 1, old), u(same, 0, old), u(same, 1, old)]
      yield* seed(h.store, {
        channels: [channelAnnouncement(known, nodeId(1), nodeId(2)), channelAnnouncement(same, nodeId(1), nodeId(3))],
        updates: ours
      })
      const states = yield* Effect.orDie(h.store.channels([known, same]))
      const { signal } = yield* startHistorical(h)
      const ks = states.get(known)!
      const ss = states.get(same)!
      yield* h.sp.push(
        rangeReply(0, BEST_HEIGHT, [known, same, unknown], {
          timestamps: {
            encoding: 0,
            entries: [
              { timestamp1: old, timestamp2: TEST_NOW - DAY },
              { timestamp1: old, timestamp2: old },
              { timestamp1: TEST_NOW - DAY, timestamp2: TEST_NOW - DAY }
            ]
          },
          checksums: [
            { checksum1: ks.checksum1, checksum2: 12345 },
            { checksum1: ss.checksum1, checksum2: ss.checksum2 },
            { checksum1: 1, checksum2: 2 }
          ]
        })
      )
      const q = asScids(yield* h.sp.nextMessage)
      expect(q.shortIds.ids).toEqual([known, unknown])
      // node announcements are asked for later, by the channels whose announcement arrives (none here)
      expect(q.queryFlags).toEqual({ encoding: 0, flags: [4n, 7n] })
      yield* h.sp.push(scidEnd())
      // ...and, last, for the known channels whose endpoints we hold no announcement of (nodes 1, 2, 3 here):
      // a sync cut off between a channel and its nodes is completed by the next one
      const nodesQuery = asScids(yield* h.sp.nextMessage)
      expect(nodesQuery.shortIds.ids).toEqual([known, same])
      expect(nodesQuery.queryFlags).toEqual({ encoding: 0, flags: [24n, 16n] })
      yield* h.sp.push(scidEnd())
      yield* signal
    }))
})

describe("GossipSyncer node announcements over extended queries", () => {
  it.scoped("BOLT 7 query_flags: each node's announcement is asked for once, one query late, by a channel announced to us", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ gossipQueriesEx: true })
      const [s1, s2, s3] = [scid(10, 0, 0), scid(11, 0, 0), scid(12, 0, 0)]
      const { signal } = yield* startHistorical(h)
      const day = { timestamp1: TEST_NOW - DAY, timestamp2: TEST_NOW - DAY }
      yield* h.sp.push(
        rangeReply(0, BEST_HEIGHT, [s1, s2, s3], {
          timestamps: { encoding: 0, entries: [day, day, day] },
          checksums: [
            { checksum1: 1, checksum2: 2 },
            { checksum1: 1, checksum2: 2 },
            { checksum1: 1, checksum2: 2 }
          ]
        })
      )
      const first = asScids(yield* h.sp.nextMessage)
      expect(first.shortIds.ids).toEqual([s1, s2, s3])
      expect(first.queryFlags?.flags).toEqual([7n, 7n, 7n]) // announcement and both updates, no node yet
      // the peer has announcements for s1 (nodes 1, 2) and s2 (nodes 1, 3), not for s3
      yield* h.sp.push(channelAnnouncement(s1, nodeId(1), nodeId(2)))
      yield* h.sp.push(channelAnnouncement(s2, nodeId(1), nodeId(3)))
      yield* h.sp.push(scidEnd())
      const second = asScids(yield* h.sp.nextMessage)
      expect(second.shortIds.ids).toEqual([s1, s2])
      // node 1 by s1 only; node 3 by s2
      expect(second.queryFlags?.flags).toEqual([24n, 16n])
      yield* settle
      expect(yield* h.sp.drain).toEqual([]) // GS-22: one query outstanding
      yield* h.sp.push(scidEnd())
      yield* signal
      expect(yield* h.sp.drain).toEqual([]) // nothing announced in reply to a node query: done
    }))
})

describe("GossipSyncer transitions and signals", () => {
  it.scoped("GS-24/GS-28: a transition to the same type sends nothing", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* h.syncer.processSyncTransition("PassiveSync")
      yield* settle
      expect(yield* h.sp.drain).toEqual([])
    }))

  it.scoped("GS-25/GS-26/GS-28: Active -> Passive -> Active sends the exact horizons (passive pinned to 0xFFFFFFFF/0)", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ syncType: "ActiveSync" })
      expect(yield* h.sp.nextMessage).toMatchObject({ firstTimestamp: TEST_NOW, timestampRange: U32_MAX })
      yield* TestClock.adjust(Duration.seconds(100))
      yield* h.syncer.processSyncTransition("PassiveSync")
      expect(yield* h.sp.nextMessage).toEqual({
        _tag: "GossipTimestampFilter",
        chainHash: CHAIN,
        firstTimestamp: 0xffffffff,
        timestampRange: 0
      })
      expect(yield* h.syncer.syncType).toBe("PassiveSync")
      expect(yield* h.internals.localHorizon).toEqual(Option.none())
      yield* TestClock.adjust(Duration.seconds(100))
      yield* h.syncer.processSyncTransition("ActiveSync")
      expect(yield* h.sp.nextMessage).toEqual({
        _tag: "GossipTimestampFilter",
        chainHash: CHAIN,
        firstTimestamp: TEST_NOW + 200,
        timestampRange: U32_MAX
      })
      expect(yield* h.syncer.syncType).toBe("ActiveSync")
    }))

  it.scoped("GS-28: a transition whose filter cannot be sent fails and leaves the type unchanged", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* h.sp.failSends(true)
      const r = yield* Effect.either(h.syncer.processSyncTransition("ActiveSync"))
      expect(r).toEqual(Either.left(expect.objectContaining({ _tag: "SyncTransitionFailed" })))
      expect(yield* h.syncer.syncType).toBe("PassiveSync")
    }))

  it.scoped("GS-27/GS-29: requests made while the syncer is mid-sync time out after exactly 5 s", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { replyTimeout: Option.none() } })
      yield* startHistorical(h)
      const transition = yield* Effect.fork(Effect.either(h.syncer.processSyncTransition("ActiveSync")))
      const historical = yield* Effect.fork(Effect.either(h.syncer.historicalSync))
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.millis(4999))
      expect(transition.unsafePoll()).toBeNull()
      expect(historical.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* Fiber.join(transition)).toEqual(
        Either.left(expect.objectContaining({ _tag: "SyncTransitionTimeout" }))
      )
      expect(yield* Fiber.join(historical)).toEqual(
        Either.left(expect.objectContaining({ _tag: "SyncTransitionTimeout" }))
      )
      // the timed-out requests are not executed later
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, []))
      yield* awaitState(h, "chansSynced")
      yield* settle
      expect(yield* h.syncer.syncType).toBe("PassiveSync")
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("chansSynced")
      expect(yield* h.sp.drain).toEqual([])
    }))

  it.scoped("GS-29: historicalSync returns only once the syncer has left chansSynced", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      yield* h.syncer.historicalSync
      expect(yield* SubscriptionRef.get(h.syncer.state)).not.toBe("chansSynced")
    }))

  it.scoped("GS-30: a signal armed in chansSynced is already fired; signals armed by several callers all fire (lnsync: lnd keeps only the last)", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const now = yield* h.syncer.resetSyncedSignal
      yield* now
      yield* h.syncer.historicalSync
      const first = yield* h.syncer.resetSyncedSignal
      const second = yield* h.syncer.resetSyncedSignal
      const firstFiber = yield* Effect.fork(first)
      yield* h.sp.next
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, []))
      yield* second
      yield* settle
      // the manager's initial-sync watch and the Reconciler may both wait on one sync: neither is left hanging
      expect(firstFiber.unsafePoll()?._tag).toBe("Success")
    }))
})
