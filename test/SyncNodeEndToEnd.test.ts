/**
 * The end-to-end check: SyncNode + SyncManager + the real GossipSyncer factory + a PeerConnector + the real
 * validation pipeline + an in-memory GraphStore are a working gossip-sync node. Three in-memory peers (lnsync
 * syncers over the real codec) each hold two thirds of a signed graph (A∪B, B∪C, C∪A); after the initial
 * historical sync (with the first peer, SM-16) and one historical tick (SM-26) the local graph is their union.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Layer, Option, Random, Ref, Stream, TestClock } from "effect"
import { generateGraph } from "../src/testing/GraphGenerator.js"
import { toHex } from "../src/domain/Hex.js"
import type { ChannelAnnouncement, Message } from "../src/domain/Messages.js"
import { makePeerPair } from "../src/testing/MemoryPeer.js"
import * as SyncNode from "../src/services/SyncNode.js"
import * as Reconciler from "../src/services/Reconciler.js"
import { GossipPipeline, layer as layerGossipPipeline } from "../src/services/GossipPipeline.js"
import { GossipPipelineConfigDefault } from "../src/services/GossipPipelineConfig.js"
import * as GossipSyncer from "../src/services/GossipSyncer.js"
import type { GraphStoreService } from "../src/services/GraphStore.js"
import { GraphStore, layerMemory, makeMemory } from "../src/services/GraphStore.js"
import { PeerConnector } from "../src/services/PeerConnector.js"
import { SyncManager } from "../src/services/SyncManager.js"
import { layerSyncManagerConfig } from "../src/services/SyncManagerConfig.js"
import { CHAIN, nodeId } from "./support/gossip.js"
import { makeMemoryPeerConnector } from "./support/MemoryPeerConnector.js"
import { makePassThroughPipeline } from "./support/PassThroughPipeline.js"
import { seed, TEST_NOW } from "./support/syncerHarness.js"
import { layerNone } from "../src/services/ChainSource.js"
import { layerInThread } from "../src/services/SignatureVerifier.js"

const graph = generateGraph({ seed: 11, channels: 150, chainHash: CHAIN, now: TEST_NOW })
const BEST_HEIGHT = 1_000_000

/** The graph's channels in part `p` of three (by position), with their updates and their endpoints' announcements. */
const part = (parts: ReadonlyArray<number>) => {
  const channels = graph.channelAnnouncements.filter((_, i) => parts.includes(i % 3))
  const scids = new Set(channels.map((c) => c.shortChannelId))
  const endpoints = new Set(channels.flatMap((c: ChannelAnnouncement) => [toHex(c.nodeId1), toHex(c.nodeId2)]))
  return {
    channels,
    updates: graph.channelUpdates.filter((u) => scids.has(u.shortChannelId)),
    nodes: graph.nodeAnnouncements.filter((n) => endpoints.has(toHex(n.nodeId)))
  }
}

const everything = (store: GraphStoreService) =>
  Effect.orDie(
    Effect.gen(function* () {
      const channels = yield* store.channelRange(0, 0xffffff)
      const raw = yield* Stream.runCollect(store.gossipForChannels(channels.map((c) => c.shortChannelId)))
      return { channels, raw: Chunk.toReadonlyArray(raw).map((g) => toHex(g.raw)), counts: yield* store.counts }
    })
  )

const LOCAL = nodeId(1000)

/**
 * The local node composed from its layers as a program would (optionally with the Reconciler), and three remote
 * lnsync peers holding A∪B, B∪C, C∪A attached to it; counts each peer's query_channel_range from us.
 */
