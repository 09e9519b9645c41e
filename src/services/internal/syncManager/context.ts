/**
 * The one record the SyncManager's machinery works on: what lnd keeps as fields of its `SyncManager` struct. Each
 * module (handler, selection, initial sync, tickers, retry, syncers) is a set of functions over this record, so who
 * reads and who writes each piece of state is written down here, once.
 *
 * Ownership (SM-9: one handler fiber takes every command, so state changes are totally ordered):
 * - the handler alone writes `sets` (SM-4), `records`, `initial`, `assignments`, `tickerAssignment` and
 *   `initialOwed`, and starts/clears the fibers in `syncerFibers`, `retiring`, `historicalTicker`,
 *   `initialSignalWatch` and `retryTimers`;
 * - the service's lookups read snapshots of `sets` and `records`;
 * - tickers, syncer watches, signal watches and retry timers only offer commands to `queue`;
 * - `stop` (SM-10) clears everything once `quit` is set.
 */
import { Deferred, Effect, FiberHandle, FiberMap, FiberSet, Option, Queue, Ref, SubscriptionRef } from "effect"
import type { Exit, Scope } from "effect"
import type {
  GossipSyncer,
  GossipSyncerExiting,
  GossipSyncerFactoryService,
  HistoricalSyncFailed,
  SyncerState
} from "../../GossipSyncer.js"
import type { Peer } from "../../Peer.js"
import type { PeerSyncRecord } from "../../SyncManager.js"
import type { SyncManagerConfigValues } from "../../SyncManagerConfig.js"
import type { SyncRetryPolicy } from "./retry.js"

// ---------------------------------------------------------------------------------------------------------------
// The syncer maps (SM-4)

export interface Entry {
  readonly nodeIdHex: string
  readonly syncer: GossipSyncer
}

/** SM-4: three disjoint maps; `inactive` holds the PassiveSync syncers. */
export interface Sets {
  readonly active: ReadonlyMap<string, Entry>
  readonly inactive: ReadonlyMap<string, Entry>
  readonly pinned: ReadonlyMap<string, Entry>
}

export type Bucket = keyof Sets

export const emptySets: Sets = { active: new Map(), inactive: new Map(), pinned: new Map() }

/** SM-4 lookup order. */
export const lookup = (sets: Sets, nodeIdHex: string): Entry | undefined =>
  sets.inactive.get(nodeIdHex) ?? sets.active.get(nodeIdHex) ?? sets.pinned.get(nodeIdHex)

export const withEntry = (sets: Sets, bucket: Bucket, entry: Entry): Sets => {
  const next = new Map(sets[bucket])
  next.set(entry.nodeIdHex, entry)
  return { ...sets, [bucket]: next }
}

export const withoutPeer = (sets: Sets, nodeIdHex: string): Sets => {
  const drop = (m: ReadonlyMap<string, Entry>) => {
    if (!m.has(nodeIdHex)) return m
    const next = new Map(m)
    next.delete(nodeIdHex)
    return next
  }
  return { active: drop(sets.active), inactive: drop(sets.inactive), pinned: drop(sets.pinned) }
}

/** The syncer currently doing the initial historical sync (SM-7), with the assignment it belongs to. */
export interface InitialSyncer {
  readonly entry: Entry
  readonly assignment: number
}

// ---------------------------------------------------------------------------------------------------------------
// Commands for the handler (SM-9)

export type SyncOutcome = "started" | "completed" | "failed"

export type Command =
  | { readonly _tag: "Init"; readonly peer: Peer; readonly done: Deferred.Deferred<void> }
  | { readonly _tag: "Prune"; readonly nodeIdHex: string; readonly done: Deferred.Deferred<void> }
  /** A syncer's `run` ended by itself (not interrupted by us). */
  | { readonly _tag: "SyncerExited"; readonly entry: Entry }
  /** A syncer's historical sync (whoever started it) began or ended: seen in its state (GS-2). */
  | { readonly _tag: "SyncSettled"; readonly entry: Entry; readonly outcome: SyncOutcome }
  /** A failed syncer's backoff elapsed. */
  | { readonly _tag: "RetryDue"; readonly nodeIdHex: string }
  | { readonly _tag: "RotateTick" }
  /** From the historical ticker started for `assignment`; ticks of an older ticker are dropped. */
  | { readonly _tag: "HistoricalTick"; readonly assignment: number }
  /** The initial historical syncer's synced signal completed (SM-19) or failed. */
  | {
    readonly _tag: "InitialSyncSignal"
    readonly assignment: number
    readonly result: Exit.Exit<void, HistoricalSyncFailed | GossipSyncerExiting>
  }

/**
 * Commands waiting for the handler. Callers wait for their ack and tickers/signals are few, so this never fills in
 * practice; if it does, producers wait (backpressure), nothing is dropped.
 */
const CommandQueueCapacity = 256

/** GS-2 states in which a historical sync is in progress. */
export const syncingStates: ReadonlySet<SyncerState> = new Set<SyncerState>([
  "syncingChans",
  "waitingQueryRangeReply",
  "queryNewChannels",
  "waitingQueryChanReply"
])

// ---------------------------------------------------------------------------------------------------------------
// The record

