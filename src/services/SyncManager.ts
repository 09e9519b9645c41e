/**
 * SyncManager: lnd's `discovery/sync_manager.go` (SM-n in docs/spec/sync-manager.md) as a scoped service.
 *
 * It decides, for every connected peer that speaks `gossip_queries`, whether its GossipSyncer is ActiveSync (we
 * take live gossip from it), PassiveSync or PinnedSync; it runs the initial historical sync and replaces it when
 * its peer goes away or fails; it rotates one active syncer every 20 minutes and forces a full resync with a random
 * peer every hour.
 *
 * Shape:
 * - One handler fiber takes commands from one queue (the seed's `syncerHandler`), so syncer creation/removal,
 *   ticks and the initial-sync signal are totally ordered (SM-9). Callers of `initSyncState`/`pruneSyncState` wait
 *   for an ack (the seed's `doneChan`).
 * - The active/passive/pinned maps live in a `Ref` (SM-4): only the handler writes it, lookups read snapshots.
 * - Each syncer's `run` is a fiber in a `FiberMap` keyed by node id hex: a prune interrupts exactly that peer's.
 * - The rotation ticker starts with the manager; the historical ticker is (re)started on every assignment of the
 *   initial historical syncer (SM-8, SM-17). Both are `Schedule`-driven fibers that only enqueue ticks.
 * - Random choices go through Effect's `Random` (SM-27), so a seeded `Random` makes them reproducible.
 *
 * Beyond lnd (issue 13, "every sync finishes"; lnd only ever picks syncers in `chansSynced`, so a syncer left in
 * `syncerIdle` by a failed sync (GS-17) was never used again on that connection, and a stalled initial sync waited
 * for the hourly tick):
 * - When the initial historical sync fails (the synced signal fails with HistoricalSyncFailed: reply timeout or a
 *   lying peer, GS-51 / lnd#11084), another candidate is chosen at once instead of waiting for the next tick.
 * - A syncer whose historical sync failed (whoever started it) is eligible again once its per-peer backoff has
 *   elapsed (`SyncRetryConfig`: 5 s doubling to 5 min, reset by a completed sync and by a new connection); the
 *   SM-27 "in chansSynced" test becomes "in chansSynced, or idle after a failure whose backoff elapsed", for
 *   promotion, rotation and historical ticks alike.
 * - An initial historical sync owed but unassigned (its syncer failed, left or refused, and nobody could take it)
 *   is assigned as soon as a syncer becomes eligible: a peer connects, a sync settles, a backoff elapses. lnd would
 *   wait for the next historical tick, or forever when the ticker never started (SM-8, SM-16).
 * - Every syncer's syncs are watched through its state (GS-2): `syncRecords` says, per connected peer, how many
 *   historical syncs completed, failed and why, and whether it completed the initial one — the account the
 *   Reconciler and `--exit-when-synced` give.
 */
import type { Scope } from "effect"
import {
  Cause,
  Clock,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  FiberHandle,
  FiberMap,
  FiberSet,
  Layer,
  Option,
  Queue,
  Random,
  Ref,
  Schedule,
  Stream,
  SubscriptionRef
} from "effect"
import type { GossipSyncer, GossipSyncerExiting, HistoricalSyncFailed, SyncerState, SyncType } from "./GossipSyncer.js"
import { GossipSyncerFactory } from "./GossipSyncer.js"
import type { Peer } from "./Peer.js"
import { SyncManagerConfig } from "./SyncManagerConfig.js"

/** SM-11: the manager is stopping or stopped (lnd's `ErrSyncManagerExiting`). */
export class SyncManagerExiting extends Data.TaggedError("SyncManagerExiting")<{}> {
  override readonly message = "sync manager exiting"
}

/** Beyond lnd: how soon a syncer whose historical sync failed may be chosen again (see the module comment). */
export interface SyncRetryPolicy {
  /** Backoff after the first failure; each further consecutive failure doubles it. */
  readonly initialBackoff: Duration.Duration
  /** The cap. */
  readonly maxBackoff: Duration.Duration
}

/** The retry policy; the default applies unless a layer provides another (`Layer.succeed(SyncRetryConfig, ...)`). */
export class SyncRetryConfig extends Context.Reference<SyncRetryConfig>()("lnsync/SyncManager/SyncRetryConfig", {
  defaultValue: (): SyncRetryPolicy => ({ initialBackoff: Duration.seconds(5), maxBackoff: Duration.minutes(5) })
}) {}

/** The backoff after `failures` consecutive failures (1 = the first): initial * 2^(failures-1), capped. */
export const retryBackoff = (policy: SyncRetryPolicy, failures: number): Duration.Duration => {
  const initial = Duration.toMillis(policy.initialBackoff)
  const max = Duration.toMillis(policy.maxBackoff)
  return Duration.millis(Math.min(max, initial * 2 ** Math.min(Math.max(failures - 1, 0), 52)))
}

