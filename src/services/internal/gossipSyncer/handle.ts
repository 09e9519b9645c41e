/**
 * The calls the SyncManager makes on a syncer (GS-27..30). They run on the manager's fiber, not the syncer's: a
 * request is queued for the state machine and the caller waits, bounded by the transition timeout, for the machine
 * to accept it, so a syncer busy in a historical sync can never block the manager's handler (lnd's
 * `ErrSyncTransitionTimeout`). A caller that gives up withdraws its request so the machine never acts on it late.
 */
import { Deferred, Effect, Option, Queue, Ref, SubscriptionRef } from "effect"
import type { SyncType } from "../../GossipSyncer.js"
import type { HistoricalSyncFailed, SyncTransitionFailed } from "./errors.js"
import { GossipSyncerExiting, SyncTransitionTimeout } from "./errors.js"
import type { Request, RequestStatus, SyncerContext } from "./context.js"

/** What the manager submits (wake-ups come from the share board, shares.ts). */
type ManagerRequest = Exclude<Request, { readonly _tag: "Wake" }>

/** Enqueues a request and waits (bounded by the transition timeout) for the state machine to accept it. */
const submit = (
  ctx: SyncerContext,
  request: ManagerRequest
): Effect.Effect<void, SyncTransitionTimeout | GossipSyncerExiting> =>
  Effect.gen(function* () {
    if (yield* Deferred.isDone(ctx.exited)) return yield* Effect.fail(new GossipSyncerExiting({ peer: ctx.peerId }))
    const acceptance = Effect.zipRight(Queue.offer(ctx.requests, request), Deferred.await(request.accepted))
    const outcome = yield* Effect.raceFirst(acceptance, ctx.failOnExit).pipe(
      Effect.timeoutOption(ctx.settings.transitionTimeout)
    )
    if (Option.isSome(outcome)) return
    const cancelled = yield* Ref.modify(request.status, (s): readonly [boolean, RequestStatus] =>
      s === "pending" ? [true, "cancelled"] : [false, s])
    if (cancelled) {
      return yield* Effect.fail(new SyncTransitionTimeout({ peer: ctx.peerId }))
    }
  })

/** GS-27/28: accepted within the timeout, then done once the matching filter is sent. */
export const processSyncTransition = (
  ctx: SyncerContext,
  to: SyncType
): Effect.Effect<void, SyncTransitionTimeout | GossipSyncerExiting | SyncTransitionFailed> =>
  Effect.gen(function* () {
    const request = {
      _tag: "Transition" as const,
      to,
      status: yield* Ref.make<RequestStatus>("pending"),
      accepted: yield* Deferred.make<void>(),
      done: yield* Deferred.make<void, SyncTransitionFailed>()
    }
    yield* submit(ctx, request)
    yield* Effect.raceFirst(Deferred.await(request.done), ctx.failOnExit)
  })

/** GS-29: returns once the machine has accepted the request (and so left `chansSynced`). */
export const historicalSync = (ctx: SyncerContext): Effect.Effect<void, SyncTransitionTimeout | GossipSyncerExiting> =>
  Effect.gen(function* () {
    const request = {
      _tag: "Historical" as const,
      status: yield* Ref.make<RequestStatus>("pending"),
      accepted: yield* Deferred.make<void>()
    }
    yield* submit(ctx, request)
  })

/**
 * GS-30: a one-shot signal for the next entry into `chansSynced`, already complete when the syncer is there now,
 * and already failed when the sync requested last failed before this call (`unreportedFailure`). Under
 * `signalLock`, so it cannot miss an entry or a failure the machine makes while it is being armed. A signal already
 * armed is shared, not replaced: a second caller (the Reconciler beside the manager's initial-sync watch) must not
 * leave the first one waiting on a signal nobody will fire.
 */
export const resetSyncedSignal = (
  ctx: SyncerContext
): Effect.Effect<Effect.Effect<void, HistoricalSyncFailed | GossipSyncerExiting>> =>
  ctx.signalLock.withPermits(1)(
    Effect.gen(function* () {
      const state = yield* SubscriptionRef.get(ctx.state)
      if (state === "chansSynced") return Effect.void
      const failed = state === "syncerIdle" ? yield* Ref.getAndSet(ctx.unreportedFailure, Option.none()) : Option.none()
      if (Option.isSome(failed)) return Effect.fail(failed.value)
      const signal = (yield* Ref.get(ctx.armedSignal)) ?? (yield* Deferred.make<void, HistoricalSyncFailed>())
      yield* Ref.set(ctx.armedSignal, signal)
      return Effect.flatMap(
        Deferred.poll(signal),
        Option.match({
          onSome: (result): Effect.Effect<void, HistoricalSyncFailed | GossipSyncerExiting> => result,
          onNone: () => Effect.raceFirst(Deferred.await(signal), ctx.failOnExit)
        })
      )
    })
  )
