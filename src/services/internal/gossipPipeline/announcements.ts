/**
 * Settling channel_announcements: grouped per short channel id (anything we hold or have accepted is a Duplicate,
 * with no signature work: CLN#7972), a zombie's announcement dropped unless a fresh update comes with it, then per
 * round the first pending announcement of each channel checked — its four signatures (BOLT 7), then its funding
 * output — and the first valid one wins.
 */
import type { AnnGroup, Settling, SigTask, Verified } from "./batch.js"
import { hashOf, knownChannel, othersDuplicate, rejectWithTwins } from "./batch.js"
import type { FundingLookup } from "./funding.js"
import { hasResult, keyOf, unpark } from "./funding.js"
import type { SigPacker } from "./signatures.js"
import type { UpdTask } from "./updates.js"
import { directionKey } from "./state.js"
import { ACCEPTED, DUPLICATE, invalid, PREMATURE, TOO_OLD } from "./verdicts.js"

export interface AnnTask extends SigTask {
  readonly g: AnnGroup
}

/** Groups the batch's announcements per channel; those of a channel we already know are Duplicates. */
export const groupAnnouncements = (s: Settling): void => {
  for (const c of s.prepared.anns) {
    const scid = c.msg.shortChannelId
    if (knownChannel(s, scid) !== undefined) {
      // a funding result for bytes we no longer need (another copy won): forget it
      if (s.ctx.funding !== undefined && s.ctx.funding.resolved.size > 0) s.ctx.funding.resolved.delete(keyOf(c.msg))
      unpark(s.ctx.funding, scid, { updates: s.ctx.prematureUpdates, nodes: s.ctx.prematureNodes }, s.now)
      s.give(c.peer, c.slot, DUPLICATE)
      continue
    }
    let g = s.annGroups.get(scid)
    if (g === undefined) {
      g = { scid, pending: [], accepted: undefined, zombie: s.prepared.zombies.has(scid) }
      s.annGroups.set(scid, g)
    }
    g.pending.push(c)
  }
}

/** A zombie (pruned) channel comes back only with a fresh update; its announcement alone is stale. */
export const dropLoneZombies = (s: Settling): void => {
  for (const g of s.annGroups.values()) {
    if (!g.zombie) continue
    const fresh = (s.updGroups.get(directionKey(g.scid, 0))?.pending.length ?? 0) +
        (s.updGroups.get(directionKey(g.scid, 1))?.pending.length ?? 0) > 0
    if (fresh) continue
    for (const c of g.pending) s.give(c.peer, c.slot, TOO_OLD)
    g.pending = []
  }
}

/**
 * This round's announcement checks: the first pending announcement of each unsettled channel (already on the
 * workers if the early check took it). `inRound` collects their groups, for the speculative update and node checks.
 */
export const planAnnouncements = (s: Settling, sigs: SigPacker, inRound: Set<AnnGroup>): Array<AnnTask> => {
  const tasks: Array<AnnTask> = []
  for (const g of s.annGroups.values()) {
    if (g.accepted !== undefined || g.pending.length === 0) continue
    const c = g.pending[0]
    inRound.add(g)
    if (c.pre >= 0) {
      tasks.push({ g, at: c.pre, early: true })
      continue
    }
    if (hasResult(s.ctx.funding, c.msg)) {
      // back from the funding check: these exact bytes' signatures were verified before they were parked
      tasks.push({ g, at: -1, early: false })
      continue
    }
    const hash = hashOf(c)
    tasks.push({ g, at: sigs.count, early: false })
    // BOLT 7: all four signatures over the same hash
    sigs.putAnnouncement(hash, c.msg.raw)
  }
  return tasks
}

/** The announcements whose four signatures hold: only these are worth a funding-output check. */
export const signedAnnouncements = (tasks: ReadonlyArray<AnnTask>, ok: Verified): Array<AnnTask> =>
  tasks.filter((t) => ok(t) && ok(t, 1) && ok(t, 2) && ok(t, 3))

/**
 * Verdicts of this round's announcement checks. `fundingOf`: the ChainSource's answer per signed group, undefined
 * when our chain backend failed (then the announcement is rejected without blame), "parked" while the asynchronous
 * check runs (Premature, no blame: it comes back with its result). `updTasks`: this round's update checks, for
 * lnd's resurrection rule.
 */
export const applyAnnouncements = (
  s: Settling,
  tasks: ReadonlyArray<AnnTask>,
  ok: Verified,
  fundingOf: ReadonlyMap<AnnGroup, FundingLookup | undefined>,
  updTasks: ReadonlyArray<UpdTask>
): void => {
  for (const t of tasks) {
    const g = t.g
    if (!(ok(t) && ok(t, 1))) {
      g.pending = rejectWithTwins(s, g.pending, 0, invalid("BadNodeSignature"))
      continue
    }
    if (!(ok(t, 2) && ok(t, 3))) {
      g.pending = rejectWithTwins(s, g.pending, 0, invalid("BadBitcoinSignature"))
      continue
    }
    const f = fundingOf.get(g)
    if (f === "parked") {
      g.pending = rejectWithTwins(s, g.pending, 0, PREMATURE, false)
      continue
    }
    if (f === undefined) {
      // our chain backend failed: not the peer's fault
      g.pending = rejectWithTwins(s, g.pending, 0, invalid("FundingOutputInvalid"), false)
      continue
    }
    if (f._tag === "Invalid") {
      // BOLT 7: funding output not a matching unspent P2WSH: "MUST ignore the message". A spent output is no
      // offence: a peer may not have seen the close yet.
      g.pending = rejectWithTwins(s, g.pending, 0, invalid("FundingOutputInvalid"), f.spent !== true)
      continue
    }
    if (g.zombie && !updTasks.some((u) => u.spec === g && ok(u))) {
      // lnd's resurrection rule: a pruned channel returns only with a fresh update whose signature verifies
      // against the announcement's node key for its direction; a bad or missing one leaves it a zombie
      g.pending = rejectWithTwins(s, g.pending, 0, TOO_OLD, false)
      continue
    }
    const c = g.pending[0]
    if (f._tag === "Valid") {
      s.capacities.set(g.scid, f.capacitySat)
      if (f.fundingTxid !== undefined) s.fundingTxids.set(g.scid, f.fundingTxid)
    }
    g.accepted = c.msg
    s.give(c.peer, c.slot, ACCEPTED)
    s.acceptedAnns.push(c)
    s.acceptedHere.set(g.scid, c.msg)
    s.acceptedNodes.add(s.ctx.hexOf(c.msg.nodeId1))
    s.acceptedNodes.add(s.ctx.hexOf(c.msg.nodeId2))
    // other announcements of the same channel: the first valid one wins
    othersDuplicate(s, g.pending, 0)
    g.pending = []
  }
}