/** What the manager saw of one peer's historical syncs on its current connection (beyond lnd). */
export interface PeerSyncRecord {
  readonly nodeIdHex: string
  readonly syncer: GossipSyncer
  /** Historical syncs this syncer completed (reached `chansSynced` from a syncing state, GS-20). */
  readonly completed: number
  /** Consecutive failed historical syncs (ended in `syncerIdle`, GS-17); a completion resets it. */
  readonly failures: number
  /** Why the last one failed: the syncer's `lastFailure` (GS-17), whoever started the sync. */
  readonly lastFailure: Option.Option<string>
  /** While `failures > 0`: when (epoch ms) the syncer becomes eligible again. */
  readonly retryAtMillis: Option.Option<number>
  /** This syncer completed the initial historical sync (SM-19) on this connection. */
  readonly completedInitial: boolean
  /**
   * The manager has seen a sync of this syncer start and not yet end. With the syncer idle and this false, the
   * record has caught up with the syncer's last sync.
   */
  readonly syncing: boolean
}

/** One syncer as the manager tracks it; `syncType` is the map it is in (SM-4). */
export interface SyncerSnapshot {
  readonly nodeIdHex: string
  readonly syncType: SyncType
  readonly syncer: GossipSyncer
}

export interface SyncManagerService {
  /**
   * SM-11/SM-13: a peer with `gossip_queries` connected. Returns once its syncer is registered and started (before
   * any historical sync it gets, SM-16). A second call for a known peer is a no-op (SM-14).
   */
  readonly initSyncState: (peer: Peer) => Effect.Effect<void, SyncManagerExiting>
  /** SM-12/SM-23: the peer disconnected; stops its syncer. Returns silently when the manager is stopping. */
  readonly pruneSyncState: (nodeIdHex: string) => Effect.Effect<void>
  /** SM-4: this peer's syncer (looked up in passive, then active, then pinned). */
  readonly syncer: (nodeIdHex: string) => Effect.Effect<Option.Option<GossipSyncer>>
  /** Every syncer with the role the manager gave it (a consistent snapshot, SM-9). */
  readonly syncers: Effect.Effect<ReadonlyArray<SyncerSnapshot>>
  /**
   * SM-32: the syncers whose outbound filter gates live gossip, keyed by node id hex. Unlike lnd master this
   * includes pinned syncers: a pinned peer has a timestamp filter like any other syncer peer, so it gets gossip
   * through that filter rather than as unfiltered broadcast.
   */
  readonly gossipSyncers: Effect.Effect<ReadonlyMap<string, GossipSyncer>>
  /** SM-6: true once any syncer completed a channel-range sync; never goes back. */
  readonly isGraphSynced: Effect.Effect<boolean>
  /** Completes when the graph is first synced (SM-6). */
  readonly awaitGraphSynced: Effect.Effect<void>
  /** Per connected peer (node id hex), what its syncs did on this connection (beyond lnd; a snapshot, SM-9). */
  readonly syncRecords: Effect.Effect<ReadonlyMap<string, PeerSyncRecord>>
  /** The current `syncRecords`, then every change. */
  readonly syncRecordChanges: Stream.Stream<ReadonlyMap<string, PeerSyncRecord>>
  /**
   * SM-10: idempotent. Stops the handler and the tickers, then every syncer (active, passive and pinned) and waits
   * for their fibers to end. Closing the layer's scope calls it.
   */
  readonly stop: Effect.Effect<void>
}

interface Entry {
  readonly nodeIdHex: string
  readonly syncer: GossipSyncer
}

/** SM-4: three disjoint maps; `inactive` holds the PassiveSync syncers. */
interface Sets {
  readonly active: ReadonlyMap<string, Entry>
  readonly inactive: ReadonlyMap<string, Entry>
  readonly pinned: ReadonlyMap<string, Entry>
}

type Bucket = keyof Sets

const emptySets: Sets = { active: new Map(), inactive: new Map(), pinned: new Map() }

/** SM-4 lookup order. */
const lookup = (sets: Sets, nodeIdHex: string): Entry | undefined =>
  sets.inactive.get(nodeIdHex) ?? sets.active.get(nodeIdHex) ?? sets.pinned.get(nodeIdHex)

const withEntry = (sets: Sets, bucket: Bucket, entry: Entry): Sets => {
  const next = new Map(sets[bucket])
  next.set(entry.nodeIdHex, entry)
  return { ...sets, [bucket]: next }
}

const withoutPeer = (sets: Sets, nodeIdHex: string): Sets => {
  const drop = (m: ReadonlyMap<string, Entry>) => {
    if (!m.has(nodeIdHex)) return m
    const next = new Map(m)
    next.delete(nodeIdHex)
    return next
  }
  return { active: drop(sets.active), inactive: drop(sets.inactive), pinned: drop(sets.pinned) }
}

/** The syncer currently doing the initial historical sync (SM-7), with the assignment it belongs to. */
interface InitialSyncer {
  readonly entry: Entry
  readonly assignment: number
}

