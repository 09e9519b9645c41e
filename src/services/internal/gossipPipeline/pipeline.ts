/**
 * Builds one gossip validation pipeline (GossipPipeline): BOLT 7 receive rules, duplicate and staleness checks
 * before any signature work, batched signature checks on the SignatureVerifier (a worker pool in production),
 * batched writes to the GraphStore, per-peer misbehaviour accounting (SM-33).
 *
 *   submit/process ─▶ inbox (≤ `queueBound` messages unwritten) ─▶ validator ─▶ writer ─▶ GraphStore.applyBatch
 *                                                                              └─▶ accepted PubSub, verdicts
 *
 * The stages, each over the one `PipelineContext` (`context.ts`) this builds:
 *   intake.ts     submit/process/flush, chunks, backpressure; batches cut from the inbox
 *   precheck.ts   stateless rules, hashes, store reads, early signature dispatch (overlaps the previous batch)
 *   settle.ts     per batch, in order: grouping and signature rounds per kind (announcements.ts, updates.ts,
 *                 nodeAnnouncements.ts, rounds.ts), overlay (overlay.ts), verdicts and SM-33 (verdicts.ts)
 *   validator.ts  the fiber that overlaps batch N's signature checks with N-1's write and N+1's pre-check
 *   write.ts      the fiber that applies batches, publishes accepted gossip and answers callers
 * signatures.ts packs signatures for the verifier; state.ts holds the bounded caches, overlay and ban scores.
 */
import { Clock, Effect, Stream } from "effect"
import type { Scope } from "effect"
import { ChainSource } from "../../ChainSource.js"
import type { GossipPipelineService } from "../../GossipPipeline.js"
import { GossipPipelineConfig } from "../../GossipPipelineConfig.js"
import { GraphStore } from "../../GraphStore.js"
import { SignatureVerifier } from "../../SignatureVerifier.js"
import { makeContext } from "./context.js"
import { makeIntake } from "./intake.js"
import { worker } from "./funding.js"
import { countSignatureChecks } from "./metrics.js"
import { validator } from "./validator.js"
import { writer } from "./write.js"

/** Builds the pipeline in the current Scope: its two fibers, queues, hubs and state live and die there. */
export const make: Effect.Effect<
  GossipPipelineService,
  never,
  GraphStore | SignatureVerifier | ChainSource | GossipPipelineConfig | Scope.Scope
> = Effect.gen(function* () {
  const ctx = yield* makeContext(
    yield* GossipPipelineConfig,
    yield* GraphStore,
    countSignatureChecks(yield* SignatureVerifier),
    yield* ChainSource
  )
  yield* Effect.forkScoped(validator(ctx))
  yield* Effect.forkScoped(writer(ctx))
  const funding = ctx.funding
  if (funding !== undefined) {
    for (let i = 0; i < funding.options.workers; i++) yield* Effect.forkScoped(worker(funding, ctx.chain, ctx.inbox))
  }
  const { submit, process, flush } = makeIntake(ctx)
  return {
    submit,
    process,
    flush,
    accepted: Stream.fromPubSub(ctx.acceptedHub, { scoped: true }),
    bans: Stream.fromPubSub(ctx.banHub, { scoped: true }),
    isBanned: (nodeIdHex: string) =>
      Effect.map(Clock.currentTimeMillis, (now) => ctx.misbehaviour.isBanned(nodeIdHex, now))
  }
})
