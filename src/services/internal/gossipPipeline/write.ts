/**
 * The writer fiber: applies each validated batch to the GraphStore in one transaction (`applyBatch`), then
 * publishes what was accepted on the `accepted` PubSub (live forwarding, GS-46) and answers the callers. A failed
 * write fails `process` callers, and is kept for the next `flush` when it held `submit`ted gossip. Queue permits go
 * back only once a batch is written, so `submit` backpressure covers everything not yet in the store.
 */
import { Deferred, Effect, Either, Metric, PubSub, Queue } from "effect"
import type { BatchOutcome, GraphBatch } from "../../GraphStore.js"
import type { PipelineContext } from "./context.js"
import { GossipPipelineMetrics } from "./metrics.js"

const isEmpty = (b: GraphBatch) => b.channels.length === 0 && b.updates.length === 0 && b.nodes.length === 0

const NOTHING: BatchOutcome = {
  channelsAdded: 0,
  channelsKnown: 0,
  updatesApplied: 0,
  updatesIgnored: 0,
  nodesApplied: 0,
  nodesIgnored: 0
}

export const writer = (ctx: PipelineContext): Effect.Effect<never> =>
  Effect.gen(function* () {
    const { cells } = ctx
    for (;;) {
      const job = yield* Queue.take(ctx.toWriter)
      const written = yield* Effect.either(
        isEmpty(job.batch) ? Effect.succeed(NOTHING) : ctx.store.applyBatch(job.batch)
      )
      cells.writtenSeq = job.seq
      if (Either.isRight(written)) {
        if (job.accepted.length > 0) {
          yield* Metric.incrementBy(GossipPipelineMetrics.accepted, job.accepted.length)
          yield* PubSub.publishAll(ctx.acceptedHub, job.accepted)
        }
        for (const r of job.replies) yield* Deferred.succeed(r.reply, r.verdicts)
      } else {
        yield* Effect.logError("gossip batch write failed", written.left)
        for (const r of job.replies) yield* Deferred.fail(r.reply, written.left)
        if (job.submitted) cells.submitFailure ??= written.left
      }
      for (const f of job.flushes) {
        if (cells.submitFailure === undefined) yield* Deferred.succeed(f, undefined)
        else yield* Deferred.fail(f, cells.submitFailure)
      }
      if (job.flushes.length > 0) cells.submitFailure = undefined
      yield* ctx.permits.release(job.permits)
    }
  })