const threePeerNode = (withReconciler: boolean) =>
  Effect.gen(function* () {
    yield* TestClock.setTime(TEST_NOW * 1000)
    const connector = yield* makeMemoryPeerConnector

    // The local node, composed from its layers as a program would.
    const managerConfig = layerSyncManagerConfig({ numActiveSyncers: 3 })
    const base = layerGossipPipeline.pipe(
      Layer.provide(Layer.mergeAll(layerInThread, layerNone, GossipPipelineConfigDefault)),
      Layer.provideMerge(layerMemory)
    )
    const factory = GossipSyncer.layer.pipe(
      Layer.provide(
        GossipSyncer.configLayerFromSyncManager({ chainHash: CHAIN, bestHeight: Effect.succeed(BEST_HEIGHT) })
      ),
      Layer.provide(managerConfig)
    )
    const core = Layer.mergeAll(
      SyncManager.layer.pipe(Layer.provide(factory), Layer.provide(managerConfig)),
      Layer.succeed(PeerConnector, connector.service)
    ).pipe(Layer.provideMerge(base))
    const node = SyncNode.layer.pipe(Layer.provideMerge(core))
    // The seed fixes which peer the historical tick picks (SM-27); here one that is not the initial syncer.
    const context = yield* Layer.build(node).pipe(Effect.orDie, Effect.withRandom(Random.make("union")))
    const manager = Context.get(context, SyncManager)
    const store = Context.get(context, GraphStore)
    const pipeline = Context.get(context, GossipPipeline)
    // subscribed before any peer connects, as the node's layer would
    const reconciler = withReconciler ? Option.some(yield* Effect.provide(Reconciler.make, context)) : Option.none()

    // Three remote lnsync peers, each answering from its own store.
    const parts = [part([0, 1]), part([1, 2]), part([2, 0])]
    const settings = GossipSyncer.makeSettings({
      chainHash: CHAIN,
      bestHeight: Effect.succeed(BEST_HEIGHT),
      peerBytesPerSecond: Infinity,
      globalBytesPerSecond: Infinity
    })
    const rangeQueries: Array<Ref.Ref<number>> = []
    for (const [i, gossip] of parts.entries()) {
      const storeR = yield* makeMemory
      yield* seed(storeR, gossip)
      const pipelineR = yield* makePassThroughPipeline(storeR)
      const [localSeesRemote, remoteSeesLocal] = yield* makePeerPair({
        local: { nodeId: LOCAL },
        remote: { nodeId: nodeId(i + 1) }
      })
      const remote = yield* GossipSyncer.makeGossipSyncer(
        remoteSeesLocal,
        { syncType: "PassiveSync", initialState: "chansSynced", markGraphSynced: Effect.void },
        { settings, store: storeR, pipeline: pipelineR.service, shared: yield* GossipSyncer.makeShared(settings) }
      )
      yield* Effect.forkScoped(Effect.scoped(remote.run))
      // count the local node's query_channel_range to this peer
      const queries = yield* Ref.make(0)
      rangeQueries.push(queries)
      yield* connector.attach({
        ...localSeesRemote,
        send: (m: Message) =>
          Effect.zipRight(
            m._tag === "QueryChannelRange" ? Ref.update(queries, (n) => n + 1) : Effect.void,
            localSeesRemote.send(m)
          )
      })
    }

    return { manager, store, pipeline, parts, rangeQueries, reconciler }
  })

/** Every channel, update and node announcement of the generated graph, as a store would hold them. */
const unionOfAll = Effect.gen(function* () {
  const reference = yield* makeMemory
  yield* seed(reference, {
    channels: graph.channelAnnouncements,
    updates: graph.channelUpdates,
    nodes: graph.nodeAnnouncements
  })
  return yield* everything(reference)
})

describe("SyncNode end to end", () => {
  it.scoped("SM-16/SM-19/SM-26: three in-memory peers with different parts of a graph → the local graph is their union", () =>
    Effect.gen(function* () {
      const { manager, store, pipeline, parts, rangeQueries } = yield* threePeerNode(false)

      // Initial historical sync: with the first peer only (SM-16.2), the others wait passive (SM-21).
      yield* manager.awaitGraphSynced
      yield* Effect.orDie(pipeline.flush)
      yield* TestClock.adjust(0)
      const counts = yield* Effect.forEach(rangeQueries, Ref.get)
      expect(counts).toEqual([1, 0, 0])
      const afterInitial = yield* everything(store)
      expect(afterInitial.channels.map((c) => c.shortChannelId)).toEqual(parts[0].channels.map((c) => c.shortChannelId))
      // SM-19: all three promoted (numActiveSyncers = 3)
      expect((yield* manager.syncers).map((s) => s.syncType)).toEqual(["ActiveSync", "ActiveSync", "ActiveSync"])

      // One historical tick, an hour after the initial syncer was assigned (SM-17, SM-26).
      yield* TestClock.adjust("1 hour")
      for (const s of yield* manager.syncers) {
        yield* s.syncer.state.changes.pipe(Stream.takeUntil((st) => st === "chansSynced"), Stream.runDrain)
      }
      yield* Effect.orDie(pipeline.flush)
      const ticked = yield* Effect.forEach(rangeQueries, Ref.get)
      expect(ticked[0]).toBe(1)
      expect(ticked[1] + ticked[2]).toBe(1)

      // The union: every channel, update and node announcement, byte for byte.
      const [local, union] = [yield* everything(store), yield* unionOfAll]
      expect(union.counts.channels).toBe(150)
      expect(local.counts).toEqual(union.counts)
      expect(local.channels).toEqual(union.channels)
      expect(local.raw).toEqual(union.raw)
    }))

  it.scoped("Reconciler: after the initial sync every peer is reconciled once, without waiting for a tick → the union", () =>
    Effect.gen(function* () {
      const { manager, store, pipeline, rangeQueries, reconciler: built } = yield* threePeerNode(true)
      const reconciler = Option.getOrThrow(built)
      yield* reconciler.awaitIdle
      yield* Effect.orDie(pipeline.flush)
      // the initial syncer's range query, then one reconciliation with each other peer (the initial syncer is not
      // reconciled again, issue 13); no clock advanced, so no ticker fired
      expect(yield* Effect.forEach(rangeQueries, Ref.get)).toEqual([1, 1, 1])
      expect(yield* reconciler.reconciled).toBe(3)
      expect(yield* manager.isGraphSynced).toBe(true)
      const [local, union] = [yield* everything(store), yield* unionOfAll]
      expect(local.counts).toEqual(union.counts)
      expect(local.raw).toEqual(union.raw)
    }))
})
