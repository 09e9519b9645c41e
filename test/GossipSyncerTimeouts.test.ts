import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Exit, Fiber, Layer, Option, SubscriptionRef, TestClock } from "effect"
import type { Message, QueryChannelRange, QueryShortChannelIds } from "../src/domain/Messages.js"
import { make as scid } from "../src/domain/ShortChannelId.js"
import type { GossipSyncer, GossipSyncerExiting, HistoricalSyncFailed } from "../src/services/GossipSyncer.js"
import * as GossipSyncerModule from "../src/services/GossipSyncer.js"
import { defaultSettings, GossipSyncerFactory } from "../src/services/GossipSyncer.js"
import { GossipPipeline } from "../src/services/GossipPipeline.js"
import { GraphStore, makeMemory } from "../src/services/GraphStore.js"
import { U32_MAX } from "../src/services/internal/gossipSyncer/rules.js"
import { layerSyncManagerConfig } from "../src/services/SyncManagerConfig.js"
import { CHAIN, channelAnnouncement, channelUpdate, nodeAnnouncement, nodeId } from "./support/gossip.js"
import { makePassThroughPipeline } from "./support/PassThroughPipeline.js"
import type { ScriptedPeer } from "./support/ScriptedPeer.js"
import { makeScriptedPeer } from "./support/ScriptedPeer.js"
import {
  awaitSleeper,
  BEST_HEIGHT,
  rangeQuery,
  rangeReply,
  scidEnd,
  seed,
  settle,
  startSyncer,
  TEST_NOW,
  timestampFilter
} from "./support/syncerHarness.js"

const asRange = (m: Message): QueryChannelRange => {
  expect(m._tag).toBe("QueryChannelRange")
  return m as QueryChannelRange
}
const asScids = (m: Message): QueryShortChannelIds => {
  expect(m._tag).toBe("QueryShortChannelIds")
  return m as QueryShortChannelIds
}

const startHistorical = (h: { readonly syncer: GossipSyncer; readonly sp: ScriptedPeer }) =>
  Effect.gen(function* () {
    yield* h.syncer.historicalSync
    const signal = yield* h.syncer.resetSyncedSignal
    const query = asRange(yield* h.sp.nextMessage)
    return { signal, query }
  })

const failureReason = (r: Either.Either<void, HistoricalSyncFailed | GossipSyncerExiting>) =>
  Either.isLeft(r) && r.left._tag === "HistoricalSyncFailed" ? r.left.reason : `not failed: ${String(r)}`

/** Our first-answer probe (issue 13 item 5): one block, sent 1 s after an unanswered first SCID query. */
const PROBE = rangeQuery(0, 1)

const X = scid(100, 1, 0)
const Y = scid(200, 2, 0)
const Z = scid(300, 3, 0)
/** What an LDK peer streams for X, Y, Z after a gossip_timestamp_filter. */
const dump = (t: number): ReadonlyArray<Message> => [
  channelAnnouncement(X, nodeId(1), nodeId(2)),
  channelUpdate(X, 0, t),
  channelAnnouncement(Y, nodeId(1), nodeId(3)),
  channelUpdate(Y, 1, t),
  channelAnnouncement(Z, nodeId(2), nodeId(3)),
  channelUpdate(Z, 0, t),
  nodeAnnouncement(nodeId(1), t)
]

