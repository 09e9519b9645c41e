/**
 * Issue 13 ("every sync finishes"), the syncer's side, on the real syncer: a store failure fails the sync (item 3),
 * node announcements are asked only where they are missing and not again of a peer that did not have them (item 6),
 * range queries reach the end of the block space without a chain source (item 7), and a peer without
 * gossip_queries gets no query, only the "no gossip" filter (BOLT 7 since 2024, bolts fce8bab). Item 5 (LDK) is in
 * GossipSyncerTimeouts.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  Context,
  Duration,
  Effect,
  Either,
  Layer,
  Option,
  Queue,
  Random,
  Ref,
  Stream,
  SubscriptionRef,
  TestClock
} from "effect"
import type { Message, QueryChannelRange, QueryShortChannelIds } from "../src/domain/Messages.js"
import { make as scid } from "../src/domain/ShortChannelId.js"
import type { GossipSyncer, HistoricalSyncFailed } from "../src/services/GossipSyncer.js"
import { defaultSettings, GossipSyncerConfig, GossipSyncerFactory, makeSettings } from "../src/services/GossipSyncer.js"
import type { GossipPipelineService } from "../src/services/GossipPipeline.js"
import { GossipPipeline, GossipPipelineStoreFailed } from "../src/services/GossipPipeline.js"
import { GraphStoreError } from "../src/services/GraphStore.js"
import type { Peer } from "../src/services/Peer.js"
import { PeerConnector } from "../src/services/PeerConnector.js"
import { SyncManager } from "../src/services/SyncManager.js"
import * as SyncNode from "../src/services/SyncNode.js"
import { queryNumBlocks, U32_MAX } from "../src/services/internal/gossipSyncer/rules.js"
import { layerSyncManagerConfig } from "../src/services/SyncManagerConfig.js"
import { fakeNodeIdHex, fakePeer, makeFakeSyncerFactory } from "./support/FakeSyncer.js"
import { CHAIN, channelAnnouncement, channelUpdate, nodeAnnouncement, nodeId } from "./support/gossip.js"
import { makeMemoryPeerConnector } from "./support/MemoryPeerConnector.js"
import type { ScriptedPeer } from "./support/ScriptedPeer.js"
import { BEST_HEIGHT, rangeReply, scidEnd, seed, settle, startSyncer, TEST_NOW } from "./support/syncerHarness.js"

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
    return { signal }
  })

const failure = (r: Either.Either<void, { readonly _tag: string }>): HistoricalSyncFailed => {
  if (Either.isLeft(r) && r.left._tag === "HistoricalSyncFailed") return r.left as HistoricalSyncFailed
  throw new Error(`expected HistoricalSyncFailed, got ${String(r)}`)
}

const NO_GOSSIP = { _tag: "GossipTimestampFilter", chainHash: CHAIN, firstTimestamp: U32_MAX, timestampRange: 0 }

describe("issue 13 item 5: defaults", () => {
  it("the first-answer probe goes out 1 s after an unanswered first SCID query; a dump ends after 250 ms..10 s of silence", () => {
    expect(Duration.toMillis(defaultSettings.scidFirstAnswerTimeout)).toBe(1000)
    expect(Duration.toMillis(defaultSettings.dumpQuietMin)).toBe(250)
    expect(Duration.toMillis(defaultSettings.dumpQuietPeriod)).toBe(10_000)
  })
})

describe("issue 13 item 3: a store failure fails the sync", () => {
  it.scoped("a failed pipeline flush fails the historical sync (typed, kind store): no graph-synced, syncerIdle", () =>
    Effect.gen(function* () {
      const storeDown = new GossipPipelineStoreFailed({
        cause: new GraphStoreError({ operation: "applyBatch", cause: "disk full" })
      })
      const h = yield* startSyncer({ flush: Effect.fail(storeDown) })
      const { signal } = yield* startHistorical(h)
      const q = asRange(yield* h.sp.nextMessage)
      const X = scid(100, 1, 0)
      yield* h.sp.push(rangeReply(q.firstBlocknum, q.numberOfBlocks, [X]))
      asScids(yield* h.sp.nextMessage)
      yield* h.sp.push(channelAnnouncement(X, nodeId(1), nodeId(2)), channelUpdate(X, 0, TEST_NOW), scidEnd())
      const failed = failure(yield* Effect.either(signal))
      expect(failed.kind).toBe("store")
      expect(failed.reason).toMatch(/graph store failed.*applyBatch/)
      expect(yield* h.graphSynced).toBe(0)
      expect(yield* SubscriptionRef.get(h.syncer.state)).toBe("syncerIdle")
      expect(Option.map(yield* h.internals.lastFailure, (f) => f.kind)).toEqual(Option.some("store"))
    }))
})

describe("issue 13 item 6: node announcements only where missing, not again of a peer that did not have them", () => {
  it.scoped("a known channel with one endpoint lacking its announcement asks NODE_2 only; once undelivered, never again on this connection", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ gossipQueriesEx: true })
      const X = scid(10, 0, 0)
      const t = TEST_NOW - 3600
      yield* seed(h.store, {
        channels: [channelAnnouncement(X, nodeId(1), nodeId(2))],
        updates: [channelUpdate(X, 0, t), channelUpdate(X, 1, t)],
        nodes: [nodeAnnouncement(nodeId(1), t)]
      })
      const ours = (yield* Effect.orDie(h.store.channels([X]))).get(X)!
      const sameAsOurs = rangeReply(0, BEST_HEIGHT, [X], {
        timestamps: { encoding: 0, entries: [{ timestamp1: ours.timestamp1, timestamp2: ours.timestamp2 }] },
        checksums: [{ checksum1: ours.checksum1, checksum2: ours.checksum2 }]
      })

      const first = yield* startHistorical(h)
      asRange(yield* h.sp.nextMessage)
      yield* h.sp.push(sameAsOurs)
      const q = asScids(yield* h.sp.nextMessage)
      expect(q.shortIds.ids).toEqual([X])
      expect(q.queryFlags?.flags).toEqual([16n]) // node 2 only: node 1's announcement is held (was 24n: both)
      yield* h.sp.push(scidEnd()) // the peer has no announcement for node 2 (as CLN for 1,326 nodes in issue 13)
      yield* first.signal

      const second = yield* startHistorical(h)
      asRange(yield* h.sp.nextMessage)
      yield* h.sp.push(sameAsOurs)
      yield* second.signal // nothing asked: the peer already showed it does not have node 2's announcement
      yield* settle
      expect(yield* h.sp.drain).toEqual([])
    }))

  it.scoped("a completed sync reports what it fetched: channels and nodes asked for and received (the account's counts)", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ gossipQueriesEx: true })
      const [X, Y, K] = [scid(10, 0, 0), scid(20, 0, 0), scid(5, 0, 0)]
      const t = TEST_NOW - 3600
      // K is known with both endpoints lacking an announcement; X and Y are new
      yield* seed(h.store, { channels: [channelAnnouncement(K, nodeId(7), nodeId(8))], updates: [], nodes: [] })
      const first = yield* startHistorical(h)
      asRange(yield* h.sp.nextMessage)
      yield* h.sp.push(rangeReply(0, BEST_HEIGHT, [K, X, Y]))
      const q = asScids(yield* h.sp.nextMessage)
      expect(q.shortIds.ids).toEqual([X, Y])
      yield* h.sp.push(
        channelAnnouncement(X, nodeId(1), nodeId(2)),
        channelUpdate(X, 0, t),
        channelUpdate(X, 1, t),
        channelAnnouncement(Y, nodeId(1), nodeId(3)),
        channelUpdate(Y, 0, t),
        channelUpdate(scid(999, 0, 0), 0, t), // not asked for: not counted
        scidEnd()
      )
      // then the endpoints of X and Y (one query), then K's (node-only)
      const nodes = asScids(yield* h.sp.nextMessage)
      expect(nodes.shortIds.ids).toEqual([X, Y])
      yield* h.sp.push(nodeAnnouncement(nodeId(1), t), nodeAnnouncement(nodeId(2), t), scidEnd())
      expect(asScids(yield* h.sp.nextMessage).shortIds.ids).toEqual([K])
      yield* h.sp.push(nodeAnnouncement(nodeId(8), t), scidEnd())
      yield* first.signal
      expect(yield* h.syncer.lastCompleted).toEqual(Option.some({
        channelsRequested: 2,
        channelsReceived: 2,
        updatesReceived: 3,
        nodesRequested: 5,
        nodesReceived: 3
      }))
    }))

  it.scoped("a newly announced channel's endpoints are asked for only if their announcement is not held", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ gossipQueriesEx: true })
      const [old, fresh] = [scid(10, 0, 0), scid(20, 0, 0)]
      const t = TEST_NOW - 3600
      yield* seed(h.store, {
        channels: [channelAnnouncement(old, nodeId(1), nodeId(2))],
        updates: [channelUpdate(old, 0, t), channelUpdate(old, 1, t)],
        nodes: [nodeAnnouncement(nodeId(1), t), nodeAnnouncement(nodeId(2), t)]
      })
      const ours = (yield* Effect.orDie(h.store.channels([old]))).get(old)!
      const { signal } = yield* startHistorical(h)
      asRange(yield* h.sp.nextMessage)
      yield* h.sp.push(
        rangeReply(0, BEST_HEIGHT, [old, fresh], {
          timestamps: {
            encoding: 0,
            entries: [{ timestamp1: ours.timestamp1, timestamp2: ours.timestamp2 }, { timestamp1: t, timestamp2: t }]
          },
          checksums: [{ checksum1: ours.checksum1, checksum2: ours.checksum2 }, { checksum1: 1, checksum2: 2 }]
        })
      )
      expect(asScids(yield* h.sp.nextMessage).shortIds.ids).toEqual([fresh])
      yield* h.sp.push(channelAnnouncement(fresh, nodeId(1), nodeId(3)), scidEnd())
      const nodes = asScids(yield* h.sp.nextMessage)
      expect(nodes.shortIds.ids).toEqual([fresh])
      expect(nodes.queryFlags?.flags).toEqual([16n]) // node 3; node 1's announcement is held (was 24n)
      yield* h.sp.push(nodeAnnouncement(nodeId(3), t), scidEnd())
      yield* signal
    }))
})

describe("issue 13 item 7: range queries reach the end of the chain for every chain", () => {
  it("GS-9: without a chain tip the block count runs to the end of the block space (Eclair)", () => {
    expect(queryNumBlocks(undefined, 0)).toBe(U32_MAX)
    expect(queryNumBlocks(undefined, 4_000_000)).toBe(U32_MAX - 4_000_000)
    expect(queryNumBlocks(undefined, U32_MAX)).toBe(1)
    expect(queryNumBlocks(800_000, 0)).toBe(800_000) // with a chain source's tip: unchanged (GS-9)
  })

  it.scoped("with no chain source the syncer asks 0..2^32-2, and a testnet3 channel far above any mainnet height is fetched", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ settings: { bestHeight: undefined } })
      const { signal } = yield* startHistorical(h)
      const q = asRange(yield* h.sp.nextMessage)
      expect([q.firstBlocknum, q.numberOfBlocks]).toEqual([0, U32_MAX])
      const testnet = scid(4_500_000, 7, 0)
      yield* h.sp.push(rangeReply(0, U32_MAX, [testnet]))
      expect(asScids(yield* h.sp.nextMessage).shortIds.ids).toEqual([testnet])
      yield* h.sp.push(scidEnd())
      yield* signal
    }))
})

describe("BOLT 7 since 2024: a peer without gossip_queries", () => {
  it.scoped("gets no query_*, only gossip_timestamp_filter(0xFFFFFFFF, 0), and its historical sync fails with the reason", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ gossipQueries: false })
      const { signal } = yield* startHistorical(h)
      const failed = failure(yield* Effect.either(signal))
      expect(failed.reason).toMatch(/does not offer gossip_queries/)
      expect((yield* h.sp.drain).map((s) => s.message)).toEqual([NO_GOSSIP])
      // a second attempt sends nothing more (the filter is sent once)
      const again = yield* startHistorical(h)
      yield* Effect.either(again.signal)
      expect(yield* h.sp.drain).toEqual([])
    }))

  it.scoped("an Active syncer's horizon for it is the no-gossip one", () =>
    Effect.gen(function* () {
      const h = yield* startSyncer({ gossipQueries: false, syncType: "ActiveSync" })
      expect((yield* h.sp.drain).map((s) => s.message)).toEqual([NO_GOSSIP])
    }))

  it.scoped("SyncNode: the drained peer is sent gossip_timestamp_filter(0xFFFFFFFF, 0) on our chain and no query", () =>
    Effect.gen(function* () {
      const fakes = yield* makeFakeSyncerFactory
      const connector = yield* makeMemoryPeerConnector
      const submitted = yield* Ref.make(0)
      const pipeline: GossipPipelineService = {
        submit: (_from, messages) => Ref.update(submitted, (n) => n + messages.length),
        process: (_from, messages) => Effect.succeed(messages.map(() => ({ _tag: "Accepted" as const }))),
        flush: Effect.void,
        accepted: Effect.succeed(Stream.empty),
        bans: Effect.succeed(Stream.empty),
        isBanned: () => Effect.succeed(false)
      }
      const managerContext = yield* Layer.build(
        SyncManager.layer.pipe(
          Layer.provide(Layer.succeed(GossipSyncerFactory, fakes.factory)),
          Layer.provide(layerSyncManagerConfig({}))
        )
      ).pipe(Effect.orDie, Effect.withRandom(Random.make("drain")))
      const services = Layer.mergeAll(
        Layer.succeed(SyncManager, Context.get(managerContext, SyncManager)),
        Layer.succeed(PeerConnector, connector.service),
        Layer.succeed(GossipPipeline, pipeline),
        Layer.succeed(GossipSyncerConfig, makeSettings({ chainHash: CHAIN }))
      )
      yield* Layer.build(SyncNode.layer.pipe(Layer.provide(services)))
      const sent = yield* Queue.unbounded<Message>()
      const inbox = yield* Queue.unbounded<Message>()
      const peer: Peer = {
        ...fakePeer(3, { gossipQueries: false }),
        send: (m) => Queue.offer(sent, m),
        messages: Stream.fromQueue(inbox)
      }
      yield* connector.attach(peer)
      yield* Queue.offer(inbox, nodeAnnouncement(nodeId(7), TEST_NOW))
      yield* TestClock.adjust(0)
      yield* settle
      expect([...(yield* Queue.takeAll(sent))]).toEqual([NO_GOSSIP])
      expect(yield* Ref.get(submitted)).toBe(1) // its own gossip is still taken
      expect((yield* Ref.get(fakes.made)).length).toBe(0)
      expect(fakeNodeIdHex(3)).toBe(peer.nodeIdHex)
    }))
})
