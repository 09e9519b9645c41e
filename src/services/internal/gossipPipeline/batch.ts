/**
 * The records one batch is validated over, from `precheck.ts` to `settle.ts`: candidates (a message that passed
 * the stateless rules), the per-key groups settling works on, what the pre-check hands over (`Prepared`), and the
 * per-batch settling state (`Settling`). Also the helpers several settle steps share.
 */
import type { Fiber } from "effect"
import { sameBytes } from "../../../domain/Bytes.js"
import type {
  ChannelAnnouncement,
  ChannelUpdate,
  GossipMessage,
  NodeAnnouncement,
  PublicKey
} from "../../../domain/Messages.js"
import type { ShortChannelId } from "../../../domain/ShortChannelId.js"
import { signedHash } from "../../../domain/Signatures.js"
import type { Verdict } from "../../GossipPipeline.js"
import type { ChannelState, NodeState } from "../../GraphStore.js"
import type { PipelineContext } from "./context.js"
import type { Recorder } from "./verdicts.js"
import { DUPLICATE } from "./verdicts.js"

export interface Cand<M extends GossipMessage> {
  readonly msg: M
  readonly peer: string
  /** Index of its verdict, or -1 for a message taken back out of a premature cache (its verdict was given). */
  readonly slot: number
  hash: Uint8Array | undefined
  /** Index of its signature(s) in the batch's early check (see `precheck.ts`), or -1. */
  pre: number
  /** For a channel_update checked early: the key it was checked against. */
  preKey: PublicKey | undefined
}

/** A candidate (always built here, so every candidate has the same shape). */
export const cand = <M extends GossipMessage>(
  msg: M,
  peer: string,
  slot: number,
  hash: Uint8Array | undefined
): Cand<M> => ({
  msg,
  peer,
  slot,
  hash,
  pre: -1,
  preKey: undefined
})

/** BOLT 7 signed-data hash of the candidate, computed at most once. */
export const hashOf = <M extends GossipMessage>(
  c: Cand<M>
): Uint8Array => (c.hash ??= signedHash(c.msg._tag, c.msg.raw))

/**
 * Index of the pending candidate to check next: the newest (highest timestamp); on equal timestamps the one received
 * first. A candidate taken back out of a premature cache (slot -1) was received before this batch's own, which are
 * pending in arrival order, so it goes first, as lnd applies premature updates when their announcement is processed,
 * before what came after it. Otherwise the verdicts would depend on how gossip was cut into batches: a forged copy
 * held as premature, then a valid copy in the announcement's batch, would be a Duplicate (never checked, no offence)
 * in one batch and an invalid signature (an offence, SM-33) in batches of one. Twins (the same bytes) get the same
 * verdict either way: the batch's own stays first, as the early check may have checked it already.
 */
export const newestIndex = <M extends ChannelUpdate | NodeAnnouncement>(pending: ReadonlyArray<Cand<M>>): number => {
  let best = 0
  for (let i = 1; i < pending.length; i++) {
    const c = pending[i]
    const b = pending[best]
    if (
      c.msg.timestamp > b.msg.timestamp ||
      (c.msg.timestamp === b.msg.timestamp && c.slot < 0 && b.slot >= 0 && !sameBytes(c.msg.raw, b.msg.raw))
    ) best = i
  }
  return best
}

/** Announcements of one channel: the first valid one wins. */
export interface AnnGroup {
  readonly scid: ShortChannelId
  pending: Array<Cand<ChannelAnnouncement>>
  accepted: ChannelAnnouncement | undefined
  zombie: boolean
}

/** Updates of one channel direction newer than `baseline` (store ∪ overlay, then the last accepted). */
export interface UpdGroup {
  readonly scid: ShortChannelId
  readonly direction: 0 | 1
  baseline: number
  pending: Array<Cand<ChannelUpdate>>
}

/** Announcements of one node newer than `baseline`. */
export interface NodeGroup {
  readonly hex: string
  readonly nodeId: PublicKey
  readonly storeHasChannel: boolean
  baseline: number
  pending: Array<Cand<NodeAnnouncement>>
}