describe("GossipSyncer timeouts (GS-51)", () => {
  it("GS-50/GS-51: defaults follow the spec", () => {
    expect(Duration.toMillis(defaultSettings.transitionTimeout)).toBe(5000)
    expect(Option.map(defaultSettings.replyTimeout, Duration.toMillis)).toEqual(Option.some(120_000))
    expect([
      defaultSettings.chunkSize,
      defaultSettings.batchSize,
      defaultSettings.maxQueryReplies,
      defaultSettings.maxReplyScids,
      defaultSettings.queueSize,
      defaultSettings.filterConcurrency,
      defaultSettings.rangeQueryLookback,
      defaultSettings.staleAfterSeconds
    ]).toEqual([8000, 500, 500, 100_000, 50, 5, 144, 14 * 24 * 3600])
    expect([defaultSettings.peerBytesPerSecond, defaultSettings.peerBurstBytes]).toEqual([1_000_000, 2_000_000])
    expect([defaultSettings.globalBytesPerSecond, defaultSettings.globalBurstBytes]).toEqual([2_000_000, 4_000_000])
  })

  it.scoped("GS-51 (lnd mode): with no reply timeout a silent peer leaves the syncer waiting, and a late reply still completes", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { replyTimeout: Option.none() } })
      const { signal } = yield* startHistorical(h)
      const waiting = yield* Effect.fork(signal)
      yield* TestClock.adjust(Duration.days(1))
      expect(waiting.unsafePoll()).toBeNull()
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("waitingQueryRangeReply")
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, []))
      yield* Fiber.join(waiting)
    }))

  it.scoped("GS-51: no reply_channel_range within 2 minutes fails the sync (typed); each reply restarts the wait", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const { signal } = yield* startHistorical(h)
      const waiting = yield* Effect.fork(Effect.either(signal))
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.seconds(100))
      yield* h.sp.push(rangeReply(0, 1000, [scid(500, 0, 0)]))
      yield* settle
      yield* TestClock.adjust(Duration.millis(119_999))
      expect(waiting.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.millis(1))
      expect(failureReason(yield* Fiber.join(waiting))).toMatch(/no reply_channel_range within 2m/)
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("syncerIdle")
      expect(yield* h.internals.bufferedScids).toBe(0)
      // a reply that never came leaves no hung fiber: the syncer still answers, and stops when interrupted
      yield* h.sp.push(rangeQuery(0, 10))
      expect((yield* h.sp.nextMessage)._tag).toBe("ReplyChannelRange")
      yield* Fiber.interrupt(h.fiber)
      expect(Exit.isInterrupted(yield* Fiber.await(h.fiber))).toBe(true)
    }))

  it.scoped("GS-51: gossip for a queried channel postpones the scid-reply deadline; other gossip does not", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const { signal } = yield* startHistorical(h)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [X, Y]))
      asScids(yield* h.sp.nextMessage)
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.seconds(90))
      expect(yield* h.sp.nextMessage).toEqual(PROBE) // a silent peer answers neither: the long timeout holds
      yield* h.sp.push(channelAnnouncement(X, nodeId(1), nodeId(2)), channelUpdate(scid(999, 0, 0), 0, TEST_NOW))
      yield* settle
      yield* TestClock.adjust(Duration.seconds(110)) // 200 s after the query, 110 s after progress
      yield* settle
      expect(yield* h.sp.drain).toEqual([])
      yield* TestClock.adjust(Duration.seconds(10)) // 120 s without progress: fallback
      expect(yield* h.sp.nextMessage).toEqual({
        _tag: "GossipTimestampFilter",
        chainHash: CHAIN,
        firstTimestamp: 0,
        timestampRange: U32_MAX
      })
      yield* h.sp.push(...dump(TEST_NOW).slice(2))
      yield* settle
      yield* TestClock.adjust(Duration.seconds(10))
      yield* signal
    }))
})

