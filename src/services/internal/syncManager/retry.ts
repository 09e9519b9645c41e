/**
 * Failed-sync backoff (beyond lnd, issue 13 "every sync finishes"). lnd only picks syncers in `chansSynced` (SM-27),
 * so a syncer left in `syncerIdle` by a failed sync (GS-17) was never used again on that connection. Here a failed
 * sync (or a refused request, SM-16/SM-26 notes) counts against the peer's record and arms a timer; once the
 * backoff (5 s doubling to 5 min) elapses the syncer is eligible again (selection.ts) and the handler is woken to
 * hand out an owed initial sync. A completed sync and a new connection reset it.
 */
import { Clock, Context, Duration, Effect, FiberMap, Option, Queue } from "effect"
import type { Entry, ManagerContext } from "./context.js"
import { recordOf, updateRecord } from "./context.js"

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

/** A failure whose syncer gave no reason (GS-17: the syncer sets `lastFailure` before `syncerIdle`; fakes may not). */
const GenericFailure = "historical sync failed"

/** A failed sync (or refused request) of this syncer: count it, note why, and wake up when its backoff ends. */
export const recordFailure = (ctx: ManagerContext, entry: Entry, reason: string | undefined): Effect.Effect<void> =>
  Effect.gen(function* () {
    const record = yield* recordOf(ctx, entry)
    if (record === undefined) return
    const failures = record.failures + 1
    const backoff = retryBackoff(ctx.retryPolicy, failures)
    const now = yield* Clock.currentTimeMillis
    yield* updateRecord(ctx, entry, (r) => ({
      ...r,
      syncing: false,
      failures,
      lastFailure: Option.some(reason ?? GenericFailure),
      retryAtMillis: Option.some(now + Duration.toMillis(backoff))
    }))
    yield* FiberMap.run(
      ctx.retryTimers,
      entry.nodeIdHex,
      Queue.offer(ctx.queue, { _tag: "RetryDue", nodeIdHex: entry.nodeIdHex }).pipe(Effect.delay(backoff))
    )
    yield* Effect.logInfo("syncer will be eligible again after its backoff").pipe(
      Effect.annotateLogs({ peer: entry.nodeIdHex, failures, backoff: Duration.format(backoff) })
    )
  })

/** A completed sync: the backoff is over and its timer no longer needed. */
export const recordCompletion = (ctx: ManagerContext, entry: Entry, wasInitial: boolean): Effect.Effect<void> =>
  Effect.zipRight(
    updateRecord(ctx, entry, (r) => ({
      ...r,
      completed: r.completed + 1,
      completedInitial: r.completedInitial || wasInitial,
      syncing: false,
      failures: 0,
      retryAtMillis: Option.none()
    })),
    FiberMap.remove(ctx.retryTimers, entry.nodeIdHex)
  )