type Command =
  | { readonly _tag: "Init"; readonly peer: Peer; readonly done: Deferred.Deferred<void> }
  | { readonly _tag: "Prune"; readonly nodeIdHex: string; readonly done: Deferred.Deferred<void> }
  /** A syncer's `run` ended by itself (not interrupted by us). */
  | { readonly _tag: "SyncerExited"; readonly entry: Entry }
  /** A syncer's historical sync (whoever started it) began or ended: seen in its state (GS-2). */
  | { readonly _tag: "SyncSettled"; readonly entry: Entry; readonly outcome: "started" | "completed" | "failed" }
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

const syncingStates: ReadonlySet<SyncerState> = new Set<SyncerState>([
  "syncingChans",
  "waitingQueryRangeReply",
  "queryNewChannels",
  "waitingQueryChanReply"
])

/** A failure whose syncer gave no reason (GS-17: the syncer sets `lastFailure` before `syncerIdle`; fakes may not). */
const GenericFailure = "historical sync failed"

/** Builds the manager in the current scope: its fibers start now and stop when the scope closes (SM-8, SM-10). */
export const makeSyncManager: Effect.Effect<
  SyncManagerService,
  never,
  Scope.Scope | GossipSyncerFactory | SyncManagerConfig
> = Effect.gen(function* () {
  const config = yield* SyncManagerConfig
  const retryPolicy = yield* SyncRetryConfig
  const factory = yield* GossipSyncerFactory
  const { numActiveSyncers } = config

  const sets = yield* Ref.make<Sets>(emptySets)
  const graphSynced = yield* Deferred.make<void>()
  const quit = yield* Deferred.make<void>()
  const stopped = yield* Deferred.make<void>()
  const queue = yield* Queue.bounded<Command>(CommandQueueCapacity)
  /** Each syncer's `run`, keyed by node id hex. */
  const syncerFibers = yield* FiberMap.make<string>()
  /** Pruned syncers still finishing: stopped asynchronously (SM-23) but awaited by `stop`. */
  const retiring = yield* FiberSet.make()
  /** The handler and the rotation ticker. */
  const loops = yield* FiberSet.make()
  const historicalTicker = yield* FiberHandle.make()
  const initialSignalWatch = yield* FiberHandle.make()
  /** Per peer: the wake-up when its backoff elapses. */
  const retryTimers = yield* FiberMap.make<string>()
  /** Written only by the handler; readers get snapshots. */
  const records = yield* SubscriptionRef.make<ReadonlyMap<string, PeerSyncRecord>>(new Map())
  // Handler-local state (SM-7); only the handler fiber touches these.
  const initial = yield* Ref.make<Option.Option<InitialSyncer>>(Option.none())
  const assignments = yield* Ref.make(0)
  const tickerAssignment = yield* Ref.make(0)
  /** An initial historical sync is owed but has no syncer (beyond lnd: assigned as soon as one is eligible). */
  const initialOwed = yield* Ref.make(false)

  /** SM-20: given to every syncer; any completed channel-range sync marks the graph synced, once (SM-6). */
  const markGraphSynced: Effect.Effect<void> = Deferred.succeed(graphSynced, undefined).pipe(
    Effect.flatMap((first) => first ? Effect.logInfo("graph synced") : Effect.void)
  )
  const isGraphSynced = Deferred.isDone(graphSynced)

  const stateOf = (entry: Entry) => SubscriptionRef.get(entry.syncer.state)

  const recordOf = (entry: Entry) =>
    Effect.map(SubscriptionRef.get(records), (m) => {
      const r = m.get(entry.nodeIdHex)
      return r?.syncer === entry.syncer ? r : undefined
    })

  const updateRecord = (entry: Entry, f: (r: PeerSyncRecord) => PeerSyncRecord) =>
    SubscriptionRef.update(records, (m) => {
      const r = m.get(entry.nodeIdHex)
      if (r === undefined || r.syncer !== entry.syncer) return m
      return new Map(m).set(entry.nodeIdHex, f(r))
    })

  /**
   * SM-27 eligibility, widened (beyond lnd): `chansSynced`, or `syncerIdle` after a failed sync whose backoff has
   * elapsed. A syncer idle for another reason (a pinned one before its first sync) is not eligible.
   */
  const eligible = (entry: Entry) =>
    Effect.gen(function* () {
      const state = yield* stateOf(entry)
      if (state === "chansSynced") return true
      if (state !== "syncerIdle") return false
      const record = yield* recordOf(entry)
      if (record === undefined || Option.isNone(record.retryAtMillis)) return false
      return (yield* Clock.currentTimeMillis) >= record.retryAtMillis.value
    })

  /**
   * SM-27: try the candidates in random order, skipping any not eligible (lnd: not in `chansSynced`); with an
   * action, skip those whose action fails. Returns the first that passed. Go's map order was lnd's randomness; we
   * shuffle explicitly.
   */
  const chooseRandomSyncer = <E>(
    candidates: Iterable<Entry>,
    action?: (entry: Entry) => Effect.Effect<void, E>
  ): Effect.Effect<Option.Option<Entry>> =>
    Effect.gen(function* () {
      for (const entry of yield* Random.shuffle(candidates)) {
        if (!(yield* eligible(entry))) continue
        if (action !== undefined) {
          const outcome = yield* Effect.either(action(entry))
          if (Either.isLeft(outcome)) {
            yield* Effect.logDebug("skipping candidate syncer").pipe(
              Effect.annotateLogs({ peer: entry.nodeIdHex, error: String(outcome.left) })
            )
            continue
          }
        }
        return Option.some(entry)
      }
      return Option.none()
    })

  /** SM-29: the maps change only after the syncer accepted the transition. */
  const transition = (entry: Entry, to: "ActiveSync" | "PassiveSync") =>
    entry.syncer.processSyncTransition(to).pipe(
      Effect.zipRight(
        Ref.update(sets, (s) =>
          withEntry(withoutPeer(s, entry.nodeIdHex), to === "ActiveSync" ? "active" : "inactive", entry))
      )
    )
  const promote = (entry: Entry) => transition(entry, "ActiveSync")
  const demote = (entry: Entry) => transition(entry, "PassiveSync")

  /** SM-28: a random eligible syncer from active+passive (never pinned) that accepts a historical sync. */
  const forceHistoricalSync = (exclude?: string) =>
    Effect.flatMap(Ref.get(sets), (s) =>
      chooseRandomSyncer(
        [...s.inactive.values(), ...s.active.values()].filter((e) => e.nodeIdHex !== exclude),
        (e) => e.syncer.historicalSync
      ))

  /** The historical ticker for one assignment: a tick every interval, the first one a full interval away. */
  const historicalTicks = (assignment: number) =>
    Queue.offer(queue, { _tag: "HistoricalTick", assignment }).pipe(
      Effect.schedule(Schedule.fixed(config.historicalSyncInterval))
    )

  /**
   * SM-17: record the initial historical syncer, watch its synced signal and restart the historical ticker so every
   * initial syncer gets a full interval before a tick may replace it.
   */
  const setInitialHistoricalSyncer = (entry: Entry) =>
    Effect.gen(function* () {
      const assignment = yield* Ref.updateAndGet(assignments, (n) => n + 1)
      yield* Ref.set(initial, Option.some({ entry, assignment }))
      yield* Ref.set(initialOwed, false)
      const signal = yield* entry.syncer.resetSyncedSignal
      yield* FiberHandle.clear(initialSignalWatch)
      yield* FiberHandle.run(
        initialSignalWatch,
        Effect.exit(signal).pipe(
          Effect.flatMap((result) => Queue.offer(queue, { _tag: "InitialSyncSignal", assignment, result }))
        )
      )
      yield* FiberHandle.clear(historicalTicker)
      yield* Ref.set(tickerAssignment, assignment)
      yield* FiberHandle.run(historicalTicker, historicalTicks(assignment))
      yield* Effect.logInfo("initial historical sync assigned").pipe(Effect.annotateLogs("peer", entry.nodeIdHex))
    })

  const clearInitialHistoricalSyncer = Ref.set(initial, Option.none()).pipe(
    Effect.zipRight(FiberHandle.clear(initialSignalWatch))
  )

  /** Beyond lnd: the owed initial historical sync goes to an eligible syncer now, if there is one. */
  const assignOwedInitialSync = (why: string) =>
    Effect.gen(function* () {
      if (numActiveSyncers === 0 || !(yield* Ref.get(initialOwed)) || Option.isSome(yield* Ref.get(initial))) return
      const chosen = yield* forceHistoricalSync()
      if (Option.isNone(chosen)) return
      yield* Effect.logInfo("owed initial historical sync assigned").pipe(
        Effect.annotateLogs({ peer: chosen.value.nodeIdHex, why })
      )
      yield* setInitialHistoricalSyncer(chosen.value)
    })

  /** The initial historical sync has no syncer and none could take it: owe it (assigned by the next eligible one). */
  const oweInitialSync = Ref.set(initialOwed, numActiveSyncers > 0)

  /** A failed sync (or refused request) of this syncer: count it, note why, and wake up when its backoff ends. */
  const recordFailure = (entry: Entry, reason: string | undefined) =>
    Effect.gen(function* () {
      const record = yield* recordOf(entry)
      if (record === undefined) return
      const failures = record.failures + 1
      const backoff = retryBackoff(retryPolicy, failures)
      const now = yield* Clock.currentTimeMillis
      yield* updateRecord(entry, (r) => ({
        ...r,
        syncing: false,
        failures,
        lastFailure: Option.some(reason ?? GenericFailure),
        retryAtMillis: Option.some(now + Duration.toMillis(backoff))
      }))
      yield* FiberMap.run(
        retryTimers,
        entry.nodeIdHex,
        Queue.offer(queue, { _tag: "RetryDue", nodeIdHex: entry.nodeIdHex }).pipe(Effect.delay(backoff))
      )
      yield* Effect.logInfo("syncer will be eligible again after its backoff").pipe(
        Effect.annotateLogs({ peer: entry.nodeIdHex, failures, backoff: Duration.format(backoff) })
      )
    })

  /** Interrupts a syncer's fiber without waiting for it (SM-23: never block the handler); `stop` awaits it. */
  const retire = (nodeIdHex: string) =>
    Option.match(FiberMap.unsafeGet(syncerFibers, nodeIdHex), {
      onNone: () => Effect.void,
      onSome: (fiber) =>
        FiberSet.add(retiring, fiber).pipe(
          Effect.zipRight(Effect.fiberIdWith((self) => Fiber.interruptAsFork(fiber, self)))
        )
    })

  /** SM-23 minus the ack: forget the syncer, stop it, and replace it if it was active. */
  const removeSyncer = (entry: Entry) =>
    Effect.gen(function* () {
      const before = yield* Ref.get(sets)
      const wasActive = before.active.get(entry.nodeIdHex)?.syncer === entry.syncer
      yield* Ref.set(sets, withoutPeer(before, entry.nodeIdHex))
      yield* retire(entry.nodeIdHex)
      // a new connection starts with a clean record and no backoff
      yield* SubscriptionRef.update(records, (m) => {
        if (m.get(entry.nodeIdHex)?.syncer !== entry.syncer) return m
        const next = new Map(m)
        next.delete(entry.nodeIdHex)
        return next
      })
      yield* FiberMap.remove(retryTimers, entry.nodeIdHex)
      yield* Effect.logInfo("removed syncer").pipe(Effect.annotateLogs("peer", entry.nodeIdHex))
      if (!wasActive) return
      // SM-23: an active slot freed is refilled at once, even before the graph is synced.
      const after = yield* Ref.get(sets)
      const replacement = yield* chooseRandomSyncer(after.inactive.values(), promote)
      yield* Option.match(replacement, {
        onNone: () => Effect.logDebug("no passive syncer to replace the active one"),
        onSome: (r) =>
          Effect.logInfo("promoted passive syncer").pipe(
            Effect.annotateLogs({ peer: r.nodeIdHex, replacing: entry.nodeIdHex })
          )
      })
    })

  /** SM-22: the removed peer was the initial historical syncer; hand the sync to another eligible syncer. */
  const replaceInitialIfRemoved = (entry: Entry) =>
    Effect.gen(function* () {
      const current = yield* Ref.get(initial)
      if (Option.isNone(current) || current.value.entry.nodeIdHex !== entry.nodeIdHex) return
      yield* clearInitialHistoricalSyncer
      if (numActiveSyncers === 0) return
      const replacement = yield* forceHistoricalSync()
      if (Option.isSome(replacement)) {
        yield* setInitialHistoricalSyncer(replacement.value)
      } else {
        // SM-22 leaves the slot empty for the ticker; beyond lnd, the next eligible syncer takes it.
        yield* oweInitialSync
        yield* Effect.logInfo("no replacement for the initial historical sync; the next eligible peer takes it")
      }
    })

  /**
   * Tells the handler each time the syncer's historical sync ends: its state goes from a syncing state to
   * `chansSynced` (completed, GS-20) or `syncerIdle` (failed, GS-17). State, not the synced signal: the signal is a
   * single slot (GS-30) that the initial-sync watch and the Reconciler arm.
   */
  const watchSyncs = (entry: Entry) =>
    entry.syncer.state.changes.pipe(
      Stream.mapAccum(
        undefined as SyncerState | undefined,
        (previous, next): readonly [SyncerState, Option.Option<"started" | "completed" | "failed">] => [
          next,
          previous === undefined || !syncingStates.has(previous)
            ? (syncingStates.has(next) ? Option.some("started") : Option.none())
            : next === "chansSynced"
            ? Option.some("completed")
            : next === "syncerIdle"
            ? Option.some("failed")
            : Option.none()
        ]
      ),
      Stream.filterMap((outcome) => outcome),
      Stream.runForEach((outcome) => Queue.offer(queue, { _tag: "SyncSettled", entry, outcome }))
    )

  /** The syncer's life in its FiberMap slot, with its sync watch; if it ends by itself the handler forgets it. */
  const supervise = (entry: Entry, run: Effect.Effect<void, never, Scope.Scope>) =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.scoped(Effect.zipRight(Effect.forkScoped(watchSyncs(entry)), run)))
      if (Exit.isFailure(exit)) {
        if (Cause.isInterruptedOnly(exit.cause)) return
        yield* Effect.logError("syncer died", exit.cause).pipe(Effect.annotateLogs("peer", entry.nodeIdHex))
      }
      // Interruptible: if the handler is tearing this fiber down meanwhile, the notice is simply dropped.
      yield* Queue.offer(queue, { _tag: "SyncerExited", entry })
    })

  /** SM-14..SM-18. */
  const handleInit = (peer: Peer, done: Deferred.Deferred<void>) =>
    Effect.gen(function* () {
      const nodeIdHex = peer.nodeIdHex.toLowerCase()
      const s = yield* Ref.get(sets)
      if (lookup(s, nodeIdHex) !== undefined) {
        // SM-14: neither replaced nor restarted.
        yield* Deferred.succeed(done, undefined)
        return
      }
      const pinned = config.pinnedPeers.has(nodeIdHex)
      let bucket: Bucket
      let historical = false
      if (pinned) {
        // SM-16.1: outside the active budget; a historical sync on every connection (SM-18).
        bucket = "pinned"
        historical = true
      } else if (s.active.size === 0 && s.inactive.size === 0) {
        // SM-16.2 (pinned not counted): first peer, or first after losing them all (SM-18).
        bucket = "inactive"
        historical = numActiveSyncers > 0
      } else if (s.active.size >= numActiveSyncers) {
        bucket = "inactive" // SM-16.3
      } else if (!(yield* isGraphSynced)) {
        bucket = "inactive" // SM-16.4, SM-21: promoted by SM-19
      } else {
        bucket = "active" // SM-16.5
      }
      const syncType: SyncType = bucket === "pinned" ? "PinnedSync" : bucket === "active" ? "ActiveSync" : "PassiveSync"
      // SM-15: new syncers start in chansSynced (pinned ones idle, waiting for their historical sync).
      const { run, syncer } = yield* factory.make(peer, {
        syncType,
        initialState: pinned ? "syncerIdle" : "chansSynced",
        markGraphSynced,
        isGraphSynced
      })
      const entry: Entry = { nodeIdHex, syncer }
      yield* Ref.update(sets, (current) => withEntry(current, bucket, entry))
      yield* SubscriptionRef.update(records, (m) =>
        new Map(m).set(nodeIdHex, {
          nodeIdHex,
          syncer,
          completed: 0,
          failures: 0,
          lastFailure: Option.none(),
          retryAtMillis: Option.none(),
          completedInitial: false,
          syncing: false
        }))
      yield* FiberMap.run(syncerFibers, nodeIdHex, supervise(entry, run))
      yield* Effect.logInfo("created syncer").pipe(Effect.annotateLogs({ peer: nodeIdHex, syncType }))
      // SM-11: ack after registration and start, before the historical request.
      yield* Deferred.succeed(done, undefined)
      if (!historical) {
        // beyond lnd: a new peer takes an owed initial sync at once
        if (!pinned) yield* assignOwedInitialSync("peer connected")
        return
      }
      const requested = yield* Effect.either(syncer.historicalSync)
      if (Either.isLeft(requested)) {
        // SM-16: no retry here. Beyond lnd, the sync is owed (the next eligible peer takes it) and this peer gets a
        // backoff like a failed sync, after which it is tried again.
        yield* Effect.logWarning("historical sync request failed").pipe(
          Effect.annotateLogs({ peer: nodeIdHex, error: String(requested.left) })
        )
        if (!pinned) {
          yield* oweInitialSync
          yield* recordFailure(entry, `historical sync request refused: ${requested.left._tag}`)
        }
        return
      }
      if (!pinned) yield* setInitialHistoricalSyncer(entry)
    })

  /** SM-23 then SM-22. */
  const handlePrune = (nodeIdHex: string, done: Deferred.Deferred<void>) =>
    Effect.gen(function* () {
      const entry = lookup(yield* Ref.get(sets), nodeIdHex)
      if (entry === undefined) {
        yield* Deferred.succeed(done, undefined)
        return
      }
      yield* removeSyncer(entry)
      yield* Deferred.succeed(done, undefined)
      yield* replaceInitialIfRemoved(entry)
    })

  /**
   * A syncer whose `run` ended by itself (fatal error, its peer's stream ended) is removed like a pruned one, so it
   * is never chosen again; the peer's later prune is then a no-op. (lnd leaves such a syncer in its maps.)
   */
  const handleSyncerExited = (entry: Entry) =>
    Effect.gen(function* () {
      if (lookup(yield* Ref.get(sets), entry.nodeIdHex)?.syncer !== entry.syncer) return
      yield* Effect.logWarning("syncer stopped by itself").pipe(Effect.annotateLogs("peer", entry.nodeIdHex))
      yield* removeSyncer(entry)
      yield* replaceInitialIfRemoved(entry)
    })

  /** Beyond lnd: a syncer's sync began or ended; keep its record and backoff, then give an owed initial sync out. */
  const handleSyncSettled = (entry: Entry, outcome: "started" | "completed" | "failed") =>
    Effect.gen(function* () {
      if ((yield* recordOf(entry)) === undefined) return // pruned meanwhile
      if (outcome === "started") return yield* updateRecord(entry, (r) => ({ ...r, syncing: true }))
      if (outcome === "failed") {
        // whoever started the sync, the syncer says why it failed (GS-17)
        const failure = yield* entry.syncer.lastFailure
        yield* recordFailure(entry, Option.getOrUndefined(Option.map(failure, (f) => f.reason)))
      } else {
        // the initial syncer's signal (SM-19) may be handled after this; the record says so either way
        const current = yield* Ref.get(initial)
        const wasInitial = Option.isSome(current) && current.value.entry.syncer === entry.syncer
        yield* updateRecord(entry, (r) => ({
          ...r,
          completed: r.completed + 1,
          completedInitial: r.completedInitial || wasInitial,
          syncing: false,
          failures: 0,
          retryAtMillis: Option.none()
        }))
        yield* FiberMap.remove(retryTimers, entry.nodeIdHex)
      }
      yield* assignOwedInitialSync(`a sync ${outcome}`)
    })

  const handleRetryDue = (nodeIdHex: string) => assignOwedInitialSync(`backoff of ${nodeIdHex} elapsed`)

  /** SM-24/SM-25: swap one eligible active syncer for one eligible passive one. */
  const rotate = Effect.gen(function* () {
    const s = yield* Ref.get(sets)
    const outgoing = yield* chooseRandomSyncer(s.active.values())
    if (Option.isNone(outgoing)) return yield* Effect.logDebug("no eligible active syncer to rotate")
    const incoming = yield* chooseRandomSyncer(s.inactive.values())
    if (Option.isNone(incoming)) return yield* Effect.logDebug("no eligible candidate to rotate in")
    const demoted = yield* Effect.either(demote(outgoing.value))
    if (Either.isLeft(demoted)) {
      return yield* Effect.logWarning("rotation: demotion failed").pipe(
        Effect.annotateLogs({ peer: outgoing.value.nodeIdHex, error: String(demoted.left) })
      )
    }
    const promoted = yield* Effect.either(promote(incoming.value))
    if (Either.isLeft(promoted)) {
      // SM-24 port note: the active set stays one short until a later promotion; rotation never adds.
      return yield* Effect.logWarning("rotation: promotion failed").pipe(
        Effect.annotateLogs({ peer: incoming.value.nodeIdHex, error: String(promoted.left) })
      )
    }
    yield* Effect.logInfo("rotated active syncer").pipe(
      Effect.annotateLogs({ out: outgoing.value.nodeIdHex, in: incoming.value.nodeIdHex })
    )
  })

  /** SM-26. */
  const handleHistoricalTick = (assignment: number) =>
    Effect.gen(function* () {
      // A tick from a ticker replaced meanwhile would give the new initial syncer less than a full interval.
      if (assignment !== (yield* Ref.get(tickerAssignment))) return
      if (numActiveSyncers === 0) return
      const chosen = yield* forceHistoricalSync()
      if (Option.isNone(chosen)) return yield* Effect.logDebug("no candidate for a historical sync")
      yield* Effect.logInfo("forced historical sync").pipe(Effect.annotateLogs("peer", chosen.value.nodeIdHex))
      // Until the graph is synced a tick replaces a stalled initial sync (SM-26, SM-17).
      if (!(yield* isGraphSynced)) yield* setInitialHistoricalSyncer(chosen.value)
    })

  /** SM-19, plus the failure path lnd lacks. */
  const handleInitialSyncSignal = (
    assignment: number,
    result: Exit.Exit<void, HistoricalSyncFailed | GossipSyncerExiting>
  ) =>
    Effect.gen(function* () {
      const current = yield* Ref.get(initial)
      if (Option.isNone(current) || current.value.assignment !== assignment) return
      const { entry } = current.value
      if (Exit.isSuccess(result)) {
        yield* Ref.set(initial, Option.none())
        yield* updateRecord(entry, (r) => ({ ...r, completedInitial: true }))
        yield* Effect.logInfo("initial historical sync completed").pipe(Effect.annotateLogs("peer", entry.nodeIdHex))
        const s = yield* Ref.get(sets)
        const wanted = numActiveSyncers - s.active.size
        if (wanted <= 0) return
        // SM-19: at most as many as there are passive syncers (c15c8a1f0); a slot with no taker stays empty.
        const promotions = Math.min(wanted, s.inactive.size)
        for (let i = 0; i < promotions; i++) {
          const now = yield* Ref.get(sets)
          yield* chooseRandomSyncer(now.inactive.values(), promote)
        }
        return
      }
      const failure = Cause.failureOption(result.cause)
      if (Option.isNone(failure) || failure.value._tag !== "HistoricalSyncFailed") {
        // The syncer is exiting: its removal (prune or SyncerExited) hands the sync on through SM-22.
        return
      }
      // Beyond lnd (GS-51, lnd#11084): the initial sync failed (reply timeout, lying peer). Move it to another
      // candidate now rather than at the next historical tick; the failed peer waits out its backoff.
      yield* clearInitialHistoricalSyncer
      yield* Effect.logWarning("initial historical sync failed; choosing another peer").pipe(
        Effect.annotateLogs({ peer: entry.nodeIdHex, reason: failure.value.reason })
      )
      const replacement = yield* forceHistoricalSync(entry.nodeIdHex)
      if (Option.isSome(replacement)) {
        yield* setInitialHistoricalSyncer(replacement.value)
      } else {
        yield* oweInitialSync
        yield* Effect.logInfo("no other peer for the initial historical sync; retried when a peer becomes eligible")
      }
    })

  const handle = (command: Command): Effect.Effect<void> => {
    switch (command._tag) {
      case "Init":
        return handleInit(command.peer, command.done)
      case "Prune":
        return handlePrune(command.nodeIdHex, command.done)
      case "SyncerExited":
        return handleSyncerExited(command.entry)
      case "SyncSettled":
        return handleSyncSettled(command.entry, command.outcome)
      case "RetryDue":
        return handleRetryDue(command.nodeIdHex)
      case "RotateTick":
        return rotate
      case "HistoricalTick":
        return handleHistoricalTick(command.assignment)
      case "InitialSyncSignal":
        return handleInitialSyncSignal(command.assignment, command.result)
    }
  }

  /** SM-9: the one fiber that changes state. A defect in one command is reported to its caller, not fatal. */
  const handler = Queue.take(queue).pipe(
    Effect.flatMap((command) =>
      handle(command).pipe(
        Effect.catchAllDefect((defect) =>
          Effect.logError("sync manager command failed", Cause.die(defect)).pipe(
            Effect.zipRight("done" in command ? Deferred.die(command.done, defect) : Effect.void)
          )
        )
      )
    ),
    Effect.forever
  )

  /** SM-8: the rotation ticker runs from the start; its first tick is one interval away. */
  const rotationTicks = Queue.offer(queue, { _tag: "RotateTick" } as const).pipe(
    Effect.schedule(Schedule.fixed(config.rotationInterval))
  )

  /** Enqueue and wait for the ack; `false` if the manager stopped first (SM-11/12). */
  const request = (command: Command & { readonly done: Deferred.Deferred<void> }): Effect.Effect<boolean> =>
    Effect.flatMap(Deferred.isDone(quit), (quitting) =>
      quitting
        ? Effect.succeed(false)
        : Effect.raceFirst(
          Queue.offer(queue, command).pipe(Effect.zipRight(Deferred.await(command.done)), Effect.as(true)),
          Deferred.await(quit).pipe(Effect.as(false))
        ))

  const stop: Effect.Effect<void> = Effect.uninterruptible(
    Effect.gen(function* () {
      if (!(yield* Deferred.succeed(quit, undefined))) return yield* Deferred.await(stopped)
      // SM-10: the loop first, then every syncer, pinned ones included (port note), awaiting each fiber.
      yield* FiberSet.clear(loops)
      yield* FiberHandle.clear(historicalTicker)
      yield* FiberHandle.clear(initialSignalWatch)
      yield* FiberMap.clear(retryTimers)
      yield* FiberMap.clear(syncerFibers)
      yield* FiberSet.clear(retiring)
      yield* Ref.set(sets, emptySets)
      yield* SubscriptionRef.set(records, new Map())
      yield* Ref.set(initial, Option.none())
      yield* Deferred.succeed(stopped, undefined)
      yield* Effect.logInfo("sync manager stopped")
    })
  )

  yield* FiberSet.run(loops, handler)
  yield* FiberSet.run(loops, rotationTicks)
  yield* Effect.addFinalizer(() => stop)

  const service: SyncManagerService = {
    initSyncState: (peer) =>
      Effect.gen(function* () {
        const done = yield* Deferred.make<void>()
        if (!(yield* request({ _tag: "Init", peer, done }))) return yield* new SyncManagerExiting()
      }),
    pruneSyncState: (nodeIdHex) =>
      Effect.gen(function* () {
        const done = yield* Deferred.make<void>()
        yield* request({ _tag: "Prune", nodeIdHex: nodeIdHex.toLowerCase(), done })
      }),
    syncer: (nodeIdHex) =>
      Ref.get(sets).pipe(Effect.map((s) => Option.fromNullable(lookup(s, nodeIdHex.toLowerCase())?.syncer))),
    syncers: Ref.get(sets).pipe(
      Effect.map((s) => {
        const out: Array<SyncerSnapshot> = []
        const add = (m: ReadonlyMap<string, Entry>, syncType: SyncType) => {
          for (const e of m.values()) out.push({ nodeIdHex: e.nodeIdHex, syncType, syncer: e.syncer })
        }
        add(s.active, "ActiveSync")
        add(s.inactive, "PassiveSync")
        add(s.pinned, "PinnedSync")
        return out
      })
    ),
    gossipSyncers: Ref.get(sets).pipe(
      Effect.map((s) => {
        const out = new Map<string, GossipSyncer>()
        for (const m of [s.inactive, s.active, s.pinned]) for (const e of m.values()) out.set(e.nodeIdHex, e.syncer)
        return out
      })
    ),
    isGraphSynced,
    awaitGraphSynced: Deferred.await(graphSynced),
    syncRecords: SubscriptionRef.get(records),
    syncRecordChanges: records.changes,
    stop
  }
  return service
})

export class SyncManager extends Context.Tag("lnsync/SyncManager")<SyncManager, SyncManagerService>() {
  /** The live manager: building it starts its fibers; closing its scope stops them and every syncer (SM-8/10). */
  static readonly layer: Layer.Layer<SyncManager, never, GossipSyncerFactory | SyncManagerConfig> = Layer.scoped(
    SyncManager,
    makeSyncManager
  )
}
