/**
 * The validator fiber: takes batches in order and keeps the signature workers fed. Everything on this thread is
 * arranged around batch N's signature checks: while they run, batch N-1 is written (writer fiber) and batch N+1
 * pre-checked (rules, hashes, store reads, early signatures). Then N is settled, N+1's signatures are dispatched,
 * and only then is N handed to the writer. Settling stays strictly in batch order.
 */
import { Deferred, Effect, Either, Fiber, Metric, Option, Queue } from "effect"
import type { GraphStoreError } from "../../GraphStore.js"
import type { Prepared } from "./batch.js"
import type { Job, PipelineContext, WriteJob } from "./context.js"
import { bump } from "./funding.js"
import { fillBatch } from "./intake.js"
import { GossipPipelineMetrics } from "./metrics.js"
import { prepare } from "./precheck.js"
import { settle } from "./settle.js"

/** Settles a prepared batch into the writer's job (or, if its store reads failed, reports that). */
const finish = (
  ctx: PipelineContext,
  jobs: ReadonlyArray<Job>,
  /** Queue permits the batch holds (given back once written). */
  count: number,
  seq: number,
  prepared: Either.Either<Prepared, GraphStoreError>,
  dispatched: Effect.Effect<unknown>
): Effect.Effect<WriteJob> =>
  Effect.gen(function* () {
    const result = yield* Effect.either(
      Either.isLeft(prepared) ? Effect.fail(prepared.left) : settle(ctx, prepared.right, seq, dispatched)
    )
    // its outcome is in the overlay now (or it failed): later batches may check its keys early again
    ctx.cells.settlingKeys = undefined
    const replies: Array<WriteJob["replies"][number]> = []
    const flushes: Array<WriteJob["flushes"][number]> = []
    const submitted = jobs.some((j) => j._tag === "Messages" && j.reply === undefined)
    if (Either.isLeft(result)) {
      // a store read failed: nothing of this batch was checked; callers hear about it
      for (const j of jobs) {
        if (j._tag === "Flush") flushes.push(j.reply)
        else if (j.reply !== undefined) yield* Deferred.fail(j.reply, result.left)
      }
      return {
        seq,
        batch: { channels: [], updates: [], nodes: [] },
        accepted: [],
        replies: [],
        flushes,
        permits: count,
        submitted,
        readFailure: result.left
      }
    }
    let at = 0
    for (const j of jobs) {
      if (j._tag === "Flush") {
        flushes.push(j.reply)
        continue
      }
      const n = j.messages.length
      // `submit`'s jobs have no reply: their verdicts are only counted (no copy of them)
      if (j.reply !== undefined) replies.push({ reply: j.reply, verdicts: result.right.verdicts.slice(at, at + n) })
      at += n
    }
    return {
      seq,
      batch: result.right.batch,
      accepted: result.right.accepted,
      replies,
      flushes,
      permits: count,
      submitted,
      readFailure: undefined
    }
  }).pipe(Effect.ensuring(dispatched))

export const validator = (ctx: PipelineContext): Effect.Effect<never> =>
  Effect.gen(function* () {
    const { cells, inbox } = ctx
    let settling: Fiber.RuntimeFiber<WriteJob> | undefined
    let ready: WriteJob | undefined
    const handOff = Effect.suspend(() => {
      const job = ready
      ready = undefined
      return job === undefined ? Effect.void : Queue.offer(ctx.toWriter, job)
    })
    for (;;) {
      const polled = yield* Queue.poll(inbox)
      let first: Job
      if (Option.isSome(polled)) first = polled.value
      else {
        // nothing waiting: finish what is in flight before blocking
        yield* handOff
        if (settling !== undefined) {
          ready = yield* Fiber.join(settling)
          settling = undefined
          yield* handOff
          yield* bump(ctx.funding)
        }
        first = yield* Queue.take(inbox)
      }
      const batch = yield* fillBatch(ctx, first)
      const { jobs, permits } = batch
      yield* Metric.increment(GossipPipelineMetrics.batches)
      const seq = cells.nextSeq++
      const prepared = yield* Effect.either(prepare(ctx, batch, cells.writtenSeq))
      if (settling !== undefined) {
        yield* handOff
        ready = yield* Fiber.join(settling)
      }
      const dispatched = yield* Deferred.make<void>()
      settling = yield* Effect.fork(finish(ctx, jobs, permits, seq, prepared, Deferred.succeed(dispatched, undefined)))
      yield* Deferred.await(dispatched)
      yield* handOff
      yield* bump(ctx.funding)
    }
  })
