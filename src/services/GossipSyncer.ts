/**
 * GossipSyncer: the BOLT 7 gossip-query state machine for one peer (GS-n in docs/spec/gossip-syncer.md). This
 * module holds its public face — the types and the handle the SyncManager drives; the state machine itself lives
 * beside it.
 */
import type { Effect, Scope, SubscriptionRef } from "effect"
import { Context, Data } from "effect"
import type { Peer } from "./Peer.js"

/** GS-1. Active and Pinned receive live gossip; Pinned is outside the active budget and never rotated. */
export type SyncType = "ActiveSync" | "PassiveSync" | "PinnedSync"

export const isActiveSync = (t: SyncType): boolean => t === "ActiveSync" || t === "PinnedSync"

/** GS-2. */
export type SyncerState =
  | "syncingChans"
  | "waitingQueryRangeReply"
  | "queryNewChannels"
  | "waitingQueryChanReply"
  | "chansSynced"
  | "syncerIdle"

/** GS-27/GS-29: the syncer did not accept the request within the transition timeout (5 s). */
export class SyncTransitionTimeout extends Data.TaggedError("SyncTransitionTimeout")<{ readonly peer: string }> {}

/** The syncer is stopping or stopped. */
export class GossipSyncerExiting extends Data.TaggedError("GossipSyncerExiting")<{ readonly peer: string }> {}

/** A sync transition could not send its `gossip_timestamp_filter` (GS-28). */
export class SyncTransitionFailed extends Data.TaggedError("SyncTransitionFailed")<{
  readonly peer: string
  readonly reason: string
}> {}

/** Why a historical sync failed; the SyncManager moves the sync to another peer. */
export class HistoricalSyncFailed extends Data.TaggedError("HistoricalSyncFailed")<{
  readonly peer: string
  readonly reason: string
}> {}

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
   * It fails with HistoricalSyncFailed if the sync in progress fails instead (timeout, lying peer), so the
   * SyncManager can move the initial sync elsewhere at once.
   */
  readonly resetSyncedSignal: Effect.Effect<Effect.Effect<void, HistoricalSyncFailed | GossipSyncerExiting>>
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
