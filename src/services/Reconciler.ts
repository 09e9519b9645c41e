/**
 * Reconciler: once the graph is synced, run one historical sync with every other gossip peer, up to `concurrency`
 * peers at a time, once per connection. Beyond lnd (which syncs the whole range with one peer and then only takes
 * live gossip from the others, catching up by one random peer an hour): Eclair and CLN reconcile with each peer, and
 * with extended queries (timestamps + checksums) that costs only the range replies plus what actually differs. It is
 * how an operator who points lnsync at three peers ends with the union of their graphs rather than one peer's view.
 * The peers' links are independent, so their reconciliations overlap (issue 18).
 *
 * It never touches the SyncManager's state: it only asks idle syncers for a historical sync (GS-24/GS-29), as the
 * manager's historical ticker does, so SM rules hold unchanged.
 *
 * Every sync finishes (issue 13): a peer that fails, disconnects, stays busy past `busyTimeout` or whose sync runs
 * past `syncTimeout` is passed over with a logged reason, and the next one is taken. A peer that already completed a
 * historical sync on this connection (the initial one, SM-19, or a pinned peer's own, SM-18) is not reconciled
 * again: it would only repeat the range exchange. A peer whose sync already failed on this connection waits until
 * the others had their turn (once), so the graph gets the good peers' channels first. `account` gives what happened
 * to every peer, with what each completed sync fetched, for `--exit-when-synced`.
 */
import type { Scope } from "effect"
import { Context, Data, Duration, Effect, Either, Layer, Option, Queue, Ref, Stream, SubscriptionRef } from "effect"
import type { GossipSyncer, SyncCounts } from "./GossipSyncer.js"
import type { Peer } from "./Peer.js"
import { PeerConnector } from "./PeerConnector.js"
import type { PeerSyncRecord } from "./SyncManager.js"
import { SyncManager } from "./SyncManager.js"

/** The Reconciler's deadlines and how many peers it reconciles at once. */
export interface ReconcilerSettings {
  /** How long a peer's syncer may stay busy (not idle) before its reconciliation is skipped. */
  readonly busyTimeout: Duration.Duration
  /** How long one reconciliation may run before it counts as failed (the syncer's own reply timeouts come first). */
  readonly syncTimeout: Duration.Duration
  /** `account`'s overall deadline when the caller gives none. */
  readonly accountDeadline: Duration.Duration
  /**
   * Reconciliations running at once (at least 1; 1 is one peer after another). Each peer's link is its own: lnd
   * serves gossip at ~50 KiB/s per peer (GS-48), so one reconciliation's range replies alone (~24 bytes a channel,
   * ~1.3 MB on mainnet) take ~26 s, and peers taken one by one add that up. Running them together costs each one its
   * range replies in memory and a share of the pipeline, which pushes back on every syncer alike (its queue bound).
   * The default, 8, covers every peer of a usual peer list at once (the multi-peer initial sync's 8 peers, issue 18)
   * and bounds the rest.
   */
  readonly concurrency: number
}

/** The defaults, for the node's configuration table (src/layers/Node.ts) and `ReconcilerConfig`. */
export const ReconcilerDefaults: ReconcilerSettings = {
  busyTimeout: Duration.minutes(2),
  syncTimeout: Duration.minutes(10),
  accountDeadline: Duration.minutes(30),
  concurrency: 8
}

/** The settings; these defaults apply unless a layer provides others (`layerReconcilerConfig`). */
export class ReconcilerConfig extends Context.Reference<ReconcilerConfig>()("lnsync/Reconciler/ReconcilerConfig", {
  defaultValue: (): ReconcilerSettings => ReconcilerDefaults
}) {}

/**
 * `ReconcilerConfig` with `settings` over the settings in scope (the defaults unless an outer layer set some);
 * absent fields keep theirs.
 */
export const layerReconcilerConfig = (
  settings: { readonly [K in keyof ReconcilerSettings]?: ReconcilerSettings[K] | undefined }
): Layer.Layer<ReconcilerConfig> =>
  Layer.effect(
    ReconcilerConfig,
    Effect.map(ReconcilerConfig, (current): ReconcilerSettings => ({
      busyTimeout: settings.busyTimeout ?? current.busyTimeout,
      syncTimeout: settings.syncTimeout ?? current.syncTimeout,
      accountDeadline: settings.accountDeadline ?? current.accountDeadline,
      concurrency: settings.concurrency ?? current.concurrency
    }))
  )

