/**
 * GossipPipeline: every gossip message a peer sends passes here before it may touch the graph. BOLT 7 receive
 * rules, cheap duplicate/staleness checks before any signature work, signature checks on a worker pool, batched
 * writes to the GraphStore, per-peer misbehaviour accounting and bans.
 */
import type { Effect, Scope, Stream } from "effect"
import { Context, Layer } from "effect"
import type { GossipMessage } from "../domain/Messages.js"
import type { ChainSource } from "./ChainSource.js"
import type { GossipPipelineConfig } from "./GossipPipelineConfig.js"
import type { GraphStore, GraphStoreError } from "./GraphStore.js"
import * as internal from "./internal/gossipPipeline/pipeline.js"
import type { SignatureVerifier } from "./SignatureVerifier.js"
import type { GossipPipelineStoreFailed } from "./internal/gossipPipeline/errors.js"

export { GossipPipelineStoreFailed } from "./internal/gossipPipeline/errors.js"

/** Pipeline counters (Effect `Metric`); invalid and stale are tagged with their `reason`. */
export { GossipPipelineMetrics } from "./internal/gossipPipeline/metrics.js"

/** Why a message was rejected; every reason names the rule. */
export type InvalidReason =
  /** Another chain's gossip: ignored (BOLT 7), counted in the metrics, not an offence (no ban score). */
  | "WrongChain"
  | "NodeIdsNotOrdered"
  | "BadNodeSignature"
  | "BadBitcoinSignature"
  | "BadSignature"
  | "UnknownEvenFeature"
  | "MalformedAddresses"
  | "FundingOutputInvalid"
  | "ZeroTimestamp"
  /** Wrong field lengths, or decoded fields that disagree with the raw bytes the signatures cover (lnd#10835). */
  | "Malformed"

export type Verdict =
  | { readonly _tag: "Accepted" }
  /** Already held with the same (or a newer) timestamp: no signature work was spent. */
  | { readonly _tag: "Duplicate" }
  /** Older than the prune horizon (two weeks) or too far in the future. */
  | { readonly _tag: "Stale"; readonly reason: "TooOld" | "InFuture" }
  /** Held in a bounded cache until its channel (update) or a channel of its node (node announcement) arrives. */
  | { readonly _tag: "Premature" }
  | { readonly _tag: "Invalid"; readonly reason: InvalidReason }

export interface AcceptedGossip {
  readonly message: GossipMessage
  /** Node id hex of the peer it came from (so live forwarding does not echo it back, GS-46). */
  readonly fromPeer: string
}

export interface BanEvent {
  readonly nodeIdHex: string
  readonly untilMillis: number
  readonly reason: string
}

export interface GossipPipelineService {
  /** Enqueue gossip from a peer; waits while the pipeline is full (backpressure reaches the peer's socket). */
  readonly submit: (fromPeer: string, messages: ReadonlyArray<GossipMessage>) => Effect.Effect<void>
  /** Validate and write now, returning one verdict per message, in order. */
  readonly process: (
    fromPeer: string,
    messages: ReadonlyArray<GossipMessage>
  ) => Effect.Effect<ReadonlyArray<Verdict>, GraphStoreError>
  /**
   * Completes once everything submitted before the call has been written or rejected. Fails if a write of submitted
   * gossip failed since the previous flush, or while the store is failing (its last write failed): what was
   * submitted may not be in the store, so a sync must not be marked complete (SM-6, SM-20).
   */
  readonly flush: Effect.Effect<void, GossipPipelineStoreFailed>
  /** Accepted gossip, for live forwarding (GS-46). Bounded: a subscriber that falls behind loses the oldest. */
  readonly accepted: Effect.Effect<Stream.Stream<AcceptedGossip>, never, Scope.Scope>
  /** Peers that crossed the misbehaviour threshold; the node wiring disconnects and refuses them. */
  readonly bans: Effect.Effect<Stream.Stream<BanEvent>, never, Scope.Scope>
  readonly isBanned: (nodeIdHex: string) => Effect.Effect<boolean>
}

export class GossipPipeline extends Context.Tag("lnsync/GossipPipeline")<GossipPipeline, GossipPipelineService>() {}

/**
 * Builds a pipeline in the current Scope: its validator and writer fibers, queues, caches and ban scores live there
 * and are gone when it closes (each node built in one process has its own).
 */
export const make: Effect.Effect<
  GossipPipelineService,
  never,
  GraphStore | SignatureVerifier | ChainSource | GossipPipelineConfig | Scope.Scope
> = internal.make

/** The pipeline layer: needs a GraphStore, a SignatureVerifier, a ChainSource and its config. */
export const layer: Layer.Layer<
  GossipPipeline,
  never,
  GraphStore | SignatureVerifier | ChainSource | GossipPipelineConfig
> = Layer.scoped(GossipPipeline, make)