describe("GossipSyncer with real peers that deviate", () => {
  it.scoped("LDK (issue 13 item 5): a peer that answers our probe but not query_short_channel_ids gets the dump request after 1 s, not 2 min; the dump ends 250 ms after it goes silent", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const { signal } = yield* startHistorical(h)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [X, Y, Z]))
      asScids(yield* h.sp.nextMessage)
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.millis(999))
      yield* settle
      expect(yield* h.sp.drain).toEqual([])
      yield* TestClock.adjust(Duration.millis(1)) // scidFirstAnswerTimeout: nothing requested, no end
      expect(yield* h.sp.nextMessage).toEqual(PROBE)
      yield* h.sp.push(rangeReply(0, 1, [])) // LDK answers every query_channel_range
      expect(yield* h.sp.nextMessage).toEqual({
        _tag: "GossipTimestampFilter",
        chainHash: CHAIN,
        firstTimestamp: 0,
        timestampRange: U32_MAX
      })
      expect(yield* h.internals.ignoresScidQueries).toBe(true)
      yield* h.sp.push(...dump(TEST_NOW - 60))
      yield* settle
      const done = yield* Effect.fork(signal)
      yield* TestClock.adjust(Duration.millis(249)) // every wanted announcement came; the dump has had no pauses
      expect(done.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.millis(1)) // dumpQuietMin
      yield* Fiber.join(done)
      expect(yield* h.graphSynced).toBe(1)
      const stored = yield* Effect.orDie(h.store.channels([X, Y, Z]))
      expect(stored.size).toBe(3)
      // a passive syncer closes the dump horizon again (GS-26 value)
      expect(yield* h.sp.nextMessage).toEqual({
        _tag: "GossipTimestampFilter",
        chainHash: CHAIN,
        firstTimestamp: U32_MAX,
        timestampRange: 0
      })
      expect(yield* h.internals.localHorizon).toEqual(Option.none())

      // remembered for the connection: the next sync that needs scids fails at once instead of waiting again
      const second = yield* startHistorical(h)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [X, Y, Z, scid(400, 0, 0)]))
      expect(failureReason(yield* Effect.either(second.signal))).toMatch(/does not answer query_short_channel_ids/)
      expect(yield* h.sp.drain).toEqual([])
    }))

  it.scoped("LDK (issue 13 item 5): the end of a paced dump is 8 times its longest pause of silence (LDK sends 32 messages per ping round trip)", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const { signal } = yield* startHistorical(h)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [X, Y, Z]))
      asScids(yield* h.sp.nextMessage)
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* h.sp.nextMessage).toEqual(PROBE)
      yield* h.sp.push(rangeReply(0, 1, []))
      yield* h.sp.nextMessage // the dump request
      const runs = dump(TEST_NOW)
      yield* h.sp.push(...runs.slice(0, 2))
      yield* settle
      yield* TestClock.adjust(Duration.millis(100)) // a 100 ms pause: the quiet needed becomes 800 ms
      yield* h.sp.push(...runs.slice(2, 4))
      yield* settle
      yield* TestClock.adjust(Duration.millis(40))
      yield* h.sp.push(...runs.slice(4)) // every wanted channel is in now
      yield* settle
      const done = yield* Effect.fork(signal)
      yield* TestClock.adjust(Duration.millis(799))
      expect(done.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.millis(1))
      yield* Fiber.join(done)
      expect(yield* h.graphSynced).toBe(1)
    }))

  it.scoped("issue 13 item 5: a peer that answers our SCID query within the first-answer time is never probed and keeps the long timeout while it progresses", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const { signal } = yield* startHistorical(h)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [X, Y]))
      asScids(yield* h.sp.nextMessage)
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.millis(500))
      yield* h.sp.push(channelAnnouncement(X, nodeId(1), nodeId(2))) // slow, but progressing
      yield* settle
      yield* TestClock.adjust(Duration.seconds(100))
      yield* h.sp.push(channelUpdate(X, 0, TEST_NOW))
      yield* settle
      yield* TestClock.adjust(Duration.seconds(100))
      expect(yield* h.sp.drain).toEqual([]) // no probe, no dump
      yield* h.sp.push(channelAnnouncement(Y, nodeId(1), nodeId(3)), scidEnd())
      yield* signal
      expect(yield* h.sp.drain).toEqual([])
      // the peer is known to answer: a later sync's first SCID query is not probed either
      const second = yield* startHistorical(h)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [X, Y, Z]))
      asScids(yield* h.sp.nextMessage)
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.seconds(30))
      expect(yield* h.sp.drain).toEqual([])
      yield* h.sp.push(scidEnd())
      yield* second.signal
    }))

  it.scoped("LDK fallback: an Active syncer keeps the (0, 2^32-1) horizon and does not send another", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ syncType: "ActiveSync" })
      expect((yield* h.sp.nextMessage)._tag).toBe("GossipTimestampFilter")
      const { signal } = yield* startHistorical(h)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [X]))
      asScids(yield* h.sp.nextMessage)
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.minutes(2))
      expect(yield* h.sp.nextMessage).toEqual(PROBE)
      expect(yield* h.sp.nextMessage).toMatchObject({ firstTimestamp: 0, timestampRange: U32_MAX })
      yield* h.sp.push(...dump(TEST_NOW).slice(0, 2))
      yield* settle
      yield* TestClock.adjust(Duration.seconds(10))
      yield* signal
      yield* settle
      expect(yield* h.sp.drain).toEqual([])
      expect(yield* h.internals.localHorizon).toEqual(Option.some({ firstTimestamp: 0, timestampRange: U32_MAX }))
    }))

  it.scoped("LDK fallback: a dump that brings nothing fails the sync after another reply timeout and closes the horizon", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const { signal } = yield* startHistorical(h)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [X]))
      asScids(yield* h.sp.nextMessage)
      const waiting = yield* Effect.fork(Effect.either(signal))
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.minutes(2))
      expect(yield* h.sp.nextMessage).toEqual(PROBE)
      expect(yield* h.sp.nextMessage).toMatchObject({ firstTimestamp: 0, timestampRange: U32_MAX })
      yield* h.sp.push(channelUpdate(scid(999, 0, 0), 0, TEST_NOW)) // unrelated gossip is not progress
      yield* TestClock.adjust(Duration.seconds(119))
      expect(waiting.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.seconds(1))
      expect(failureReason(yield* Fiber.join(waiting))).toMatch(/no wanted gossip/)
      expect(yield* h.sp.nextMessage).toMatchObject({ firstTimestamp: U32_MAX, timestampRange: 0 })
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("syncerIdle")
    }))

  it.scoped("LDK fallback: a dump that stops short of some wanted channels still finishes once it is silent for dumpQuietPeriod", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const { signal } = yield* startHistorical(h)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [X, Y, Z]))
      asScids(yield* h.sp.nextMessage)
      yield* awaitSleeper
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* h.sp.nextMessage).toEqual(PROBE)
      yield* h.sp.push(rangeReply(0, 1, []))
      expect(yield* h.sp.nextMessage).toMatchObject({ firstTimestamp: 0, timestampRange: U32_MAX })
      yield* h.sp.push(...dump(TEST_NOW).slice(0, 2)) // only X
      yield* settle
      const done = yield* Effect.fork(signal)
      // Y and Z missing: more patience than the pace-relative quiet, but not the 2-minute reply timeout (which
      // this test waited for before issue 13 item 5)
      yield* TestClock.adjust(Duration.millis(9_999))
      expect(done.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.millis(1))
      yield* Fiber.join(done)
      expect(yield* h.graphSynced).toBe(1)
    }))

  it.scoped("LDK: range replies declared one block short (next starts at that block) are accepted and every scid is fetched", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const { query, signal } = yield* startHistorical(h)
      const end = query.firstBlocknum + query.numberOfBlocks
      yield* h.sp.push(
        rangeReply(0, 300, [scid(10, 0, 0), scid(300, 0, 0)], { syncComplete: 0 }),
        rangeReply(300, 200, [scid(300, 1, 0), scid(500, 0, 0)], { syncComplete: 0 }),
        rangeReply(500, end - 500, [scid(500, 1, 0), scid(700, 0, 0)], { syncComplete: 1 })
      )
      expect(asScids(yield* h.sp.nextMessage).shortIds.ids).toEqual([
        scid(10, 0, 0),
        scid(300, 0, 0),
        scid(300, 1, 0),
        scid(500, 0, 0),
        scid(500, 1, 0),
        scid(700, 0, 0)
      ])
      yield* h.sp.push(scidEnd())
      yield* signal
    }))

  it.scoped("lying peer: a reply that never comes to a scid query while the peer keeps other traffic going ends in the fallback, not a hang", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer()
      const { signal } = yield* startHistorical(h)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [X]))
      asScids(yield* h.sp.nextMessage)
      const waiting = yield* Effect.fork(Effect.either(signal))
      yield* awaitSleeper
      for (let i = 0; i < 3; i++) {
        yield* TestClock.adjust(Duration.seconds(30))
        if (i === 0) expect(yield* h.sp.nextMessage).toEqual(PROBE) // never answered either: the long timeout holds
        yield* h.sp.push(rangeQuery(0, 10)) // keeps talking, never answers
        expect((yield* h.sp.nextMessage)._tag).toBe("ReplyChannelRange")
      }
      yield* TestClock.adjust(Duration.seconds(30)) // queries from the peer are not progress
      expect(yield* h.sp.nextMessage).toMatchObject({ _tag: "GossipTimestampFilter", firstTimestamp: 0 })
      yield* TestClock.adjust(Duration.minutes(2))
      expect(Either.isLeft(yield* Fiber.join(waiting))).toBe(true)
    }))
})

