/**
 * The writer fiber: applies each validated batch to the GraphStore in one transaction (`applyBatch`), then
 * publishes what was accepted on the `accepted` PubSub (live forwarding, GS-46) and answers the callers. A failed
 * write fails `process` callers at once. Queue permits go back only once a batch is written, so `submit`
 * backpressure covers everything not yet in the store.
 *
 * `flush` is how a syncer learns that what it submitted reached the store before it marks the graph synced (SM-6,
 * SM-20), so a flush fails with `GossipPipelineStoreFailed`:
 *   - if a write holding submitted gossip failed since the previous flush (each such failure is reported once
 *     at least: that gossip is lost), and
 *   - while the store is failing: its last write (or a batch's store reads) failed and nothing has been written
 *     since, so a flush with no writes in between still fails. One successful write ends that.
 * A failure could only be reported to the flush of the peer whose gossip was lost if flushes had owners; they do
 * not, so a failure is told to the first flush after it (conservative for that caller, and the store-failing rule
 * keeps every later flush failing until the store writes again).
 * Failures reach the writer in batch order (a batch's read failure travels with it), so a flush is answered only
 * with the outcome of the batches before it.
 */
import { Deferred, Effect, Either, Metric, PubSub, Queue } from "effect"
import type { GraphBatch, GraphStoreError } from "../../GraphStore.js"
import type { PipelineContext } from "./context.js"
import { GossipPipelineStoreFailed } from "./errors.js"
import { GossipPipelineMetrics, storeWriteDuration } from "./metrics.js"

const isEmpty = (b: GraphBatch) => b.channels.length === 0 && b.updates.length === 0 && b.nodes.length === 0

export const writer = (ctx: PipelineContext): Effect.Effect<never> =>
  Effect.gen(function* () {
    const { cells } = ctx
    for (;;) {
      const job = yield* Queue.take(ctx.toWriter)
      let failure: GraphStoreError | undefined = job.readFailure
      if (failure === undefined && !isEmpty(job.batch)) {
        const written = yield* Effect.either(ctx.store.applyBatch(job.batch)).pipe(
          Metric.trackDuration(storeWriteDuration)
        )
        if (Either.isLeft(written)) failure = written.left
        else cells.storeFailing = undefined
      }
      cells.writtenSeq = job.seq
      if (failure === undefined) {
        if (job.accepted.length > 0) {
          yield* Metric.incrementBy(GossipPipelineMetrics.accepted, job.accepted.length)
          yield* PubSub.publishAll(ctx.acceptedHub, job.accepted)
        }
        for (const r of job.replies) yield* Deferred.succeed(r.reply, r.verdicts)
      } else {
        yield* Effect.logError("gossip batch write failed", failure)
        for (const r of job.replies) yield* Deferred.fail(r.reply, failure)
        cells.storeFailing = failure
        if (job.submitted) cells.unreported ??= failure
      }
      if (job.flushes.length > 0) {
        const lost = cells.unreported ?? cells.storeFailing
        cells.unreported = undefined
        for (const f of job.flushes) {
          if (lost === undefined) yield* Deferred.succeed(f, undefined)
          else yield* Deferred.fail(f, new GossipPipelineStoreFailed({ cause: lost }))
        }
      }
      const free = yield* ctx.permits.release(job.permits)
      yield* Metric.incrementBy(GossipPipelineMetrics.received, job.permits)
      yield* Metric.set(GossipPipelineMetrics.queueDepth, ctx.config.queueBound - free)
    }
  })
