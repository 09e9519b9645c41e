/**
 * The manager's two tickers (SM-8, SM-17, SM-26, SM-28): `Schedule`-driven fibers that only enqueue ticks for the
 * handler, so a tick is ordered with every other command (SM-9) and acted on by the handler (selection.ts rotates,
 * initialSync.ts forces a historical sync). The rotation ticker runs from the start; the historical ticker is
 * restarted on every assignment of the initial historical syncer, so each one gets a full interval.
 */
import { Effect, FiberHandle, Queue, Ref, Schedule } from "effect"
import type { ManagerContext } from "./context.js"

/** SM-8: the rotation ticker runs from the start; its first tick is one interval away. */
export const rotationTicks = (ctx: ManagerContext): Effect.Effect<void> =>
  Queue.offer(ctx.queue, { _tag: "RotateTick" } as const).pipe(
    Effect.schedule(Schedule.fixed(ctx.config.rotationInterval)),
    Effect.asVoid
  )

/** The historical ticker for one assignment: a tick every interval, the first one a full interval away (SM-26). */
const historicalTicks = (ctx: ManagerContext, assignment: number): Effect.Effect<void> =>
  Queue.offer(ctx.queue, { _tag: "HistoricalTick", assignment }).pipe(
    Effect.schedule(Schedule.fixed(ctx.config.historicalSyncInterval)),
    Effect.asVoid
  )

/** SM-17: replace the historical ticker by one for `assignment`; ticks of the old one are dropped by the handler. */
export const restartHistoricalTicker = (ctx: ManagerContext, assignment: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    yield* FiberHandle.clear(ctx.historicalTicker)
    yield* Ref.set(ctx.tickerAssignment, assignment)
    yield* FiberHandle.run(ctx.historicalTicker, historicalTicks(ctx, assignment))
  })
