/**
 * One GossipSyncer against a scripted peer, an in-memory GraphStore and a pass-through pipeline, its `run` forked in
 * the test's scope. Time is TestClock's, set to TEST_NOW; rate limits are off unless a test sets them.
 */
import { Chunk, Effect, Fiber, Layer, Ref, Stream, TestClock } from "effect"
import type { Scope } from "effect"
import type {
  ChannelAnnouncement,
  ChannelUpdate,
  Message,
  NodeAnnouncement,
  ReplyChannelRange
} from "../../src/domain/Messages.js"
import type { ShortChannelId } from "../../src/domain/ShortChannelId.js"
import type {
  GossipSyncerOptions,
  GossipSyncerSettings,
  MadeSyncer,
  SyncerShared,
  SyncerState
} from "../../src/services/GossipSyncer.js"
import { makeGossipSyncer, makeSettings, makeShared } from "../../src/services/GossipSyncer.js"
import type { GossipPipelineStoreFailed } from "../../src/services/GossipPipeline.js"
import type { GraphStoreService } from "../../src/services/GraphStore.js"
import { CHAIN } from "./gossip.js"
import type { PassThroughPipeline } from "./PassThroughPipeline.js"
import { makePassThroughPipeline } from "./PassThroughPipeline.js"
import type { ScriptedPeer, ScriptedPeerOptions } from "./ScriptedPeer.js"
import { makeScriptedPeer } from "./ScriptedPeer.js"
import { GraphStore, makeMemory } from "../../src/services/GraphStore.js"
import { layerNone } from "../../src/services/ChainSource.js"
import * as GossipPipeline from "../../src/services/GossipPipeline.js"
import { GossipPipelineConfigDefault } from "../../src/services/GossipPipelineConfig.js"
import { layerInThread } from "../../src/services/SignatureVerifier.js"

/** 2023-11-14, unix seconds. */
export const TEST_NOW = 1_700_000_000
export const BEST_HEIGHT = 800_000

export const testSettings = (overrides: Partial<GossipSyncerSettings> = {}): GossipSyncerSettings =>
  makeSettings({
    chainHash: CHAIN,
    bestHeight: Effect.succeed(BEST_HEIGHT),
    peerBytesPerSecond: Infinity,
    globalBytesPerSecond: Infinity,
    ...overrides
  })

export interface Harness extends MadeSyncer {
  readonly sp: ScriptedPeer
  readonly store: GraphStoreService
  readonly pipeline: PassThroughPipeline
  readonly settings: GossipSyncerSettings
  /** How many times markGraphSynced was called. */
  readonly graphSynced: Effect.Effect<number>
  readonly fiber: Fiber.RuntimeFiber<void>
}

export interface HarnessOptions extends ScriptedPeerOptions {
  readonly settings?: Partial<GossipSyncerSettings>
  readonly syncType?: GossipSyncerOptions["syncType"]
  readonly initialState?: GossipSyncerOptions["initialState"]
  readonly store?: GraphStoreService
  readonly shared?: SyncerShared
  /** Leave TestClock where it is (default: set to TEST_NOW). */
  readonly keepClock?: boolean
  readonly isGraphSynced?: GossipSyncerOptions["isGraphSynced"]
  /** The pipeline's flush (default: always succeeds), e.g. a failing store's. */
  readonly flush?: Effect.Effect<void, GossipPipelineStoreFailed>
  /** The peer offers gossip_queries (default true). */
  readonly gossipQueries?: boolean
}

export const startSyncer = (options: HarnessOptions = {}): Effect.Effect<Harness, never, Scope.Scope> =>
  Effect.gen(function* () {
    if (options.keepClock !== true) yield* TestClock.setTime(TEST_NOW * 1000)
    const settings = testSettings(options.settings)
    const store = options.store ?? (yield* makeMemory)
    const pipeline = yield* makePassThroughPipeline(store)
    const sp = yield* makeScriptedPeer(options)
    const shared = options.shared ?? (yield* makeShared(settings))
    const synced = yield* Ref.make(0)
    const peer = options.gossipQueries === false
      ? { ...sp.peer, gossipQueries: false, gossipQueriesEx: false }
      : sp.peer
    const service = options.flush === undefined ? pipeline.service : { ...pipeline.service, flush: options.flush }
    const made = yield* makeGossipSyncer(
      peer,
      {
        syncType: options.syncType ?? "PassiveSync",
        initialState: options.initialState ?? "chansSynced",
        markGraphSynced: Ref.update(synced, (n) => n + 1),
        ...(options.isGraphSynced === undefined ? {} : { isGraphSynced: options.isGraphSynced })
      },
      { settings, store, pipeline: service, shared }
    )
    const fiber = yield* Effect.forkScoped(Effect.scoped(made.run))
    yield* settle
    return { ...made, sp, store, pipeline, settings, graphSynced: Ref.get(synced), fiber }
  })

