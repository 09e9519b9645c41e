/**
 * GossipSyncer: the BOLT 7 gossip-query state machine for one peer (GS-n in docs/spec/gossip-syncer.md). This
 * module is its public face: the handle the SyncManager drives, its errors, the factory Tag, the config (Tag,
 * defaults, layers) and `make`/`layer` for the factory. The machinery — a context record and one module per fiber —
 * lives in `internal/gossipSyncer/` (start at `make.ts`).
 */
import type { Scope, SubscriptionRef } from "effect"
import { Context, Duration, Effect, Layer, Option } from "effect"
import type { ChainHash } from "../domain/Messages.js"
import type {
  GossipSyncerExiting,
  HistoricalSyncFailed,
  SyncTransitionFailed,
  SyncTransitionTimeout
} from "./internal/gossipSyncer/errors.js"
import type { SyncCounts, SyncProgress } from "./internal/gossipSyncer/counts.js"
import { GossipPipeline } from "./GossipPipeline.js"
import { GraphStore } from "./GraphStore.js"
import type { SyncerDeps } from "./internal/gossipSyncer/context.js"
import { makeGossipSyncer, makeShared } from "./internal/gossipSyncer/make.js"
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_MAX_QUERY_REPLIES,
  DEFAULT_MAX_REPLY_SCIDS,
  DEFAULT_RANGE_QUERY_LOOKBACK,
  DEFAULT_STALE_AFTER_SECONDS
} from "./internal/gossipSyncer/rules.js"
import { SyncManagerConfig, SyncManagerDefaults } from "./SyncManagerConfig.js"
import type { Peer } from "./Peer.js"

/** One syncer built by hand (tests, benches): the machinery's entry points, re-exported. */
export { makeGossipSyncer, makeShared } from "./internal/gossipSyncer/make.js"
export type { GossipSyncerInternals, MadeSyncer } from "./internal/gossipSyncer/make.js"
export type { Horizon, SyncerDeps, SyncerShared } from "./internal/gossipSyncer/context.js"

/** GS-1. Active and Pinned receive live gossip; Pinned is outside the active budget and never rotated. */
export type SyncType = "ActiveSync" | "PassiveSync" | "PinnedSync"

export { isActiveSync } from "./internal/gossipSyncer/rules.js"

/** GS-2. */
export type SyncerState =
  | "syncingChans"
  | "waitingQueryRangeReply"
  | "queryNewChannels"
  | "waitingQueryChanReply"
  | "chansSynced"
  | "syncerIdle"

/** GS-17/27..30: the errors of the handle (defined beside the machinery that raises them). */
export {
  GossipSyncerExiting,
  HistoricalSyncFailed,
  SyncTransitionFailed,
  SyncTransitionTimeout
} from "./internal/gossipSyncer/errors.js"

/** What a completed historical sync fetched (defined beside the machinery that counts it). */
export { noSyncCounts } from "./internal/gossipSyncer/counts.js"
export type { SyncCounts, SyncProgress } from "./internal/gossipSyncer/counts.js"

export interface GossipSyncer {
  readonly peer: Peer
  readonly syncType: Effect.Effect<SyncType>
  /** Observable state (GS-2). */
  readonly state: SubscriptionRef.SubscriptionRef<SyncerState>
  /** GS-27/28: switch sync type; sends the matching `gossip_timestamp_filter`. */
  readonly processSyncTransition: (
    to: SyncType
  ) => Effect.Effect<void, SyncTransitionTimeout | GossipSyncerExiting | SyncTransitionFailed>
  /** GS-29: start a full-range historical sync; returns once the syncer has left `chansSynced`. */
  readonly historicalSync: Effect.Effect<void, SyncTransitionTimeout | GossipSyncerExiting>
  /**
   * GS-30: a one-shot signal for the next entry into `chansSynced` (already completed if the syncer is there now).
   * It fails with HistoricalSyncFailed if the sync in progress fails instead (timeout, lying peer, store failure),
   * so the SyncManager can move the initial sync elsewhere at once — also when the sync requested last already
   * failed before the signal was taken (it can fail without waiting on the peer). Several callers may hold one at
   * once (the manager's initial-sync watch, the Reconciler): each gets the outcome of that same next sync.
   */
  readonly resetSyncedSignal: Effect.Effect<Effect.Effect<void, HistoricalSyncFailed | GossipSyncerExiting>>
  /**
   * GS-17: why the latest failed historical sync on this connection failed (none if none failed; a later completion
   * does not clear it). Set before the syncer enters `syncerIdle`, so whoever sees that state can read the reason.
   */
  readonly lastFailure: Effect.Effect<Option.Option<HistoricalSyncFailed>>
  /**
   * What the latest completed historical sync on this connection fetched (none before one completed). Set before
   * the syncer enters `chansSynced`.
   */
  readonly lastCompleted: Effect.Effect<Option.Option<SyncCounts>>
  /**
   * Issue 16: how far the historical sync in progress has come — channels wanted and received so far — known once
   * its range replies are in (none before that, and none when no sync is in its query phase). Cheap: for a
   * progress bar and `lnsync_sync_expected_channels`, polled.
   */
  readonly progress: Effect.Effect<Option.Option<SyncProgress>>
}

