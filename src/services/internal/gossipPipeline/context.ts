/**
 * The context record every stage of one pipeline works on, created by `make` in the pipeline's Scope and gone with
 * it: the services it calls, its queues and hubs, its bounded state (premature caches, overlay, ban scores), the
 * per-pipeline node-id hex memo, and the few mutable cells the validator and writer fibers share. Nothing here is
 * module-level: each node the demo builds in one process has its own.
 *
 * Ownership: `prematureUpdates`, `prematureNodes`, `inFlight`, `misbehaviour`, `hexOf` and `cells.settlingKeys` /
 * `cells.nextSeq` belong to the validator side (one batch is settled at a time); `cells.writtenSeq` is written by
 * the writer and read by the validator; `cells.unreported` / `cells.storeFailing` belong to the writer (failures
 * reach it in batch order, with the batch they belong to).
 */
import { Effect, PubSub, Queue } from "effect"
import type { Deferred, Scope } from "effect"
import { toHex } from "../../../domain/Hex.js"
import type { GossipMessage, PublicKey } from "../../../domain/Messages.js"
import type { ShortChannelId } from "../../../domain/ShortChannelId.js"
import type { ChainSourceService } from "../../ChainSource.js"
import type { AcceptedGossip, BanEvent, Verdict } from "../../GossipPipeline.js"
import type { GossipPipelineStoreFailed } from "./errors.js"
import type { GossipPipelineConfigValues } from "../../GossipPipelineConfig.js"
import type { GraphBatch, GraphStoreError, GraphStoreService } from "../../GraphStore.js"
import type { SignatureVerifierService } from "../../SignatureVerifier.js"
import type { FundingState } from "./funding.js"
import { makeFundingState } from "./funding.js"
import { InFlight, Misbehaviour, PrematureNodes, PrematureUpdates } from "./state.js"

// ---------------------------------------------------------------------------------------------------------------
// Jobs: what the inbox and the writer queue carry

export interface MessagesJob {
  readonly _tag: "Messages"
  readonly peer: string
  readonly messages: ReadonlyArray<GossipMessage>
  /** Undefined for `submit` (nobody waits for the verdicts). */
  readonly reply: Deferred.Deferred<ReadonlyArray<Verdict>, GraphStoreError> | undefined
  /** Announcements back from the funding check (`funding.ts`): admitted without queue permits. */
  readonly reentry?: boolean | undefined
}

export interface FlushJob {
  readonly _tag: "Flush"
  readonly reply: Deferred.Deferred<void, GossipPipelineStoreFailed>
}

export type Job = MessagesJob | FlushJob