describe("GossipSyncer.layer", () => {
  it.effect("SM-30/SM-31/GS-48: configLayerFromSyncManager takes the shared limits from the SyncManagerConfig", () =>
    Effect.gen(function* () {
      const settings = yield* GossipSyncerModule.GossipSyncerConfig.pipe(
        Effect.provide(
          GossipSyncerModule.configLayerFromSyncManager({ chainHash: CHAIN, bestHeight: Effect.succeed(1) }).pipe(
            Layer.provide(
              layerSyncManagerConfig({
                filterConcurrency: 2,
                msgBytesPerSecond: 70_000,
                msgBytesBurst: 140_000,
                peerMsgBytesPerSecond: 9000
              })
            )
          )
        )
      )
      expect([
        settings.filterConcurrency,
        settings.globalBytesPerSecond,
        settings.globalBurstBytes,
        settings.peerBytesPerSecond,
        settings.peerBurstBytes
      ]).toEqual([2, 70_000, 140_000, 9000, 18_000])
      expect(Duration.toMillis(settings.transitionTimeout)).toBe(5000)
    }))

  it.scoped("SM-30/SM-31: the factory makes syncers that share one filter semaphore; run ends with the peer", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(TEST_NOW * 1000)
      const store = yield* makeMemory
      const pipeline = yield* makePassThroughPipeline(store)
      const layer = GossipSyncerModule.layer.pipe(
        Layer.provide(
          Layer.mergeAll(
            GossipSyncerModule.configLayer({
              chainHash: CHAIN,
              bestHeight: Effect.succeed(BEST_HEIGHT),
              filterConcurrency: 1,
              peerBytesPerSecond: 100,
              peerBurstBytes: 500,
              globalBytesPerSecond: Infinity
            }),
            Layer.succeed(GraphStore, store),
            Layer.succeed(GossipPipeline, pipeline.service)
          )
        )
      )
      const factory = yield* Effect.provide(GossipSyncerFactory, layer)
      yield* seed(store, {
        channels: [channelAnnouncement(X, nodeId(1), nodeId(2)), channelAnnouncement(Y, nodeId(1), nodeId(3))],
        updates: [channelUpdate(X, 0, TEST_NOW - 10), channelUpdate(Y, 0, TEST_NOW - 20)]
      })
      const options = {
        syncType: "PassiveSync" as const,
        initialState: "chansSynced" as const,
        markGraphSynced: Effect.void
      }
      const a = yield* makeScriptedPeer({ id: 1 })
      const b = yield* makeScriptedPeer({ id: 2 })
      const sa = yield* factory.make(a.peer, options)
      const sb = yield* factory.make(b.peer, options)
      const fa = yield* Effect.forkScoped(Effect.scoped(sa.run))
      yield* Effect.forkScoped(Effect.scoped(sb.run))
      yield* settle
      yield* a.push(timestampFilter(0, U32_MAX))
      yield* settle
      yield* b.push(timestampFilter(0, U32_MAX))
      yield* settle
      expect((yield* a.drain).length).toBeGreaterThan(0)
      expect(yield* b.drain).toEqual([]) // waits for a's backlog: one permit for the whole factory
      for (let i = 0; i < 30; i++) {
        yield* TestClock.adjust(Duration.seconds(1))
        yield* settle
      }
      expect((yield* b.drain).length).toBe(4)
      yield* a.disconnect("gone")
      expect(Exit.isSuccess(yield* Fiber.await(fa))).toBe(true)
      expect(yield* Effect.either(sa.syncer.processSyncTransition("ActiveSync"))).toEqual(
        Either.left(expect.objectContaining({ _tag: "GossipSyncerExiting" }))
      )
    }))
})