/** What the pre-check (`precheck.ts`) hands to settling: candidates by kind, the store reads, the early check. */
export interface Prepared {
  readonly now: number
  /** Every batch up to this one was written before the store reads began. */
  readonly snapshotSeq: number
  readonly recorder: Recorder
  readonly anns: ReadonlyArray<Cand<ChannelAnnouncement>>
  readonly upds: ReadonlyArray<Cand<ChannelUpdate>>
  readonly nodeAnns: ReadonlyArray<Cand<NodeAnnouncement>>
  readonly held: ReadonlyMap<ShortChannelId, ChannelState>
  readonly zombies: ReadonlySet<ShortChannelId>
  /** Node states read so far, by hex (settling may add the ones it finds missing). */
  readonly heldNodes: Map<string, NodeState>
  /** Hex of every node whose state is in `heldNodes` or was looked up and not found. */
  readonly nodeKeys: Set<string>
  /** The early check's results, one byte per packed signature (see `Cand.pre`); undefined if nothing was sent. */
  readonly early: Fiber.RuntimeFiber<Uint8Array> | undefined
}

/** One batch while it is being settled (`settle.ts` builds it; the grouping and round steps fill it). */
export interface Settling {
  readonly ctx: PipelineContext
  readonly prepared: Prepared
  readonly now: number
  readonly give: Recorder["give"]
  readonly annGroups: Map<ShortChannelId, AnnGroup>
  readonly updGroups: Map<bigint, UpdGroup>
  readonly nodeGroups: Map<string, NodeGroup>
  /** For each node, the announcement groups of this batch that would give it a channel. */
  readonly nodeAnnRefs: Map<string, Array<AnnGroup>>
  /** Channels accepted in this batch, and their nodes (by hex). */
  readonly acceptedHere: Map<ShortChannelId, ChannelAnnouncement>
  readonly acceptedNodes: Set<string>
  readonly acceptedAnns: Array<Cand<ChannelAnnouncement>>
  /** Funding output values the ChainSource reported for channels accepted here (stored as their capacity). */
  readonly capacities: Map<ShortChannelId, bigint>
  /** Funding transaction ids of those channels (how the spent-output watcher finds their spends). */
  readonly fundingTxids: Map<ShortChannelId, string>
  readonly acceptedUpdates: Array<Cand<ChannelUpdate>>
  readonly acceptedNodeAnns: Array<Cand<NodeAnnouncement>>
}

/** Endpoints of a channel we hold or have accepted (this batch or an unwritten one). */
export const knownChannel = (
  s: Settling,
  scid: ShortChannelId
): { readonly nodeId1: PublicKey; readonly nodeId2: PublicKey } | undefined =>
  s.prepared.held.get(scid) ?? s.ctx.inFlight.channels.get(scid) ?? s.acceptedHere.get(scid)

/**
 * Gives `v` to `pending[index]` and to every pending twin (the same bytes carry the same bad signature: same
 * verdict, no second check); returns the rest.
 */
export const rejectWithTwins = <M extends GossipMessage>(
  s: Settling,
  pending: Array<Cand<M>>,
  index: number,
  v: Verdict,
  countsAsOffence = true
): Array<Cand<M>> => {
  const raw = pending[index].msg.raw
  const rest: Array<Cand<M>> = []
  for (let i = 0; i < pending.length; i++) {
    if (i === index || sameBytes(pending[i].msg.raw, raw)) s.give(pending[i].peer, pending[i].slot, v, countsAsOffence)
    else rest.push(pending[i])
  }
  return rest
}

/** Every pending candidate but `index` is not newer than the one just accepted: a Duplicate. */
export const othersDuplicate = <M extends GossipMessage>(
  s: Settling,
  pending: ReadonlyArray<Cand<M>>,
  index: number
): void => {
  for (let i = 0; i < pending.length; i++) if (i !== index) s.give(pending[i].peer, pending[i].slot, DUPLICATE)
}

/** Where a candidate's signature(s) went: index `at` in this round's packed batch, or in the early check's. */
export interface SigTask {
  readonly at: number
  readonly early: boolean
}

/** Whether signature `k` of a task verified (k = 0..3 for the four of a channel_announcement). */
export type Verified = (t: SigTask, k?: number) => boolean