/** A validated batch, handed from the validator to the writer. */
export interface WriteJob {
  readonly seq: number
  readonly batch: GraphBatch
  readonly accepted: ReadonlyArray<AcceptedGossip>
  readonly replies: ReadonlyArray<{
    readonly reply: Deferred.Deferred<ReadonlyArray<Verdict>, GraphStoreError>
    readonly verdicts: ReadonlyArray<Verdict>
  }>
  readonly flushes: ReadonlyArray<Deferred.Deferred<void, GossipPipelineStoreFailed>>
  /** Queue permits to give back once written. */
  readonly permits: number
  /** Whether some of it came through `submit` (no caller to tell of a write failure but `flush`). */
  readonly submitted: boolean
  /** The store reads this batch needed failed: nothing of it was checked, and it counts as a failed write. */
  readonly readFailure: GraphStoreError | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// The record

/** Keys of the batch being settled: the next batch's early check leaves them alone (see `precheck.ts`). */
export interface SettlingKeys {
  readonly scids: ReadonlySet<ShortChannelId>
  readonly nodes: ReadonlySet<string>
}

/** The pipeline's mutable cells (plain fields: each is touched between yields of a single fiber). */
export interface PipelineCells {
  /** Sequence number of the next batch the validator takes. */
  nextSeq: number
  /** Last batch the writer has finished (written or failed): store reads after this see everything up to it. */
  writtenSeq: number
  /** Keys of the batch being settled; undefined between batches. */
  settlingKeys: SettlingKeys | undefined
  /** First failed write of `submit`ted gossip since the last flush: the next flush reports it, then it is cleared. */
  unreported: GraphStoreError | undefined
  /** The store's last write (or a batch's reads) failed and no write has succeeded since: every flush fails. */
  storeFailing: GraphStoreError | undefined
}

export interface PipelineContext {
  readonly config: GossipPipelineConfigValues
  readonly store: GraphStoreService
  readonly verifier: SignatureVerifierService
  readonly chain: ChainSourceService
  /** The asynchronous funding check's state; undefined when the source is asked inline (see `funding.ts`). */
  readonly funding: FundingState | undefined
  /** Jobs from `submit`/`process`/`flush`, in arrival order (bounded by `permits`, not by the queue). */
  readonly inbox: Queue.Queue<Job>
  /** Messages admitted and not yet written: `submit` waits here when the pipeline is behind. */
  readonly permits: Effect.Semaphore
  /** Validator → writer, one batch at a time. */
  readonly toWriter: Queue.Queue<WriteJob>
  readonly acceptedHub: PubSub.PubSub<AcceptedGossip>
  readonly banHub: PubSub.PubSub<BanEvent>
  readonly prematureUpdates: PrematureUpdates
  readonly prematureNodes: PrematureNodes
  /** Accepted but not yet written (the overlay). */
  readonly inFlight: InFlight
  readonly misbehaviour: Misbehaviour
  /** Hex of a node id, memoised per pipeline (see `makeHexOf`). */
  readonly hexOf: (id: PublicKey) => string
  /** Callers waiting on a reply: interrupted if the pipeline closes under them. */
  readonly waiting: Set<Effect.Effect<boolean>>
  readonly cells: PipelineCells
}

/**
 * Hex of a node id, computed once per key object while it is being validated (a node id is looked up several times
 * per batch, from `prepare` to the overlay). A plain Map, cleared when it reaches `HEX_MEMO_SIZE`: cheaper than a
 * WeakMap's ephemeron bookkeeping, and small, because each key is a view into its message's raw bytes — a memo of
 * 65,536 keys kept ~65,000 received messages alive (~30 MB, most of the pipeline's live heap). A few batches' worth
 * covers a message's way through the pipeline. One memo per pipeline, dropped with it.
 */
const HEX_MEMO_SIZE = 8192

export const makeHexOf = (): (id: PublicKey) => string => {
  const memo = new Map<PublicKey, string>()
  return (id) => {
    let hex = memo.get(id)
    if (hex === undefined) {
      if (memo.size >= HEX_MEMO_SIZE) memo.clear()
      hex = toHex(id)
      memo.set(id, hex)
    }
    return hex
  }
}

/** Builds one pipeline's context in the current Scope: queues and hubs shut down, waiting callers interrupted. */
export const makeContext = (
  config: GossipPipelineConfigValues,
  store: GraphStoreService,
  verifier: SignatureVerifierService,
  chain: ChainSourceService
): Effect.Effect<PipelineContext, never, Scope.Scope> =>
  Effect.gen(function* () {
    const inbox = yield* Effect.acquireRelease(Queue.unbounded<Job>(), Queue.shutdown)
    const permits = yield* Effect.makeSemaphore(config.queueBound)
    const toWriter = yield* Effect.acquireRelease(Queue.bounded<WriteJob>(1), Queue.shutdown)
    const acceptedHub = yield* Effect.acquireRelease(
      PubSub.sliding<AcceptedGossip>(config.acceptedBuffer),
      PubSub.shutdown
    )
    const banHub = yield* Effect.acquireRelease(PubSub.sliding<BanEvent>(1024), PubSub.shutdown)
    const waiting = new Set<Effect.Effect<boolean>>()
    yield* Effect.addFinalizer(() => Effect.forEach([...waiting], (stop) => stop, { discard: true }))
    const funding = yield* makeFundingState(chain)
    return {
      config,
      store,
      verifier,
      chain,
      funding,
      inbox,
      permits,
      toWriter,
      acceptedHub,
      banHub,
      prematureUpdates: new PrematureUpdates(
        config.prematureUpdates,
        config.prematureUpdatesPerChannel,
        config.prematureTtlMillis
      ),
      prematureNodes: new PrematureNodes(config.prematureNodes, config.prematureTtlMillis),
      inFlight: new InFlight(),
      misbehaviour: new Misbehaviour({
        threshold: config.banThreshold,
        banDurationMillis: config.banDurationMillis,
        scoreResetMillis: config.scoreResetMillis,
        maxTrackedPeers: config.maxTrackedPeers
      }),
      hexOf: makeHexOf(),
      waiting,
      cells: { nextSeq: 1, writtenSeq: 0, settlingKeys: undefined, unreported: undefined, storeFailing: undefined }
    }
  })
