/**
 * Intake: how gossip gets into the pipeline and how it is cut into batches. `submit` and `process` split a peer's
 * messages into chunks of at most `batchSize` and admit each only when the pipeline has room for it (`queueBound`
 * messages not yet written): waiting here is the backpressure that reaches the peer's socket. `flush` is a marker
 * in the same queue, answered once everything before it is written (failing if that did not all reach the store:
 * see `write.ts`). The validator takes jobs in arrival order and
 * fills a batch up to `batchSize` messages.
 */
import { Deferred, Effect, Queue } from "effect"
import type { GossipMessage } from "../../../domain/Messages.js"
import type { Verdict } from "../../GossipPipeline.js"
import type { GraphStoreError } from "../../GraphStore.js"
import type { Job, MessagesJob, PipelineContext } from "./context.js"
import type { GossipPipelineStoreFailed } from "./errors.js"
import { awaitParked } from "./funding.js"

// ---------------------------------------------------------------------------------------------------------------
// Batching (validator side)

export interface Batch {
  readonly jobs: ReadonlyArray<Job>
  /** Messages in it. */
  readonly count: number
  /** The queue permits it holds (re-entries from the funding check hold none). */
  readonly permits: number
}

/** `first`, then whatever is already waiting, up to `batchSize` messages (a job is never split). */
export const fillBatch = (ctx: PipelineContext, first: Job): Effect.Effect<Batch> =>
  Effect.gen(function* () {
    const jobs: Array<Job> = [first]
    const held = (j: Job) => (j._tag === "Messages" && j.reentry !== true ? j.messages.length : 0)
    let count = first._tag === "Messages" ? first.messages.length : 0
    let permits = held(first)
    while (count < ctx.config.batchSize) {
      const next = yield* Queue.poll(ctx.inbox)
      if (next._tag === "None") break
      jobs.push(next.value)
      if (next.value._tag === "Messages") count += next.value.messages.length
      permits += held(next.value)
    }
    return { jobs, count, permits }
  })

// ---------------------------------------------------------------------------------------------------------------
// Admission (caller side)

export interface Intake {
  readonly submit: (fromPeer: string, messages: ReadonlyArray<GossipMessage>) => Effect.Effect<void>
  readonly process: (
    fromPeer: string,
    messages: ReadonlyArray<GossipMessage>
  ) => Effect.Effect<ReadonlyArray<Verdict>, GraphStoreError>
  readonly flush: Effect.Effect<void, GossipPipelineStoreFailed>
}

export const makeIntake = (ctx: PipelineContext): Intake => {
  const { config, inbox, permits, waiting } = ctx

  const chunks = (messages: ReadonlyArray<GossipMessage>): Array<ReadonlyArray<GossipMessage>> => {
    const out: Array<ReadonlyArray<GossipMessage>> = []
    for (let i = 0; i < messages.length; i += config.batchSize) out.push(messages.slice(i, i + config.batchSize))
    return out
  }

  /** Admits one chunk: waits for queue room (backpressure), then enqueues. */
  const enqueue = (
    peer: string,
    messages: ReadonlyArray<GossipMessage>,
    reply: MessagesJob["reply"]
  ): Effect.Effect<void> =>
    Effect.uninterruptibleMask((restore) =>
      restore(permits.take(messages.length)).pipe(
        Effect.zipRight(Queue.offer(inbox, { _tag: "Messages", peer, messages, reply })),
        Effect.asVoid
      )
    )

  /** Waits for a reply; the pipeline's finalizer interrupts it if the pipeline closes first. */
  const awaitReply = <A, E>(d: Deferred.Deferred<A, E>): Effect.Effect<A, E> =>
    Effect.acquireUseRelease(
      Effect.sync(() => {
        const stop = Deferred.interrupt(d)
        waiting.add(stop)
        return stop
      }),
      () => Deferred.await(d),
      (stop) => Effect.sync(() => waiting.delete(stop))
    )

  const submit = (fromPeer: string, messages: ReadonlyArray<GossipMessage>): Effect.Effect<void> =>
    Effect.forEach(chunks(messages), (c) => enqueue(fromPeer, c, undefined), { discard: true })

  const process = (
    fromPeer: string,
    messages: ReadonlyArray<GossipMessage>
  ): Effect.Effect<ReadonlyArray<Verdict>, GraphStoreError> =>
    Effect.gen(function* () {
      const replies: Array<Deferred.Deferred<ReadonlyArray<Verdict>, GraphStoreError>> = []
      for (const c of chunks(messages)) {
        const d = yield* Deferred.make<ReadonlyArray<Verdict>, GraphStoreError>()
        replies.push(d)
        yield* enqueue(fromPeer, c, d)
      }
      const out: Array<Verdict> = []
      for (const d of replies) out.push(...(yield* awaitReply(d)))
      return out
    })

  const flush: Effect.Effect<void, GossipPipelineStoreFailed> = Effect.gen(function* () {
    // announcements parked on the funding check before this call are part of "everything before it"
    yield* awaitParked(ctx.funding)
    const d = yield* Deferred.make<void, GossipPipelineStoreFailed>()
    yield* Queue.offer(inbox, { _tag: "Flush", reply: d })
    yield* awaitReply(d)
  })

  return { submit, process, flush }
}