/** What one peer's sync came to on its (last) connection. */
export type PeerOutcome = Data.TaggedEnum<{
  /**
   * A historical sync with this peer completed: the initial one, a reconciliation, or another (pinned, tick);
   * `fetched`: what the latest one fetched (the syncer's `lastCompleted`).
   */
  Completed: {
    readonly nodeIdHex: string
    readonly sync: "initial" | "reconcile" | "other"
    readonly fetched?: SyncCounts | undefined
  }
  Failed: { readonly nodeIdHex: string; readonly reason: string }
  Disconnected: { readonly nodeIdHex: string; readonly reason: string }
  Skipped: { readonly nodeIdHex: string; readonly reason: string }
}>
export const PeerOutcome = Data.taggedEnum<PeerOutcome>()

/** The account `--exit-when-synced` prints. */
export interface SyncAccount {
  /** One outcome per gossip peer seen on this run, ordered by node id. */
  readonly peers: ReadonlyArray<PeerOutcome>
  /** At least one complete historical sync reached the store (SM-6: flush before markGraphSynced, SM-20). */
  readonly graphSynced: boolean
  /** Why the account ended: every connected peer settled, none is connected, or the deadline passed. */
  readonly ended: "settled" | "noPeers" | "deadline"
}

export interface ReconcilerService {
  /** Peers whose reconciliation has not finished yet (queued or running). */
  readonly pending: Effect.Effect<number>
  /** Peers whose sync completed on this run (the initial sync or a reconciliation; each connection counts once). */
  readonly reconciled: Effect.Effect<number>
  /** Completes when the graph is synced and no reconciliation is queued or running. */
  readonly awaitIdle: Effect.Effect<void>
  /**
   * Completes when every connected gossip peer has completed or failed its sync (initial or reconciliation), or none
   * is connected any more (after one was), or `deadline` (default `accountDeadline`) passes; gives one outcome per
   * peer. Peers still unsettled at the deadline are `Skipped`.
   */
  readonly account: (deadline?: Duration.DurationInput) => Effect.Effect<SyncAccount>
}

export class Reconciler extends Context.Tag("lnsync/Reconciler")<Reconciler, ReconcilerService>() {}

/** What the manager's record said about this connection's syncer (only records of this connection's `peer`). */
interface Seen {
  readonly completed: number
  readonly completedInitial: boolean
  readonly failures: number
  readonly lastFailure: Option.Option<string>
  /** What the syncer's latest completed sync fetched. */
  readonly fetched: Option.Option<SyncCounts>
}

/** One peer as the Reconciler knows it: its latest connection and the Reconciler's verdict on it. */
interface PeerEntry {
  readonly nodeIdHex: string
  readonly peer: Peer
  /** Bumped on every connection, so a late result about an older one is dropped. */
  readonly generation: number
  readonly connected: boolean
  readonly seen: Seen
  /** The Reconciler's own final outcome for this connection. */
  readonly outcome: Option.Option<PeerOutcome>
}

const nothingSeen: Seen = {
  completed: 0,
  completedInitial: false,
  failures: 0,
  lastFailure: Option.none(),
  fetched: Option.none()
}

const completed = (nodeIdHex: string, sync: "initial" | "reconcile" | "other", fetched: Option.Option<SyncCounts>) =>
  PeerOutcome.Completed({ nodeIdHex, sync, fetched: Option.getOrUndefined(fetched) })

/**
 * A peer's outcome as far as it is known, or none while it is unsettled. Before the graph is synced nobody
 * reconciles, so a peer whose (manager-started) sync failed counts as failed; once it is synced, such a peer waits
 * for its reconciliation.
 */
