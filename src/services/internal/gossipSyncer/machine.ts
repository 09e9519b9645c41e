/**
 * The state machine fiber (GS-2, GS-23/24, GS-27..30): lnd's `channelGraphSyncer`. In `syncingChans` it runs one
 * historical sync (historicalSync.ts) and settles it: `chansSynced` on success, `syncerIdle` on failure (GS-17,
 * port decision). In `chansSynced`/`syncerIdle` it takes the manager's requests one at a time (GS-24), so every
 * state change has one writer and the synced signal (GS-30) fires or fails exactly once per sync. Between requests
 * an idle syncer helps another syncer's initial sync when one is in progress (issue 18, shares.ts), one lease at a
 * time, and stops taking leases as soon as a request waits: helping never changes its GS-2 state.
 */
import { Deferred, Effect, Option, Queue, Ref, SubscriptionRef } from "effect"
import type { SyncType } from "../../GossipSyncer.js"
import { noSyncCounts } from "./counts.js"
import { HistoricalSyncFailed, SyncTransitionFailed } from "./errors.js"
import type { PeerDisconnected } from "../../Peer.js"
import type { Request, RequestStatus, SyncerContext } from "./context.js"
import { enter, releaseQueryState } from "./context.js"
import { syncChannels } from "./historicalSync.js"
import { help } from "./scidQueries.js"
import { activeHorizon, sendActiveHorizonIfNeeded, sendHorizon } from "./outbound.js"
import { isActiveSync } from "./rules.js"

/** GS-23/30: enter `chansSynced`, fire the armed signal, and make sure an active syncer has a horizon. */
const enterChansSynced = (ctx: SyncerContext): Effect.Effect<void> =>
  Effect.gen(function* () {
    yield* ctx.signalLock.withPermits(1)(
      Effect.gen(function* () {
        yield* enter(ctx, "chansSynced")
        yield* Ref.set(ctx.unreportedFailure, Option.none())
        const armed = yield* Ref.getAndSet(ctx.armedSignal, undefined)
        if (armed !== undefined) yield* Deferred.succeed(armed, undefined)
      })
    )
    yield* sendActiveHorizonIfNeeded(ctx)
  })

/** GS-17 (port decision): defined failed state, buffers released, signal failed, manager told. */
const failSync = (ctx: SyncerContext, reason: string, kind: "peer" | "store" = "peer"): Effect.Effect<void> =>
  Effect.gen(function* () {
    yield* releaseQueryState(ctx)
    const failure = new HistoricalSyncFailed({ peer: ctx.peerId, reason, kind })
    yield* Ref.set(ctx.lastFailure, Option.some(failure))
    yield* ctx.signalLock.withPermits(1)(
      Effect.gen(function* () {
        yield* enter(ctx, "syncerIdle")
        const armed = yield* Ref.getAndSet(ctx.armedSignal, undefined)
        if (armed !== undefined) yield* Deferred.fail(armed, failure)
        else yield* Ref.set(ctx.unreportedFailure, Option.some(failure))
      })
    )
    yield* Effect.logWarning(`historical sync failed: ${reason}`)
    yield* sendActiveHorizonIfNeeded(ctx)
  })

/** The next request still wanted by its caller (one that timed out has been cancelled), or a wake-up. */
const takeRequest = (ctx: SyncerContext): Effect.Effect<Request> =>
  Effect.flatMap(Queue.take(ctx.requests), (request) => {
    if (request._tag === "Wake") {
      ctx.wakePending.value = false
      return Effect.succeed(request)
    }
    return Effect.flatMap(
      Ref.modify(
        request.status,
        (s): readonly [boolean, RequestStatus] => s === "pending" ? [true, "accepted"] : [false, s]
      ),
      (accepted) => (accepted ? Effect.succeed(request) : takeRequest(ctx))
    )
  })

/** GS-28. */
const handleTransition = (ctx: SyncerContext, to: SyncType): Effect.Effect<void, SyncTransitionFailed> =>
  Effect.gen(function* () {
    if ((yield* Ref.get(ctx.syncType)) === to) return
    const horizon = isActiveSync(to) ? yield* activeHorizon : ("passive" as const)
    yield* sendHorizon(ctx, horizon).pipe(
      Effect.mapError((e) => new SyncTransitionFailed({ peer: ctx.peerId, reason: e.reason }))
    )
    yield* Ref.set(ctx.syncType, to)
  })

const handleRequest = (ctx: SyncerContext, request: Request): Effect.Effect<void> => {
  if (request._tag === "Wake") return Effect.void // the loop looks for work before its next take
  if (request._tag === "Historical") {
    // GS-29: flag, state, and only then the acknowledgement
    return Effect.all(
      [
        Ref.set(ctx.historical, true),
        Ref.set(ctx.unreportedFailure, Option.none()),
        enter(ctx, "syncingChans"),
        Deferred.succeed(request.accepted, undefined)
      ],
      { discard: true }
    )
  }
  return Effect.zipRight(
    Deferred.succeed(request.accepted, undefined),
    Effect.exit(handleTransition(ctx, request.to)).pipe(Effect.flatMap((exit) => Deferred.done(request.done, exit)))
  )
}

/** One historical sync, then the outcome told to everyone who waits on it. */
const runSyncAndSettle = (ctx: SyncerContext): Effect.Effect<void, PeerDisconnected> =>
  Effect.gen(function* () {
    Object.assign(ctx.counts, noSyncCounts)
    const outcome = yield* Effect.either(syncChannels(ctx))
    if (outcome._tag === "Left") {
      const e = outcome.left
      if (e._tag === "SyncAborted") return yield* failSync(ctx, e.reason)
      return yield* Effect.fail(e)
    }
    // the graph reflects the sync before anyone is told it is done; if what the peer sent could not be written, the
    // sync failed (SM-20: no graph-synced signal), typed so the manager can tell it from the peer's fault (item 3)
    const flushed = yield* Effect.either(ctx.pipeline.flush)
    if (flushed._tag === "Left") {
      return yield* failSync(ctx, `the graph store failed: ${flushed.left.message}`, "store")
    }
    yield* Ref.set(ctx.lastCompleted, Option.some({ ...ctx.counts })) // before chansSynced: its watchers read it
    yield* ctx.options.markGraphSynced // GS-20/21, SM-20
    yield* enterChansSynced(ctx)
  })

/** The fiber: ends only when the peer disconnects (or `run` is interrupted). */
export const machine = (ctx: SyncerContext): Effect.Effect<never, PeerDisconnected> =>
  Effect.gen(function* () {
    const initial = yield* SubscriptionRef.get(ctx.state)
    if (initial === "chansSynced") yield* enterChansSynced(ctx)
    else if (initial !== "syncerIdle") yield* enter(ctx, "syncingChans")
    while (true) {
      const current = yield* SubscriptionRef.get(ctx.state)
      if (current === "syncingChans") {
        yield* runSyncAndSettle(ctx)
        continue
      }
      yield* help(ctx) // issue 18: returns at once when no pool has work for this peer, or a request waits
      yield* handleRequest(ctx, yield* takeRequest(ctx)) // GS-24: chansSynced/syncerIdle accept requests
    }
  })
