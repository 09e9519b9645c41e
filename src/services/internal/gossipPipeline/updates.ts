/**
 * Settling channel_updates: grouped per channel direction against the newest timestamp in store ∪ overlay (not newer
 * is a Duplicate, no signature work: BOLT 7, CLN#7972), joined by the updates held for channels this batch
 * announces; per round the newest pending update of each direction is checked against node_id_1 or node_id_2 —
 * speculatively when its channel is only being announced in this round. Updates for channels we do not know wait
 * in the bounded premature cache.
 */
import type { ChannelUpdate } from "../../../domain/Messages.js"
import type { AnnGroup, Cand, Settling, SigTask, UpdGroup, Verified } from "./batch.js"
import { cand, hashOf, knownChannel, newestIndex, othersDuplicate, rejectWithTwins } from "./batch.js"
import { sameBytes } from "../../../domain/Bytes.js"
import type { SigPacker } from "./signatures.js"
import { SINGLE_SIG_AT } from "./signatures.js"
import { holdUpdate, takeHeldUpdates } from "./funding.js"
import { directionKey } from "./state.js"
import { ACCEPTED, DUPLICATE, invalid, PREMATURE } from "./verdicts.js"

export interface UpdTask extends SigTask {
  readonly g: UpdGroup
  /** Index of the checked candidate in `g.pending`. */
  readonly index: number
  /** The announcement group it depends on, when its channel is only being announced in this round. */
  readonly spec: AnnGroup | undefined
}

const addUpdate = (s: Settling, c: Cand<ChannelUpdate>): void => {
  const scid = c.msg.shortChannelId
  const direction = (c.msg.channelFlags & 1) as 0 | 1
  const key = directionKey(scid, direction)
  let g = s.updGroups.get(key)
  if (g === undefined) {
    const h = s.prepared.held.get(scid)
    // a spent channel is no longer relayed: its updates are not stored or forwarded (kept only for splices)
    if (h?.spent === true) {
      s.give(c.peer, c.slot, DUPLICATE)
      return
    }
    const stored = h === undefined ? 0 : direction === 0 ? h.timestamp1 : h.timestamp2
    g = { scid, direction, baseline: Math.max(stored, s.ctx.inFlight.updates.get(key)?.timestamp ?? 0), pending: [] }
    s.updGroups.set(key, g)
  }
  // BOLT 7: "if timestamp is lower than [or equal to] that of the last-received channel_update ...: ignore"
  if (c.msg.timestamp <= g.baseline) s.give(c.peer, c.slot, DUPLICATE)
  else g.pending.push(c)
}

/** Groups the batch's updates, then those held for channels announced in this batch (as lnd applies them). */
export const groupUpdates = (s: Settling): void => {
  for (const c of s.prepared.upds) addUpdate(s, c)
  for (const scid of s.annGroups.keys()) {
    for (const h of s.ctx.prematureUpdates.take(scid, s.now)) addUpdate(s, cand(h.msg, h.peer, -1, undefined))
    for (const h of takeHeldUpdates(s.ctx.funding, scid)) addUpdate(s, cand(h.msg, h.peer, -1, undefined))
  }
}

/** BOLT 7: an update for a channel we have not seen yet waits (bounded) for its announcement. */
const holdUpdates = (s: Settling, g: UpdGroup): void => {
  for (const c of g.pending) {
    if (c.slot >= 0) s.give(c.peer, c.slot, PREMATURE)
    // its channel is waiting on the funding check: held with it (never lost to the premature cache's bound)
    if (!holdUpdate(s.ctx.funding, c.msg, c.peer, s.now)) s.ctx.prematureUpdates.add(c.msg, c.peer, s.now)
  }
  g.pending = []
}

/** This round's update checks (the early check's result is reused if it used the same signer key). */
export const planUpdates = (s: Settling, sigs: SigPacker, inRound: ReadonlySet<AnnGroup>): Array<UpdTask> => {
  const tasks: Array<UpdTask> = []
  for (const g of s.updGroups.values()) {
    if (g.pending.length === 0) continue
    let endpoints = knownChannel(s, g.scid)
    let spec: AnnGroup | undefined
    if (endpoints === undefined) {
      const ag = s.annGroups.get(g.scid)
      if (ag !== undefined && inRound.has(ag)) {
        spec = ag
        endpoints = ag.pending[0].msg
      }
    }
    if (endpoints === undefined) {
      holdUpdates(s, g)
      continue
    }
    const index = newestIndex(g.pending)
    const c = g.pending[index]
    // BOLT 7: signed by node_id_1 when the direction bit is 0, node_id_2 when 1
    const signer = g.direction === 0 ? endpoints.nodeId1 : endpoints.nodeId2
    if (c.pre >= 0 && c.preKey !== undefined && sameBytes(c.preKey, signer)) {
      tasks.push({ g, index, at: c.pre, early: true, spec })
      continue
    }
    tasks.push({ g, index, at: sigs.count, early: false, spec })
    sigs.put(hashOf(c), c.msg.raw, SINGLE_SIG_AT, signer, 0)
  }
  return tasks
}

/** Verdicts of this round's update checks; a speculative one whose announcement failed is retried next round. */
export const applyUpdates = (s: Settling, tasks: ReadonlyArray<UpdTask>, ok: Verified): void => {
  for (const t of tasks) {
    if (t.spec !== undefined && t.spec.accepted === undefined) continue // its announcement failed: retry
    const g = t.g
    const c = g.pending[t.index]
    if (!ok(t)) {
      g.pending = rejectWithTwins(s, g.pending, t.index, invalid("BadSignature"))
      continue
    }
    s.give(c.peer, c.slot, ACCEPTED)
    s.acceptedUpdates.push(c)
    g.baseline = c.msg.timestamp
    // the rest are not newer than the one just accepted
    othersDuplicate(s, g.pending, t.index)
    g.pending = []
  }
}