export const settledOutcome = (entry: PeerEntryView, graphSynced: boolean): Option.Option<PeerOutcome> => {
  if (Option.isSome(entry.outcome)) return entry.outcome
  const { nodeIdHex, seen } = entry
  if (seen.completed > 0) {
    return Option.some(completed(nodeIdHex, seen.completedInitial ? "initial" : "other", seen.fetched))
  }
  if (!entry.connected) return Option.some(PeerOutcome.Disconnected({ nodeIdHex, reason: "disconnected" }))
  if (seen.failures > 0 && !graphSynced) {
    return Option.some(
      PeerOutcome.Failed({ nodeIdHex, reason: Option.getOrElse(seen.lastFailure, () => "historical sync failed") })
    )
  }
  return Option.none()
}

/** The parts of an entry `settledOutcome` reads. */
export type PeerEntryView = Pick<PeerEntry, "nodeIdHex" | "connected" | "seen" | "outcome">

/** Peers queued for reconciliation; bounded by the number of connections, deduplicated by the `queued` set. */
const QUEUE_BOUND = 4096

/** `concurrency` as a worker count: a whole number from 1 (a worker beyond the queue's bound would never work). */
const workerCount = (concurrency: number): number =>
  Number.isNaN(concurrency) ? 1 : Math.min(QUEUE_BOUND, Math.max(1, Math.floor(concurrency)))

const isIdle = (state: string) => state === "chansSynced" || state === "syncerIdle"