export interface ManagerContext {
  readonly config: SyncManagerConfigValues
  /** SM-3: the active budget (`config.numActiveSyncers`). */
  readonly numActiveSyncers: number
  readonly retryPolicy: SyncRetryPolicy
  readonly factory: GossipSyncerFactoryService

  /** SM-4: written only by the handler; readers get snapshots. */
  readonly sets: Ref.Ref<Sets>
  /** SM-6: completed once, by the first completed channel-range sync. */
  readonly graphSynced: Deferred.Deferred<void>
  /** SM-10/11: set by `stop`; requests made after it fail at once. */
  readonly quit: Deferred.Deferred<void>
  /** Completed when `stop` has finished (a second `stop` waits for it). */
  readonly stopped: Deferred.Deferred<void>
  /** SM-9: the handler's commands. */
  readonly queue: Queue.Queue<Command>
  /** Each syncer's `run`, keyed by node id hex: a prune interrupts exactly that peer's. */
  readonly syncerFibers: FiberMap.FiberMap<string>
  /** Pruned syncers still finishing: stopped asynchronously (SM-23) but awaited by `stop`. */
  readonly retiring: FiberSet.FiberSet
  /** The handler and the rotation ticker. */
  readonly loops: FiberSet.FiberSet
  /** SM-17: the historical ticker of the current assignment. */
  readonly historicalTicker: FiberHandle.FiberHandle
  /** SM-19: the watch on the initial syncer's synced signal. */
  readonly initialSignalWatch: FiberHandle.FiberHandle
  /** Per peer: the wake-up when its backoff elapses. */
  readonly retryTimers: FiberMap.FiberMap<string>
  /** Per connected peer, what its syncs did (beyond lnd); written only by the handler. */
  readonly records: SubscriptionRef.SubscriptionRef<ReadonlyMap<string, PeerSyncRecord>>
  /** SM-7: the initial historical syncer, if one is assigned. */
  readonly initial: Ref.Ref<Option.Option<InitialSyncer>>
  /** Counts assignments of the initial historical syncer, so stale signals and ticks are recognised. */
  readonly assignments: Ref.Ref<number>
  /** The assignment the running historical ticker belongs to. */
  readonly tickerAssignment: Ref.Ref<number>
  /** An initial historical sync is owed but has no syncer (beyond lnd: assigned as soon as one is eligible). */
  readonly initialOwed: Ref.Ref<boolean>

  /** SM-20: given to every syncer; any completed channel-range sync marks the graph synced, once (SM-6). */
  readonly markGraphSynced: Effect.Effect<void>
  readonly isGraphSynced: Effect.Effect<boolean>
}

/** A fresh record in the current scope (its fiber collections end with it). */
export const makeContext = (
  config: SyncManagerConfigValues,
  retryPolicy: SyncRetryPolicy,
  factory: GossipSyncerFactoryService
): Effect.Effect<ManagerContext, never, Scope.Scope> =>
  Effect.gen(function* () {
    const graphSynced = yield* Deferred.make<void>()
    return {
      config,
      numActiveSyncers: config.numActiveSyncers,
      retryPolicy,
      factory,
      sets: yield* Ref.make<Sets>(emptySets),
      graphSynced,
      quit: yield* Deferred.make<void>(),
      stopped: yield* Deferred.make<void>(),
      queue: yield* Queue.bounded<Command>(CommandQueueCapacity),
      syncerFibers: yield* FiberMap.make<string>(),
      retiring: yield* FiberSet.make(),
      loops: yield* FiberSet.make(),
      historicalTicker: yield* FiberHandle.make(),
      initialSignalWatch: yield* FiberHandle.make(),
      retryTimers: yield* FiberMap.make<string>(),
      records: yield* SubscriptionRef.make<ReadonlyMap<string, PeerSyncRecord>>(new Map()),
      initial: yield* Ref.make<Option.Option<InitialSyncer>>(Option.none()),
      assignments: yield* Ref.make(0),
      tickerAssignment: yield* Ref.make(0),
      initialOwed: yield* Ref.make(false),
      markGraphSynced: Deferred.succeed(graphSynced, undefined).pipe(
        Effect.flatMap((first) => first ? Effect.logInfo("graph synced") : Effect.void)
      ),
      isGraphSynced: Deferred.isDone(graphSynced)
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

export const stateOf = (entry: Entry): Effect.Effect<SyncerState> => SubscriptionRef.get(entry.syncer.state)

/** This syncer's record, if it is still the one registered for its peer. */
export const recordOf = (ctx: ManagerContext, entry: Entry): Effect.Effect<PeerSyncRecord | undefined> =>
  Effect.map(SubscriptionRef.get(ctx.records), (m) => {
    const r = m.get(entry.nodeIdHex)
    return r?.syncer === entry.syncer ? r : undefined
  })

export const updateRecord = (
  ctx: ManagerContext,
  entry: Entry,
  f: (r: PeerSyncRecord) => PeerSyncRecord
): Effect.Effect<void> =>
  SubscriptionRef.update(ctx.records, (m) => {
    const r = m.get(entry.nodeIdHex)
    if (r === undefined || r.syncer !== entry.syncer) return m
    return new Map(m).set(entry.nodeIdHex, f(r))
  })