export interface GossipSyncerOptions {
  readonly syncType: SyncType
  readonly initialState: SyncerState
  /** SM-20: called by any syncer that completes a channel-range sync. */
  readonly markGraphSynced: Effect.Effect<void>
  /**
   * SM-34/SM-6: whether the graph is synced. While it is not, gossip received from peers is not relayed to this
   * peer (it is mostly the historical dump we are catching up on). Absent: always relay.
   */
  readonly isGraphSynced?: Effect.Effect<boolean>
}

/**
 * Makes syncers. `make` builds the handle; `run` is the syncer's life: the SyncManager forks it into its FiberMap
 * keyed by peer, so interrupting that fiber (peer disconnect, prune, shutdown) releases everything it holds.
 */
export interface GossipSyncerFactoryService {
  readonly make: (
    peer: Peer,
    options: GossipSyncerOptions
  ) => Effect.Effect<{ readonly syncer: GossipSyncer; readonly run: Effect.Effect<void, never, Scope.Scope> }>
}

export class GossipSyncerFactory extends Context.Tag("lnsync/GossipSyncerFactory")<
  GossipSyncerFactory,
  GossipSyncerFactoryService
>() {}

// ---------------------------------------------------------------------------------------------------------------
// Configuration

export interface GossipSyncerSettings {
  /** The chain we sync (wire byte order). */
  readonly chainHash: ChainHash
  /**
   * The chain tip from a chain source, for the range queries' block count (GS-9). Absent (no chain source): every
   * range query runs to the end of the block space, `number_of_blocks = 2^32-1 - first_blocknum` (Eclair), so
   * every chain (testnet3, signet, regtest) is asked up to its real end, not up to a mainnet height estimate.
   */
  readonly bestHeight?: Effect.Effect<number> | undefined
  /** GS-27/GS-29: how long a transition / historical request may wait to be accepted (5 s). */
  readonly transitionTimeout: Duration.Duration
  /** GS-51 (beyond lnd): longest wait for a reply or for progress; `none` reproduces lnd (wait forever). */
  readonly replyTimeout: Option.Option<Duration.Duration>
  /**
   * Beyond lnd (LDK never answers query_short_channel_ids): with neither requested gossip nor the end within this
   * long of our first SCID query on a connection, we ask the peer a one-block `query_channel_range`; its answer,
   * with still nothing for our SCID query, shows a live peer that ignores it, and we switch to the dump at once.
   */
  readonly scidFirstAnswerTimeout: Duration.Duration
  /**
   * Fallback dump: once every wanted announcement arrived, the dump is over after a silence of 8 times the longest
   * pause seen between its messages, at least `dumpQuietMin` and at most `dumpQuietPeriod`.
   */
  readonly dumpQuietMin: Duration.Duration
  readonly dumpQuietPeriod: Duration.Duration
  /** GS-34: SCIDs per reply_channel_range with plain encoding (8000). */
  readonly chunkSize: number
  /** GS-21: SCIDs per query_short_channel_ids (500). */
  readonly batchSize: number
  /** GS-15: reply budget per range query (500). */
  readonly maxQueryReplies: number
  /** GS-16: SCIDs accepted across one range-reply stream (100,000). */
  readonly maxReplyScids: number
  /** GS-5: state-machine and reply queues (50). */
  readonly queueSize: number
  /** GS-8: lookback for a non-historical range query (144 blocks). */
  readonly rangeQueryLookback: number
  /** GS-18: stale/skew window (14 days). */
  readonly staleAfterSeconds: number
  /** GS-10/GS-32: neither ask for nor serve timestamps/checksums. */
  readonly noTimestampQueries: boolean
  /** GS-44: never dump stored gossip for a peer's filter, only forward live gossip. */
  readonly ignoreHistoricalFilters: boolean
  /** SM-31: concurrent backlog dumps across all syncers of one factory (5). */
  readonly filterConcurrency: number
  /** GS-48: per-peer outbound byte rate and burst. */
  readonly peerBytesPerSecond: number
  readonly peerBurstBytes: number
  /** SM-30: outbound byte rate and burst shared by all syncers of one factory. */
  readonly globalBytesPerSecond: number
  readonly globalBurstBytes: number
  /** GS-46: announcements held while waiting for their first update (per syncer). */
  readonly maxHeldAnnouncements: number
}

