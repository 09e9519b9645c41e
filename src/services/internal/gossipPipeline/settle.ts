/**
 * Settling one prepared batch, strictly in batch order: group its candidates against store ∪ overlay (anything not
 * newer than what we hold is a Duplicate, with no signature work: CLN#7972), run the signature rounds, remember
 * what was accepted in the overlay, account for offences (SM-33) and metrics, and hand back the batch to write.
 * Within a batch one candidate per key is checked at a time — the first announcement, the newest update or node
 * announcement; the rest resolve from its verdict.
 */
import { Effect } from "effect"
import type { PublicKey } from "../../../domain/Messages.js"
import type { AcceptedGossip, Verdict } from "../../GossipPipeline.js"
import type { GraphBatch, GraphStoreError } from "../../GraphStore.js"
import { dropLoneZombies, groupAnnouncements } from "./announcements.js"
import type { Prepared, Settling } from "./batch.js"
import type { PipelineContext } from "./context.js"
import { groupNodes } from "./nodeAnnouncements.js"
import { forgetSeen, markSettling, remember } from "./overlay.js"
import { runRounds } from "./rounds.js"
import { groupUpdates } from "./updates.js"
import { account } from "./verdicts.js"

export interface Settled {
  readonly verdicts: Array<Verdict>
  readonly batch: GraphBatch
  readonly accepted: Array<AcceptedGossip>
}

/** Node announcements held since the store reads began (by the batch before) need their node's state too. */
const readMissingNodes = (ctx: PipelineContext, prepared: Prepared): Effect.Effect<void, GraphStoreError> => {
  const missing: Array<PublicKey> = []
  for (const c of prepared.anns) {
    for (const id of [c.msg.nodeId1, c.msg.nodeId2]) {
      const hex = ctx.hexOf(id)
      if (!prepared.nodeKeys.has(hex) && ctx.prematureNodes.has(hex)) {
        prepared.nodeKeys.add(hex)
        missing.push(id)
      }
    }
  }
  if (missing.length === 0) return Effect.void
  return Effect.map(ctx.store.nodes(missing), (found) => {
    for (const [k, v] of found) prepared.heldNodes.set(k, v)
  })
}

/** What the writer applies and publishes; the store applies announcements, then updates, then node announcements. */
const outcome = (s: Settling): Settled => {
  const accepted: Array<AcceptedGossip> = []
  for (const c of s.acceptedAnns) accepted.push({ message: c.msg, fromPeer: c.peer })
  for (const c of s.acceptedUpdates) accepted.push({ message: c.msg, fromPeer: c.peer })
  for (const c of s.acceptedNodeAnns) accepted.push({ message: c.msg, fromPeer: c.peer })
  return {
    verdicts: s.prepared.recorder.verdicts,
    accepted,
    batch: {
      channels: s.acceptedAnns.map((c) => c.msg),
      updates: s.acceptedUpdates.map((c) => c.msg),
      nodes: s.acceptedNodeAnns.map((c) => c.msg),
      ...(s.capacities.size > 0 ? { capacities: s.capacities } : {}),
      ...(s.fundingTxids.size > 0 ? { fundingTxids: s.fundingTxids } : {})
    }
  }
}

/**
 * Settles batch `seq`. `dispatched` is run once, just before the first signatures go to the verifier (so the caller
 * may overlap other work), and right away if the batch's early check is already on the workers.
 */
export const settle = (
  ctx: PipelineContext,
  prepared: Prepared,
  seq: number,
  dispatched: Effect.Effect<unknown>
): Effect.Effect<Settled, GraphStoreError> =>
  Effect.gen(function* () {
    markSettling(ctx, prepared)
    if (prepared.early !== undefined) yield* dispatched
    forgetSeen(ctx, prepared)
    yield* readMissingNodes(ctx, prepared)

    const s: Settling = {
      ctx,
      prepared,
      now: prepared.now,
      give: prepared.recorder.give,
      annGroups: new Map(),
      updGroups: new Map(),
      nodeGroups: new Map(),
      nodeAnnRefs: new Map(),
      acceptedHere: new Map(),
      acceptedNodes: new Set(),
      acceptedAnns: [],
      capacities: new Map(),
      fundingTxids: new Map(),
      acceptedUpdates: [],
      acceptedNodeAnns: []
    }
    groupAnnouncements(s)
    groupUpdates(s)
    dropLoneZombies(s)
    groupNodes(s)

    yield* runRounds(s, dispatched)

    remember(s, seq)
    yield* account(ctx, prepared.recorder, prepared.now)
    return outcome(s)
  })
