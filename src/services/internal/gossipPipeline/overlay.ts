/**
 * The overlay between validation and the store. What a batch accepted is remembered (`InFlight`, tagged with the
 * batch's sequence number) until the writer has written it, so a message accepted a moment ago is already a
 * Duplicate and an update may follow its announcement across batches; entries of batches the store reads already
 * saw are forgotten. While a batch settles, its keys are published as `settlingKeys` so the next batch's early
 * check leaves them alone.
 */
import type { ShortChannelId } from "../../../domain/ShortChannelId.js"
import type { Prepared, Settling } from "./batch.js"
import type { PipelineContext } from "./context.js"
import { directionKey } from "./state.js"

/** Publishes the keys this batch may touch (cleared by the validator once the batch is settled or failed). */
export const markSettling = (ctx: PipelineContext, prepared: Prepared): void => {
  const scids = new Set<ShortChannelId>()
  const nodes = new Set<string>()
  for (const c of prepared.anns) {
    scids.add(c.msg.shortChannelId)
    nodes.add(ctx.hexOf(c.msg.nodeId1))
    nodes.add(ctx.hexOf(c.msg.nodeId2))
  }
  for (const c of prepared.upds) scids.add(c.msg.shortChannelId)
  for (const c of prepared.nodeAnns) nodes.add(ctx.hexOf(c.msg.nodeId))
  ctx.cells.settlingKeys = { scids, nodes }
}

/** Batches up to the snapshot are in the batch's store reads: the overlay no longer needs them. */
export const forgetSeen = (ctx: PipelineContext, prepared: Prepared): void => ctx.inFlight.release(prepared.snapshotSeq)

/** Remembers what batch `seq` accepted until the writer has written it. */
export const remember = (s: Settling, seq: number): void => {
  const { inFlight, hexOf } = s.ctx
  for (const c of s.acceptedAnns) {
    const m = c.msg
    inFlight.addChannel(m.shortChannelId, m.nodeId1, m.nodeId2, hexOf(m.nodeId1), hexOf(m.nodeId2), seq)
  }
  for (const c of s.acceptedUpdates) {
    inFlight.addUpdate(directionKey(c.msg.shortChannelId, c.msg.channelFlags & 1), c.msg.timestamp, seq)
  }
  for (const c of s.acceptedNodeAnns) inFlight.addNode(hexOf(c.msg.nodeId), c.msg.timestamp, seq)
}