export const make: Effect.Effect<ReconcilerService, never, SyncManager | PeerConnector | Scope.Scope> = Effect.gen(
  function* () {
    const manager = yield* SyncManager
    const connector = yield* PeerConnector
    const settings = yield* ReconcilerConfig
    const queue = yield* Queue.dropping<string>(QUEUE_BOUND)
    const queued = yield* Ref.make(new Set<string>())
    const running = yield* SubscriptionRef.make(0)
    const reconciled = yield* Ref.make(0)
    const peers = yield* SubscriptionRef.make<ReadonlyMap<string, PeerEntry>>(new Map())

    const entryOf = (nodeIdHex: string) => Effect.map(SubscriptionRef.get(peers), (m) => m.get(nodeIdHex))
    const updateEntry = (nodeIdHex: string, generation: number, f: (e: PeerEntry) => PeerEntry) =>
      SubscriptionRef.update(peers, (m) => {
        const e = m.get(nodeIdHex)
        return e === undefined || e.generation !== generation ? m : new Map(m).set(nodeIdHex, f(e))
      })

    /** The Reconciler's verdict on one connection (logged); the first verdict stands. `gone`: it ended too. */
    const conclude = (entry: PeerEntry, outcome: PeerOutcome, gone = false) =>
      Effect.gen(function* () {
        const current = yield* entryOf(entry.nodeIdHex)
        if (current?.generation !== entry.generation) return
        if (Option.isSome(current.outcome)) {
          if (gone) yield* updateEntry(entry.nodeIdHex, entry.generation, (e) => ({ ...e, connected: false }))
          return
        }
        // one update, so `account` never sees the verdict without the disconnect
        yield* updateEntry(entry.nodeIdHex, entry.generation, (e) => ({
          ...e,
          outcome: Option.some(outcome),
          connected: gone ? false : e.connected
        }))
        if (outcome._tag === "Completed") yield* Ref.update(reconciled, (n) => n + 1)
        const log = outcome._tag === "Completed" ? Effect.logInfo : Effect.logWarning
        yield* log(
          outcome._tag === "Completed"
            ? `peer synced (${outcome.sync})`
            : `peer ${outcome._tag.toLowerCase()}: ${outcome.reason}`
        ).pipe(Effect.annotateLogs({ service: "Reconciler", peer: entry.nodeIdHex }))
      })

    const forget = (nodeIdHex: string) =>
      Ref.update(queued, (s) => {
        const next = new Set(s)
        next.delete(nodeIdHex)
        return next
      })

    const enqueue = (nodeIdHex: string) =>
      Effect.gen(function* () {
        const fresh = yield* Ref.modify(
          queued,
          (s) => (s.has(nodeIdHex) ? [false, s] : [true, new Set(s).add(nodeIdHex)])
        )
        if (!fresh) return
        yield* SubscriptionRef.update(running, (n) => n + 1)
        // a full queue drops the peer: undo its accounting, or awaitIdle would wait for it forever
        if (!(yield* Queue.offer(queue, nodeIdHex))) {
          yield* forget(nodeIdHex)
          yield* SubscriptionRef.update(running, (n) => n - 1)
          const entry = yield* entryOf(nodeIdHex)
          if (entry !== undefined) {
            yield* conclude(entry, PeerOutcome.Skipped({ nodeIdHex, reason: "reconciliation queue full" }))
          }
        }
      })

    const connected = (peer: Peer) =>
      Effect.gen(function* () {
        const nodeIdHex = peer.nodeIdHex.toLowerCase()
        yield* SubscriptionRef.update(peers, (m) =>
          new Map(m).set(nodeIdHex, {
            nodeIdHex,
            peer,
            generation: (m.get(nodeIdHex)?.generation ?? 0) + 1,
            connected: true,
            seen: nothingSeen,
            outcome: Option.none()
          }))
        yield* enqueue(nodeIdHex)
      })

    const disconnected = (nodeIdHex: string, reason: string) =>
      Effect.gen(function* () {
        const entry = yield* entryOf(nodeIdHex.toLowerCase())
        if (entry === undefined || !entry.connected) return
        const graphSynced = yield* manager.isGraphSynced
        const known = settledOutcome({ ...entry, connected: true }, graphSynced)
        yield* conclude(
          entry,
          Option.getOrElse(known, () => PeerOutcome.Disconnected({ nodeIdHex: entry.nodeIdHex, reason })),
          true
        )
      })

    /**
     * Copies the manager's records of this connection's syncer into the entries (what the manager's syncs did), with
     * what the syncer's latest completed sync fetched (set before the completion reaches the record).
     */
    const observe = (records: ReadonlyMap<string, PeerSyncRecord>) =>
      Effect.gen(function* () {
        const fetched = new Map<string, Option.Option<SyncCounts>>()
        for (const [nodeIdHex, r] of records) if (r.completed > 0) fetched.set(nodeIdHex, yield* r.syncer.lastCompleted)
        yield* SubscriptionRef.update(peers, (m) => {
          let next: Map<string, PeerEntry> | undefined
          for (const [nodeIdHex, r] of records) {
            const e = m.get(nodeIdHex)
            if (e === undefined || !e.connected || r.syncer.peer !== e.peer) continue
            const seen: Seen = {
              completed: r.completed,
              completedInitial: r.completedInitial,
              failures: r.failures,
              lastFailure: r.lastFailure,
              fetched: fetched.get(nodeIdHex) ?? Option.none()
            }
            if (
              seen.completed === e.seen.completed && seen.completedInitial === e.seen.completedInitial &&
              seen.failures === e.seen.failures && Option.getEquivalence<string>((a, b) =>
                a === b
              )(seen.lastFailure, e.seen.lastFailure)
            ) continue
            next ??= new Map(m)
            next.set(nodeIdHex, { ...e, seen })
          }
          return next ?? m
        })
      })

    /** The manager's syncer for this connection, once it has one (SyncNode registers it as we see the event). */
    const syncerFor = (entry: PeerEntry): Effect.Effect<GossipSyncer> =>
      manager.syncRecordChanges.pipe(
        Stream.filterMap((records) => {
          const r = records.get(entry.nodeIdHex)
          return r !== undefined && r.syncer.peer === entry.peer ? Option.some(r.syncer) : Option.none()
        }),
        Stream.runHead,
        Effect.flatMap(Option.match({ onNone: () => Effect.never, onSome: Effect.succeed }))
      )

    /** Completes when this connection is gone (disconnect event or reconnect). */
    const gone = (entry: PeerEntry): Effect.Effect<void> =>
      peers.changes.pipe(
        Stream.filter((m) => {
          const e = m.get(entry.nodeIdHex)
          return e === undefined || e.generation !== entry.generation || !e.connected
        }),
        Stream.runHead,
        Effect.asVoid
      )

    /**
     * The manager's record of this connection's syncer once the syncer is idle and the record has caught up with its
     * last sync (so a sync that just completed, the initial one above all, is counted before we decide).
     */
    const idleRecord = (entry: PeerEntry, syncer: GossipSyncer): Effect.Effect<Option.Option<PeerSyncRecord>> =>
      Stream.zipLatest(manager.syncRecordChanges, syncer.state.changes).pipe(
        Stream.filterMap(([records, state]) => {
          const r = records.get(entry.nodeIdHex)
          return r !== undefined && r.syncer === syncer && !r.syncing && isIdle(state) ? Option.some(r) : Option.none()
        }),
        Stream.runHead
      )

    /** One peer's turn: always ends, with a verdict. */
    const reconcileOne = (entry: PeerEntry): Effect.Effect<PeerOutcome> =>
      Effect.gen(function* () {
        const nodeIdHex = entry.nodeIdHex
        const busy = Duration.format(settings.busyTimeout)
        const syncer = yield* Effect.timeoutOption(syncerFor(entry), settings.busyTimeout)
        if (Option.isNone(syncer)) return PeerOutcome.Skipped({ nodeIdHex, reason: `no syncer within ${busy}` })
        // wait until it is idle (a sync of its own in progress may be the one that makes ours needless)
        const idle = Option.flatten(yield* Effect.timeoutOption(idleRecord(entry, syncer.value), settings.busyTimeout))
        if (Option.isNone(idle)) return PeerOutcome.Skipped({ nodeIdHex, reason: `busy for ${busy}` })
        if (idle.value.completed > 0) {
          // SM-19/SM-18: the initial sync (or a pinned peer's own) just covered this peer
          return completed(
            nodeIdHex,
            idle.value.completedInitial ? "initial" : "other",
            yield* syncer.value.lastCompleted
          )
        }
        const requested = yield* Effect.either(syncer.value.historicalSync)
        if (Either.isLeft(requested)) {
          return requested.left._tag === "GossipSyncerExiting"
            ? PeerOutcome.Disconnected({ nodeIdHex, reason: "syncer exiting" })
            : PeerOutcome.Skipped({ nodeIdHex, reason: "busy: did not accept a historical sync" })
        }
        const signal = yield* syncer.value.resetSyncedSignal
        const result = yield* Effect.timeoutOption(Effect.either(signal), settings.syncTimeout)
        if (Option.isNone(result)) {
          return PeerOutcome.Failed({
            nodeIdHex,
            reason: `sync did not finish within ${Duration.format(settings.syncTimeout)}`
          })
        }
        if (Either.isRight(result.value)) return completed(nodeIdHex, "reconcile", yield* syncer.value.lastCompleted)
        const e = result.value.left
        return e._tag === "HistoricalSyncFailed"
          ? PeerOutcome.Failed({ nodeIdHex, reason: e.reason })
          : PeerOutcome.Disconnected({ nodeIdHex, reason: "syncer exiting" })
      })

    const processOne = (nodeIdHex: string) =>
      Effect.gen(function* () {
        const entry = yield* entryOf(nodeIdHex)
        if (entry === undefined || !entry.connected || Option.isSome(entry.outcome)) return
        const outcome = yield* Effect.raceFirst(
          Effect.map(reconcileOne(entry), Option.some),
          Effect.as(gone(entry), Option.none<PeerOutcome>())
        )
        if (Option.isSome(outcome)) yield* conclude(entry, outcome.value)
      })

    /** Connections (`nodeIdHex/generation`) already sent to the back of the queue once. */
    const postponed = yield* Ref.make(new Set<string>())

    /**
     * A peer whose sync failed on this connection (and none completed) goes behind the others, once: a silent or
     * stalling peer would hold the good ones' channels back by its reply timeouts (one at a time), or take a worker
     * one of them could use (with more peers queued than workers). It starts once every peer queued ahead of it has
     * started. True when it was sent back.
     */
    const postpone = (nodeIdHex: string) =>
      Effect.gen(function* () {
        const entry = yield* entryOf(nodeIdHex)
        if (entry === undefined || entry.seen.failures === 0 || entry.seen.completed > 0) return false
        const key = `${nodeIdHex}/${entry.generation}`
        if ((yield* Ref.get(postponed)).has(key) || (yield* Queue.size(queue)) === 0) return false
        yield* Ref.update(postponed, (s) => new Set(s).add(key))
        return yield* Queue.offer(queue, nodeIdHex) // still queued: `queued` and `running` unchanged
      })

    /**
     * One worker: takes the next queued peer and reconciles it. `concurrency` of them share the queue, so at most that
     * many reconciliations are in flight, in queue order; each peer is queued once per connection (`queued`), so no
     * two workers ever hold the same peer. They only ask idle syncers for a historical sync (GS-29) and share its
     * signal (GS-30), never the manager's state, so the SM rules hold however many run (the Reconciler of SM-26).
     */
    const worker = Effect.forever(
      Effect.gen(function* () {
        const nodeIdHex = yield* Queue.take(queue)
        yield* manager.awaitGraphSynced
        if (yield* postpone(nodeIdHex)) return
        const generation = (yield* entryOf(nodeIdHex))?.generation
        yield* Ref.update(postponed, (s) => {
          const next = new Set(s)
          next.delete(`${nodeIdHex}/${generation}`)
          return next
        })
        yield* processOne(nodeIdHex)
        yield* forget(nodeIdHex)
        yield* SubscriptionRef.update(running, (n) => n - 1)
        // reconnected while we were busy with the old connection: the new one gets its turn
        const after = yield* entryOf(nodeIdHex)
        if (
          after !== undefined && after.connected && after.generation !== generation && Option.isNone(after.outcome)
        ) {
          yield* enqueue(nodeIdHex)
        }
      })
    )
    for (let i = 0; i < workerCount(settings.concurrency); i++) yield* Effect.forkScoped(worker)

    yield* Effect.forkScoped(Stream.runForEach(manager.syncRecordChanges, observe))

    // every gossip peer that connects is queued
    const events = yield* connector.events
    yield* Effect.forkScoped(
      Stream.runForEach(events, (event) =>
        event._tag === "Connected"
          ? event.peer.gossipQueries ? connected(event.peer) : Effect.void
          : disconnected(event.nodeIdHex, event.reason))
    )
    const already = yield* connector.connected
    for (const peer of already.values()) if (peer.gossipQueries) yield* connected(peer)

    const snapshot = (graphSynced: boolean) =>
      Effect.map(SubscriptionRef.get(peers), (m) => {
        const all = [...m.values()].sort((a, b) => (a.nodeIdHex < b.nodeIdHex ? -1 : a.nodeIdHex > b.nodeIdHex ? 1 : 0))
        return all.map((e) => ({ entry: e, outcome: settledOutcome(e, graphSynced) }))
      })

    const account = (deadline?: Duration.DurationInput): Effect.Effect<SyncAccount> =>
      Effect.gen(function* () {
        const limit = deadline === undefined ? settings.accountDeadline : Duration.decode(deadline)
        const verdict = (m: ReadonlyMap<string, PeerEntry>) =>
          Effect.map(manager.isGraphSynced, (graphSynced): Option.Option<"settled" | "noPeers"> => {
            const all = [...m.values()]
            if (all.length === 0) return Option.none()
            if (all.every((e) => !e.connected)) return Option.some("noPeers")
            return all.every((e) => Option.isSome(settledOutcome(e, graphSynced)))
              ? Option.some("settled")
              : Option.none()
          })
        const ended = yield* peers.changes.pipe(
          Stream.mapEffect(verdict),
          Stream.filterMap((v) => v),
          Stream.runHead,
          Effect.map(Option.getOrElse((): "settled" | "noPeers" | "deadline" => "deadline")),
          Effect.timeoutTo({
            duration: limit,
            onTimeout: (): "settled" | "noPeers" | "deadline" => "deadline",
            onSuccess: (v) => v
          })
        )
        const graphSynced = yield* manager.isGraphSynced
        const outcomes = (yield* snapshot(graphSynced)).map(({ entry, outcome }) =>
          Option.getOrElse(outcome, () =>
            PeerOutcome.Skipped({
              nodeIdHex: entry.nodeIdHex,
              reason: `still syncing at the ${Duration.format(limit)} deadline`
            }))
        )
        return { peers: outcomes, graphSynced, ended }
      })

    return {
      pending: SubscriptionRef.get(running),
      reconciled: Ref.get(reconciled),
      awaitIdle: manager.awaitGraphSynced.pipe(
        Effect.zipRight(running.changes.pipe(Stream.filter((n) => n === 0), Stream.take(1), Stream.runDrain))
      ),
      account
    }
  }
)

export const layer: Layer.Layer<Reconciler, never, SyncManager | PeerConnector> = Layer.scoped(Reconciler, make)