/** Lets forked fibers run until they block. */
export const settle: Effect.Effect<void> = Effect.repeatN(Effect.yieldNow(), 50)

/** Waits until the syncer reaches `s`. */
export const awaitState = (h: MadeSyncer, s: SyncerState): Effect.Effect<void> =>
  Effect.asVoid(h.syncer.state.changes.pipe(Stream.filter((x) => x === s), Stream.runHead))

/** Waits until some fiber sleeps on the TestClock (so that `adjust` wakes it). */
export const awaitSleeper: Effect.Effect<void> = Effect.gen(function* () {
  for (let i = 0; i < 10_000; i++) {
    if (Chunk.size(yield* TestClock.sleeps()) > 0) return
    yield* Effect.yieldNow()
  }
  return yield* Effect.dieMessage("no fiber went to sleep")
})

export const rangeReply = (
  first: number,
  count: number,
  ids: ReadonlyArray<ShortChannelId> = [],
  extra: Partial<Omit<ReplyChannelRange, "_tag" | "firstBlocknum" | "numberOfBlocks">> = {}
): ReplyChannelRange => ({
  _tag: "ReplyChannelRange",
  chainHash: CHAIN,
  firstBlocknum: first,
  numberOfBlocks: count,
  syncComplete: 1,
  shortIds: { encoding: 0, ids },
  timestamps: undefined,
  checksums: undefined,
  unknownTlvs: [],
  ...extra
})

export const scidEnd = (fullInformation = 1): Message => ({
  _tag: "ReplyShortChannelIdsEnd",
  chainHash: CHAIN,
  fullInformation
})

export const rangeQuery = (first: number, count: number, queryOption?: bigint): Message => ({
  _tag: "QueryChannelRange",
  chainHash: CHAIN,
  firstBlocknum: first,
  numberOfBlocks: count,
  queryOption,
  unknownTlvs: []
})

export const scidQuery = (ids: ReadonlyArray<ShortChannelId>, flags?: ReadonlyArray<bigint>): Message => ({
  _tag: "QueryShortChannelIds",
  chainHash: CHAIN,
  shortIds: { encoding: 0, ids },
  queryFlags: flags === undefined ? undefined : { encoding: 0, flags },
  unknownTlvs: []
})

export const timestampFilter = (firstTimestamp: number, timestampRange: number): Message => ({
  _tag: "GossipTimestampFilter",
  chainHash: CHAIN,
  firstTimestamp,
  timestampRange
})

/** Writes gossip straight into a store. */
export const seed = (
  store: GraphStoreService,
  gossip: {
    readonly channels?: ReadonlyArray<ChannelAnnouncement>
    readonly updates?: ReadonlyArray<ChannelUpdate>
    readonly nodes?: ReadonlyArray<NodeAnnouncement>
  }
) =>
  Effect.orDie(
    store.applyBatch({ channels: gossip.channels ?? [], updates: gossip.updates ?? [], nodes: gossip.nodes ?? [] })
  )

/** The real validation pipeline (signatures checked in this thread, no chain source) in front of `store`. */
export const validatingPipeline = (store: GraphStoreService) =>
  GossipPipeline.make.pipe(
    Effect.provide(
      Layer.mergeAll(Layer.succeed(GraphStore, store), layerInThread, layerNone, GossipPipelineConfigDefault)
    )
  )

/** A node that holds `graph` and only answers: a memory store seeded with it, the pass-through pipeline in front. */
export const servingStore = (graph: {
  readonly channelAnnouncements: ReadonlyArray<ChannelAnnouncement>
  readonly channelUpdates: ReadonlyArray<ChannelUpdate>
  readonly nodeAnnouncements: ReadonlyArray<NodeAnnouncement>
}) =>
  Effect.gen(function* () {
    const store = yield* makeMemory
    yield* seed(store, {
      channels: graph.channelAnnouncements,
      updates: graph.channelUpdates,
      nodes: graph.nodeAnnouncements
    })
    return { store, pipeline: yield* makePassThroughPipeline(store) }
  })
