/**
 * The initial historical sync (SM-7, SM-17, SM-19, SM-22, SM-26): who does it, watching its synced signal, the
 * promotions once it completes, and handing it on when its syncer fails or leaves.
 *
 * Beyond lnd (issue 13, "every sync finishes"): when the initial sync fails (the signal fails with
 * HistoricalSyncFailed: reply timeout or a lying peer, GS-51 / lnd#11084) another candidate is chosen at once
 * instead of waiting for the next tick; and a sync owed but unassigned (its syncer failed, left or refused, and
 * nobody could take it) is assigned as soon as a syncer becomes eligible (a peer connects, a sync settles, a backoff
 * elapses), where lnd would wait for the next historical tick, or forever when the ticker never started (SM-8,
 * SM-16).
 */
import { Cause, Effect, Exit, FiberHandle, Option, Queue, Ref } from "effect"
import type { GossipSyncerExiting, HistoricalSyncFailed } from "../../GossipSyncer.js"
import type { Entry, ManagerContext } from "./context.js"
import { updateRecord } from "./context.js"
import { chooseRandomSyncer, forceHistoricalSync, promote } from "./selection.js"
import { restartHistoricalTicker } from "./tickers.js"

/**
 * SM-17: record the initial historical syncer, watch its synced signal and restart the historical ticker so every
 * initial syncer gets a full interval before a tick may replace it.
 */
export const setInitialHistoricalSyncer = (ctx: ManagerContext, entry: Entry): Effect.Effect<void> =>
  Effect.gen(function* () {
    const assignment = yield* Ref.updateAndGet(ctx.assignments, (n) => n + 1)
    yield* Ref.set(ctx.initial, Option.some({ entry, assignment }))
    yield* Ref.set(ctx.initialOwed, false)
    const signal = yield* entry.syncer.resetSyncedSignal
    yield* FiberHandle.clear(ctx.initialSignalWatch)
    yield* FiberHandle.run(
      ctx.initialSignalWatch,
      Effect.exit(signal).pipe(
        Effect.flatMap((result) => Queue.offer(ctx.queue, { _tag: "InitialSyncSignal", assignment, result }))
      )
    )
    yield* restartHistoricalTicker(ctx, assignment)
    yield* Effect.logInfo("initial historical sync assigned").pipe(Effect.annotateLogs("peer", entry.nodeIdHex))
  })

const clearInitialHistoricalSyncer = (ctx: ManagerContext): Effect.Effect<void> =>
  Ref.set(ctx.initial, Option.none()).pipe(Effect.zipRight(FiberHandle.clear(ctx.initialSignalWatch)))

/** The initial historical sync has no syncer and none could take it: owe it (assigned by the next eligible one). */
export const oweInitialSync = (ctx: ManagerContext): Effect.Effect<void> =>
  Ref.set(ctx.initialOwed, ctx.numActiveSyncers > 0)

/** Beyond lnd: the owed initial historical sync goes to an eligible syncer now, if there is one. */
export const assignOwedInitialSync = (ctx: ManagerContext, why: string): Effect.Effect<void> =>
  Effect.gen(function* () {
    if (
      ctx.numActiveSyncers === 0 || !(yield* Ref.get(ctx.initialOwed)) || Option.isSome(yield* Ref.get(ctx.initial))
    ) return
    const chosen = yield* forceHistoricalSync(ctx)
    if (Option.isNone(chosen)) return
    yield* Effect.logInfo("owed initial historical sync assigned").pipe(
      Effect.annotateLogs({ peer: chosen.value.nodeIdHex, why })
    )
    yield* setInitialHistoricalSyncer(ctx, chosen.value)
  })

/** SM-22: the removed peer was the initial historical syncer; hand the sync to another eligible syncer. */
export const replaceInitialIfRemoved = (ctx: ManagerContext, entry: Entry): Effect.Effect<void> =>
  Effect.gen(function* () {
    const current = yield* Ref.get(ctx.initial)
    if (Option.isNone(current) || current.value.entry.nodeIdHex !== entry.nodeIdHex) return
    yield* clearInitialHistoricalSyncer(ctx)
    if (ctx.numActiveSyncers === 0) return
    const replacement = yield* forceHistoricalSync(ctx)
    if (Option.isSome(replacement)) {
      yield* setInitialHistoricalSyncer(ctx, replacement.value)
    } else {
      // SM-22 leaves the slot empty for the ticker; beyond lnd, the next eligible syncer takes it.
      yield* oweInitialSync(ctx)
      yield* Effect.logInfo("no replacement for the initial historical sync; the next eligible peer takes it")
    }
  })

/** SM-26: a historical tick forces a historical sync with a random eligible syncer. */
export const handleHistoricalTick = (ctx: ManagerContext, assignment: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    // A tick from a ticker replaced meanwhile would give the new initial syncer less than a full interval.
    if (assignment !== (yield* Ref.get(ctx.tickerAssignment))) return
    if (ctx.numActiveSyncers === 0) return
    const chosen = yield* forceHistoricalSync(ctx)
    if (Option.isNone(chosen)) return yield* Effect.logDebug("no candidate for a historical sync")
    yield* Effect.logInfo("forced historical sync").pipe(Effect.annotateLogs("peer", chosen.value.nodeIdHex))
    // Until the graph is synced a tick replaces a stalled initial sync (SM-26, SM-17).
    if (!(yield* ctx.isGraphSynced)) yield* setInitialHistoricalSyncer(ctx, chosen.value)
  })

/** SM-19, plus the failure path lnd lacks. */
export const handleInitialSyncSignal = (
  ctx: ManagerContext,
  assignment: number,
  result: Exit.Exit<void, HistoricalSyncFailed | GossipSyncerExiting>
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const current = yield* Ref.get(ctx.initial)
    if (Option.isNone(current) || current.value.assignment !== assignment) return
    const { entry } = current.value
    if (Exit.isSuccess(result)) {
      yield* Ref.set(ctx.initial, Option.none())
      yield* updateRecord(ctx, entry, (r) => ({ ...r, completedInitial: true }))
      yield* Effect.logInfo("initial historical sync completed").pipe(Effect.annotateLogs("peer", entry.nodeIdHex))
      const s = yield* Ref.get(ctx.sets)
      const wanted = ctx.numActiveSyncers - s.active.size
      if (wanted <= 0) return
      // SM-19: at most as many as there are passive syncers (c15c8a1f0); a slot with no taker stays empty.
      const promotions = Math.min(wanted, s.inactive.size)
      for (let i = 0; i < promotions; i++) {
        const now = yield* Ref.get(ctx.sets)
        yield* chooseRandomSyncer(ctx, now.inactive.values(), promote(ctx))
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
    yield* clearInitialHistoricalSyncer(ctx)
    yield* Effect.logWarning("initial historical sync failed; choosing another peer").pipe(
      Effect.annotateLogs({ peer: entry.nodeIdHex, reason: failure.value.reason })
    )
    const replacement = yield* forceHistoricalSync(ctx, entry.nodeIdHex)
    if (Option.isSome(replacement)) {
      yield* setInitialHistoricalSyncer(ctx, replacement.value)
    } else {
      yield* oweInitialSync(ctx)
      yield* Effect.logInfo("no other peer for the initial historical sync; retried when a peer becomes eligible")
    }
  })
