/**
 * Settling node_announcements: grouped per node against the newest timestamp in store ∪ overlay (not newer is a
 * Duplicate: BOLT 7), joined by the announcements held for nodes a channel of this batch names; per round the newest
 * pending announcement of each node is checked — speculatively when the node's only channel is being announced in
 * this round. A node without a known channel is held briefly in the bounded premature cache (BOLT 7 "SHOULD
 * ignore").
 */
import { holdNode, takeHeldNode } from "./funding.js"
import { sameBytes } from "../../../domain/Bytes.js"
import type { NodeAnnouncement } from "../../../domain/Messages.js"
import type { AnnGroup, Cand, NodeGroup, Settling, SigTask, Verified } from "./batch.js"
import { cand, hashOf, newestIndex, othersDuplicate, rejectWithTwins } from "./batch.js"
import type { SigPacker } from "./signatures.js"
import { SINGLE_SIG_AT } from "./signatures.js"
import { ACCEPTED, DUPLICATE, invalid, PREMATURE } from "./verdicts.js"

export interface NodeTask extends SigTask {
  readonly g: NodeGroup
  /** Index of the checked candidate in `g.pending`. */
  readonly index: number
  /** The announcement groups that would give the node a channel, when it has none yet. */
  readonly spec: ReadonlyArray<AnnGroup> | undefined
}

const addNode = (s: Settling, c: Cand<NodeAnnouncement>, hex: string): void => {
  let g = s.nodeGroups.get(hex)
  if (g === undefined) {
    const h = s.prepared.heldNodes.get(hex)
    g = {
      hex,
      nodeId: c.msg.nodeId,
      storeHasChannel: h?.hasChannel ?? false,
      baseline: Math.max(h?.timestamp ?? 0, s.ctx.inFlight.nodes.get(hex)?.timestamp ?? 0),
      pending: []
    }
    s.nodeGroups.set(hex, g)
  }
  // BOLT 7: "if timestamp is NOT greater than the last-received node_announcement ...: SHOULD ignore"
  if (c.msg.timestamp <= g.baseline) s.give(c.peer, c.slot, DUPLICATE)
  else g.pending.push(c)
}

/**
 * Groups the batch's node announcements, then records which announcement groups name each node (`nodeAnnRefs`)
 * and brings back the announcements held for those nodes.
 */
export const groupNodes = (s: Settling): void => {
  const hexOf = s.ctx.hexOf
  for (const c of s.prepared.nodeAnns) addNode(s, c, hexOf(c.msg.nodeId))
  for (const g of s.annGroups.values()) {
    if (g.pending.length === 0) continue
    const seen = new Set<string>()
    for (const c of g.pending) {
      for (const id of [c.msg.nodeId1, c.msg.nodeId2]) {
        const hex = hexOf(id)
        if (seen.has(hex)) continue
        seen.add(hex)
        const refs = s.nodeAnnRefs.get(hex)
        if (refs === undefined) s.nodeAnnRefs.set(hex, [g])
        else refs.push(g)
        const heldAnn = s.ctx.prematureNodes.take(hex, s.now)
        if (heldAnn !== undefined) addNode(s, cand(heldAnn.msg, heldAnn.peer, -1, undefined), hex)
        const parkedAnn = takeHeldNode(s.ctx.funding, hex)
        if (parkedAnn !== undefined) addNode(s, cand(parkedAnn.msg, parkedAnn.peer, -1, undefined), hex)
      }
    }
  }
}

const holdNodes = (s: Settling, g: NodeGroup): void => {
  for (const c of g.pending) {
    if (c.slot >= 0) s.give(c.peer, c.slot, PREMATURE)
    if (!holdNode(s.ctx.funding, g.hex, c.msg, c.peer, s.now)) s.ctx.prematureNodes.add(g.hex, c.msg, c.peer, s.now)
  }
  g.pending = []
}

/** This round's node announcement checks. */
export const planNodes = (s: Settling, sigs: SigPacker, inRound: ReadonlySet<AnnGroup>): Array<NodeTask> => {
  const tasks: Array<NodeTask> = []
  for (const g of s.nodeGroups.values()) {
    if (g.pending.length === 0) continue
    const definite = g.storeHasChannel || s.ctx.inFlight.nodesWithChannel.has(g.hex) || s.acceptedNodes.has(g.hex)
    let spec: ReadonlyArray<AnnGroup> | undefined
    if (!definite) {
      const mentioning = (s.nodeAnnRefs.get(g.hex) ?? []).filter((ag) => {
        if (!inRound.has(ag)) return false
        const m = ag.pending[0].msg
        return sameBytes(m.nodeId1, g.nodeId) || sameBytes(m.nodeId2, g.nodeId)
      })
      if (mentioning.length === 0) {
        // BOLT 7: "if node_id is NOT previously known from a channel_announcement: SHOULD ignore" — held briefly
        holdNodes(s, g)
        continue
      }
      spec = mentioning
    }
    const index = newestIndex(g.pending)
    const c = g.pending[index]
    if (c.pre >= 0) {
      tasks.push({ g, index, at: c.pre, early: true, spec })
      continue
    }
    tasks.push({ g, index, at: sigs.count, early: false, spec })
    sigs.put(hashOf(c), c.msg.raw, SINGLE_SIG_AT, c.msg.nodeId, 0)
  }
  return tasks
}

/** Verdicts of this round's node checks; a speculative one none of whose announcements passed is retried. */
export const applyNodes = (s: Settling, tasks: ReadonlyArray<NodeTask>, ok: Verified): void => {
  for (const t of tasks) {
    if (t.spec !== undefined && !t.spec.some((ag) => ag.accepted !== undefined)) continue
    const g = t.g
    const c = g.pending[t.index]
    if (!ok(t)) {
      g.pending = rejectWithTwins(s, g.pending, t.index, invalid("BadNodeSignature"))
      continue
    }
    s.give(c.peer, c.slot, ACCEPTED)
    s.acceptedNodeAnns.push(c)
    g.baseline = c.msg.timestamp
    othersDuplicate(s, g.pending, t.index)
    g.pending = []
  }
}
