/**
 * The handler (SM-7, SM-9): the one fiber that changes the manager's state, taking commands from one queue (the
 * seed's `syncerHandler`), so syncer creation/removal, ticks, settled syncs, elapsed backoffs and the initial-sync
 * signal are totally ordered. `Init`/`Prune` carry an ack their caller waits for (the seed's `doneChan`, SM-11/12).
 * Registration and removal are here (SM-13..SM-18, SM-22, SM-23); the rest is dispatched to selection.ts,
 * initialSync.ts and retry.ts.
 */
import { Cause, Deferred, Effect, Either, FiberMap, Option, Queue, Ref, SubscriptionRef } from "effect"
import type { SyncType } from "../../GossipSyncer.js"
import type { Peer } from "../../Peer.js"
import type { Bucket, Command, Entry, ManagerContext, SyncOutcome } from "./context.js"
import { lookup, recordOf, updateRecord, withEntry } from "./context.js"
import {
  assignOwedInitialSync,
  handleHistoricalTick,
  handleInitialSyncSignal,
  oweInitialSync,
  replaceInitialIfRemoved,
  setInitialHistoricalSyncer
} from "./initialSync.js"
import { recordCompletion, recordFailure } from "./retry.js"
import { rotate } from "./selection.js"
import { removeSyncer, supervise } from "./syncers.js"

/** SM-14..SM-18. */
const handleInit = (ctx: ManagerContext, peer: Peer, done: Deferred.Deferred<void>): Effect.Effect<void> =>
  Effect.gen(function* () {
    const { config, numActiveSyncers } = ctx
    const nodeIdHex = peer.nodeIdHex.toLowerCase()
    const s = yield* Ref.get(ctx.sets)
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
    } else if (!(yield* ctx.isGraphSynced)) {
      bucket = "inactive" // SM-16.4, SM-21: promoted by SM-19
    } else {
      bucket = "active" // SM-16.5
    }
    const syncType: SyncType = bucket === "pinned" ? "PinnedSync" : bucket === "active" ? "ActiveSync" : "PassiveSync"
    // SM-15: new syncers start in chansSynced (pinned ones idle, waiting for their historical sync).
    const { run, syncer } = yield* ctx.factory.make(peer, {
      syncType,
      initialState: pinned ? "syncerIdle" : "chansSynced",
      markGraphSynced: ctx.markGraphSynced,
      isGraphSynced: ctx.isGraphSynced
    })
    const entry: Entry = { nodeIdHex, syncer }
    yield* Ref.update(ctx.sets, (current) => withEntry(current, bucket, entry))
    yield* SubscriptionRef.update(ctx.records, (m) =>
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
    yield* FiberMap.run(ctx.syncerFibers, nodeIdHex, supervise(ctx, entry, run))
    yield* Effect.logInfo("created syncer").pipe(Effect.annotateLogs({ peer: nodeIdHex, syncType }))
    // SM-11: ack after registration and start, before the historical request.
    yield* Deferred.succeed(done, undefined)
    if (!historical) {
      // beyond lnd: a new peer takes an owed initial sync at once
      if (!pinned) yield* assignOwedInitialSync(ctx, "peer connected")
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
        yield* oweInitialSync(ctx)
        yield* recordFailure(ctx, entry, `historical sync request refused: ${requested.left._tag}`)
      }
      return
    }
    if (!pinned) yield* setInitialHistoricalSyncer(ctx, entry)
  })

/** SM-23 then SM-22. */
const handlePrune = (ctx: ManagerContext, nodeIdHex: string, done: Deferred.Deferred<void>): Effect.Effect<void> =>
  Effect.gen(function* () {
    const entry = lookup(yield* Ref.get(ctx.sets), nodeIdHex)
    if (entry === undefined) {
      yield* Deferred.succeed(done, undefined)
      return
    }
    yield* removeSyncer(ctx, entry)
    yield* Deferred.succeed(done, undefined)
    yield* replaceInitialIfRemoved(ctx, entry)
  })

/**
 * A syncer whose `run` ended by itself (fatal error, its peer's stream ended) is removed like a pruned one, so it
 * is never chosen again; the peer's later prune is then a no-op. (lnd leaves such a syncer in its maps.)
 */
const handleSyncerExited = (ctx: ManagerContext, entry: Entry): Effect.Effect<void> =>
  Effect.gen(function* () {
    if (lookup(yield* Ref.get(ctx.sets), entry.nodeIdHex)?.syncer !== entry.syncer) return
    yield* Effect.logWarning("syncer stopped by itself").pipe(Effect.annotateLogs("peer", entry.nodeIdHex))
    yield* removeSyncer(ctx, entry)
    yield* replaceInitialIfRemoved(ctx, entry)
  })

/** Beyond lnd: a syncer's sync began or ended; keep its record and backoff, then give an owed initial sync out. */
const handleSyncSettled = (ctx: ManagerContext, entry: Entry, outcome: SyncOutcome): Effect.Effect<void> =>
  Effect.gen(function* () {
    if ((yield* recordOf(ctx, entry)) === undefined) return // pruned meanwhile
    if (outcome === "started") return yield* updateRecord(ctx, entry, (r) => ({ ...r, syncing: true }))
    if (outcome === "failed") {
      // whoever started the sync, the syncer says why it failed (GS-17)
      const failure = yield* entry.syncer.lastFailure
      yield* recordFailure(ctx, entry, Option.getOrUndefined(Option.map(failure, (f) => f.reason)))
    } else {
      // the initial syncer's signal (SM-19) may be handled after this; the record says so either way
      const current = yield* Ref.get(ctx.initial)
      const wasInitial = Option.isSome(current) && current.value.entry.syncer === entry.syncer
      yield* recordCompletion(ctx, entry, wasInitial)
    }
    yield* assignOwedInitialSync(ctx, `a sync ${outcome}`)
  })

const handle = (ctx: ManagerContext, command: Command): Effect.Effect<void> => {
  switch (command._tag) {
    case "Init":
      return handleInit(ctx, command.peer, command.done)
    case "Prune":
      return handlePrune(ctx, command.nodeIdHex, command.done)
    case "SyncerExited":
      return handleSyncerExited(ctx, command.entry)
    case "SyncSettled":
      return handleSyncSettled(ctx, command.entry, command.outcome)
    case "RetryDue":
      return assignOwedInitialSync(ctx, `backoff of ${command.nodeIdHex} elapsed`)
    case "RotateTick":
      return rotate(ctx)
    case "HistoricalTick":
      return handleHistoricalTick(ctx, command.assignment)
    case "InitialSyncSignal":
      return handleInitialSyncSignal(ctx, command.assignment, command.result)
  }
}

/** SM-9: the one fiber that changes state. A defect in one command is reported to its caller, not fatal. */
export const handler = (ctx: ManagerContext): Effect.Effect<never> =>
  Queue.take(ctx.queue).pipe(
    Effect.flatMap((command) =>
      handle(ctx, command).pipe(
        Effect.catchAllDefect((defect) =>
          Effect.logError("sync manager command failed", Cause.die(defect)).pipe(
            Effect.zipRight("done" in command ? Deferred.die(command.done, defect) : Effect.void)
          )
        )
      )
    ),
    Effect.forever
  )
