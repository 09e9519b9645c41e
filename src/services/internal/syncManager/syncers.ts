/**
 * Each syncer's life under the manager (SM-13, SM-23): its `run` fiber in the `FiberMap` slot of its peer, the watch
 * that tells the handler when its historical syncs start and end (GS-2), and its removal. A removal never blocks the
 * handler (SM-23: the fiber is interrupted asynchronously, `stop` awaits it) and refills a freed active slot at once.
 */
import { Cause, Effect, Exit, Fiber, FiberMap, FiberSet, Option, Queue, Ref, Stream, SubscriptionRef } from "effect"
import type { Scope } from "effect"
import type { SyncerState } from "../../GossipSyncer.js"
import type { Entry, ManagerContext, SyncOutcome } from "./context.js"
import { syncingStates, withoutPeer } from "./context.js"
import { chooseRandomSyncer, promote } from "./selection.js"

/**
 * Tells the handler each time the syncer's historical sync ends: its state goes from a syncing state to
 * `chansSynced` (completed, GS-20) or `syncerIdle` (failed, GS-17). State, not the synced signal: the signal is a
 * single slot (GS-30) that the initial-sync watch and the Reconciler arm.
 */
const watchSyncs = (ctx: ManagerContext, entry: Entry): Effect.Effect<void> =>
  entry.syncer.state.changes.pipe(
    Stream.mapAccum(
      undefined as SyncerState | undefined,
      (previous, next): readonly [SyncerState, Option.Option<SyncOutcome>] => [
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
    Stream.runForEach((outcome) => Queue.offer(ctx.queue, { _tag: "SyncSettled", entry, outcome }))
  )

/** The syncer's life in its FiberMap slot, with its sync watch; if it ends by itself the handler forgets it. */
export const supervise = (
  ctx: ManagerContext,
  entry: Entry,
  run: Effect.Effect<void, never, Scope.Scope>
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(Effect.scoped(Effect.zipRight(Effect.forkScoped(watchSyncs(ctx, entry)), run)))
    if (Exit.isFailure(exit)) {
      if (Cause.isInterruptedOnly(exit.cause)) return
      yield* Effect.logError("syncer died", exit.cause).pipe(Effect.annotateLogs("peer", entry.nodeIdHex))
    }
    // Interruptible: if the handler is tearing this fiber down meanwhile, the notice is simply dropped.
    yield* Queue.offer(ctx.queue, { _tag: "SyncerExited", entry })
  })

/** Interrupts a syncer's fiber without waiting for it (SM-23: never block the handler); `stop` awaits it. */
const retire = (ctx: ManagerContext, nodeIdHex: string): Effect.Effect<void> =>
  Option.match(FiberMap.unsafeGet(ctx.syncerFibers, nodeIdHex), {
    onNone: () => Effect.void,
    onSome: (fiber) =>
      FiberSet.add(ctx.retiring, fiber).pipe(
        Effect.zipRight(Effect.fiberIdWith((self) => Fiber.interruptAsFork(fiber, self)))
      )
  })

/** SM-23 minus the ack: forget the syncer, stop it, and replace it if it was active. */
export const removeSyncer = (ctx: ManagerContext, entry: Entry): Effect.Effect<void> =>
  Effect.gen(function* () {
    const before = yield* Ref.get(ctx.sets)
    const wasActive = before.active.get(entry.nodeIdHex)?.syncer === entry.syncer
    yield* Ref.set(ctx.sets, withoutPeer(before, entry.nodeIdHex))
    yield* retire(ctx, entry.nodeIdHex)
    // a new connection starts with a clean record and no backoff
    yield* SubscriptionRef.update(ctx.records, (m) => {
      if (m.get(entry.nodeIdHex)?.syncer !== entry.syncer) return m
      const next = new Map(m)
      next.delete(entry.nodeIdHex)
      return next
    })
    yield* FiberMap.remove(ctx.retryTimers, entry.nodeIdHex)
    yield* Effect.logInfo("removed syncer").pipe(Effect.annotateLogs("peer", entry.nodeIdHex))
    if (!wasActive) return
    // SM-23: an active slot freed is refilled at once, even before the graph is synced.
    const after = yield* Ref.get(ctx.sets)
    const replacement = yield* chooseRandomSyncer(ctx, after.inactive.values(), promote(ctx))
    yield* Option.match(replacement, {
      onNone: () => Effect.logDebug("no passive syncer to replace the active one"),
      onSome: (r) =>
        Effect.logInfo("promoted passive syncer").pipe(
          Effect.annotateLogs({ peer: r.nodeIdHex, replacing: entry.nodeIdHex })
        )
    })
  })