export class GossipSyncerConfig extends Context.Tag("lnsync/GossipSyncerConfig")<
  GossipSyncerConfig,
  GossipSyncerSettings
>() {}

/** Defaults per the spec (GS-50/51, lnd's rate-limit defaults). */
export const defaultSettings: Omit<GossipSyncerSettings, "chainHash" | "bestHeight"> = {
  transitionTimeout: Duration.seconds(5),
  replyTimeout: Option.some(Duration.minutes(2)),
  scidFirstAnswerTimeout: Duration.seconds(1),
  dumpQuietMin: Duration.millis(250),
  dumpQuietPeriod: Duration.seconds(10),
  chunkSize: DEFAULT_CHUNK_SIZE,
  batchSize: DEFAULT_BATCH_SIZE,
  maxQueryReplies: DEFAULT_MAX_QUERY_REPLIES,
  maxReplyScids: DEFAULT_MAX_REPLY_SCIDS,
  queueSize: 50,
  rangeQueryLookback: DEFAULT_RANGE_QUERY_LOOKBACK,
  staleAfterSeconds: DEFAULT_STALE_AFTER_SECONDS,
  noTimestampQueries: false,
  ignoreHistoricalFilters: false,
  peerBytesPerSecond: SyncManagerDefaults.peerMsgBytesPerSecond,
  peerBurstBytes: 2 * SyncManagerDefaults.peerMsgBytesPerSecond,
  filterConcurrency: SyncManagerDefaults.filterConcurrency,
  globalBytesPerSecond: SyncManagerDefaults.msgBytesPerSecond,
  globalBurstBytes: SyncManagerDefaults.msgBytesBurst,
  maxHeldAnnouncements: 1024
}

export type GossipSyncerConfigInput =
  & Pick<GossipSyncerSettings, "chainHash" | "bestHeight">
  & Partial<Omit<GossipSyncerSettings, "chainHash" | "bestHeight">>

export const makeSettings = (input: GossipSyncerConfigInput): GossipSyncerSettings => ({ ...defaultSettings, ...input })

/** A config layer: the chain and best height are required, everything else defaults per the spec. */
export const configLayer = (input: GossipSyncerConfigInput): Layer.Layer<GossipSyncerConfig> =>
  Layer.succeed(GossipSyncerConfig, makeSettings(input))

/**
 * A config layer whose shared outbound limits (SM-30 global bucket, SM-31 filter semaphore, GS-48 per-peer bucket)
 * come from the SyncManagerConfig, so the manager and the factory read the same validated numbers.
 */
export const configLayerFromSyncManager = (
  input: GossipSyncerConfigInput
): Layer.Layer<GossipSyncerConfig, never, SyncManagerConfig> =>
  Layer.effect(
    GossipSyncerConfig,
    Effect.map(SyncManagerConfig, (sm) =>
      makeSettings({
        ...input,
        filterConcurrency: sm.filterConcurrency,
        globalBytesPerSecond: sm.msgBytesPerSecond,
        globalBurstBytes: sm.msgBytesBurst,
        peerBytesPerSecond: sm.peerMsgBytesPerSecond,
        peerBurstBytes: sm.peerMsgBytesBurst
      }))
  )

// ---------------------------------------------------------------------------------------------------------------
// The factory

/** The factory from the config, the graph store and the gossip pipeline; its syncers share SM-30/31 resources. */
export const make: Effect.Effect<GossipSyncerFactoryService, never, GossipSyncerConfig | GraphStore | GossipPipeline> =
  Effect.gen(function* () {
    const settings = yield* GossipSyncerConfig
    const store = yield* GraphStore
    const pipeline = yield* GossipPipeline
    const shared = yield* makeShared(settings)
    const deps: SyncerDeps = { settings, store, pipeline, shared }
    return {
      make: (peer, options) => Effect.map(makeGossipSyncer(peer, options, deps), ({ run, syncer }) => ({ syncer, run }))
    }
  })

/** `GossipSyncerFactory` from the config, the graph store and the gossip pipeline. */
export const layer: Layer.Layer<GossipSyncerFactory, never, GossipSyncerConfig | GraphStore | GossipPipeline> = Layer
  .effect(GossipSyncerFactory, make)
