/**
 * The part of a batch's validation that depends on no earlier batch's outcome, so it runs while the previous batch's
 * signatures are being checked: the stateless BOLT 7 rules (cheapest first, before any I/O), the signed-data hashes,
 * the store reads for the batch's keys, and an early dispatch of the signatures that cannot depend on the batch
 * being settled right now — so the workers never wait between batches, and duplicates still cost no signature work.
 */
import { Clock, Effect } from "effect"
import type { Fiber } from "effect"
import type { ChannelAnnouncement, ChannelUpdate, NodeAnnouncement, PublicKey } from "../../../domain/Messages.js"
import type { ShortChannelId } from "../../../domain/ShortChannelId.js"
import { SignedHasher } from "../../../domain/Signatures.js"
import type { ChannelState, GraphStoreError, NodeState } from "../../GraphStore.js"
import type { Cand, Prepared } from "./batch.js"
import { cand, hashOf } from "./batch.js"
import type { PipelineContext } from "./context.js"
import type { Batch } from "./intake.js"
import type { RuleContext } from "./rules.js"
import { statelessVerdict } from "./rules.js"
import { SigPacker, SINGLE_SIG_AT } from "./signatures.js"
import { directionKey } from "./state.js"
import type { Recorder } from "./verdicts.js"
import { makeRecorder } from "./verdicts.js"

interface ByKind {
  readonly anns: Array<Cand<ChannelAnnouncement>>
  readonly upds: Array<Cand<ChannelUpdate>>
  readonly nodeAnns: Array<Cand<NodeAnnouncement>>
}

/**
 * 1. Rules that need nothing but the message (BOLT 7 receive requirements); the survivors, hashed, by kind. Reads
 * the batch's jobs in place: a message's slot is its index in the batch (no per-message record).
 */
const applyStatelessRules = (batch: Batch, ctx: RuleContext, recorder: Recorder): ByKind => {
  const anns: Array<Cand<ChannelAnnouncement>> = []
  const upds: Array<Cand<ChannelUpdate>> = []
  const nodeAnns: Array<Cand<NodeAnnouncement>> = []
  // one slab for the batch's hashes (see SignedHasher)
  const hasher = new SignedHasher(batch.count)
  let i = 0
  for (const j of batch.jobs) {
    if (j._tag !== "Messages") continue
    const { messages, peer } = j
    for (let k = 0; k < messages.length; k++, i++) {
      const msg = messages[k]
      const v = statelessVerdict(msg, ctx)
      if (v !== undefined) {
        recorder.give(peer, i, v)
        continue
      }
      switch (msg._tag) {
        case "ChannelAnnouncement":
          anns.push(cand(msg, peer, i, hasher.hash(msg._tag, msg.raw)))
          break
        case "ChannelUpdate":
          upds.push(cand(msg, peer, i, hasher.hash(msg._tag, msg.raw)))
          break
        case "NodeAnnouncement":
          nodeAnns.push(cand(msg, peer, i, hasher.hash(msg._tag, msg.raw)))
          break
      }
    }
  }
  return { anns, upds, nodeAnns }
}

interface StoreView {
  readonly held: ReadonlyMap<ShortChannelId, ChannelState>
  readonly zombies: ReadonlySet<ShortChannelId>
  readonly heldNodes: ReadonlyMap<string, NodeState>
  readonly nodeKeys: ReadonlyMap<string, PublicKey>
}

/** 2. What the store holds for these keys (plus the nodes whose held announcements a new channel may free). */
const readStore = (
  ctx: PipelineContext,
  { anns, upds, nodeAnns }: ByKind
): Effect.Effect<StoreView, GraphStoreError> => {
  const scidSet = new Set<ShortChannelId>()
  for (const c of anns) scidSet.add(c.msg.shortChannelId)
  for (const c of upds) scidSet.add(c.msg.shortChannelId)
  const annScids = [...new Set(anns.map((c) => c.msg.shortChannelId))]
  const nodeKeys = new Map<string, PublicKey>()
  for (const c of nodeAnns) nodeKeys.set(ctx.hexOf(c.msg.nodeId), c.msg.nodeId)
  for (const c of anns) {
    for (const id of [c.msg.nodeId1, c.msg.nodeId2]) {
      const hex = ctx.hexOf(id)
      if (ctx.prematureNodes.has(hex)) nodeKeys.set(hex, id)
    }
  }
  return Effect.map(
    Effect.all([
      scidSet.size === 0 ? Effect.succeed(new Map<ShortChannelId, ChannelState>()) : ctx.store.channels([...scidSet]),
      annScids.length === 0 ? Effect.succeed(new Set<ShortChannelId>()) : ctx.store.zombies(annScids),
      nodeKeys.size === 0 ? Effect.succeed(new Map<string, NodeState>()) : ctx.store.nodes([...nodeKeys.values()])
    ]),
    ([held, zombies, heldNodes]) => ({ held, zombies, heldNodes, nodeKeys })
  )
}

/**
 * 3. Early check: only the candidate `settle` will check (the first announcement per channel, the newest update per
 * direction and announcement per node), only if nothing held makes it a duplicate, and nothing the settling batch
 * touches. Marks each sent candidate's `pre` (and an update's `preKey`); returns the packed signatures.
 */
const packEarly = (ctx: PipelineContext, { anns, upds, nodeAnns }: ByKind, view: StoreView): SigPacker => {
  const { held, zombies, heldNodes } = view
  const busy = ctx.cells.settlingKeys
  const inFlight = ctx.inFlight
  const pre = new SigPacker(4 * anns.length + upds.length + nodeAnns.length)
  const firstAnn = new Map<ShortChannelId, Cand<ChannelAnnouncement>>()
  const preNodes = new Set<string>()
  for (const c of anns) {
    const scid = c.msg.shortChannelId
    if (firstAnn.has(scid)) continue
    firstAnn.set(scid, c)
    if (held.has(scid) || zombies.has(scid) || inFlight.channels.has(scid) || busy?.scids.has(scid) === true) continue
    const hash = hashOf(c)
    c.pre = pre.count
    pre.putAnnouncement(hash, c.msg.raw)
    preNodes.add(ctx.hexOf(c.msg.nodeId1))
    preNodes.add(ctx.hexOf(c.msg.nodeId2))
  }
  const newestUpdates = new Map<bigint, Cand<ChannelUpdate>>()
  for (const c of upds) {
    const key = directionKey(c.msg.shortChannelId, c.msg.channelFlags & 1)
    const cur = newestUpdates.get(key)
    if (cur === undefined || c.msg.timestamp > cur.msg.timestamp) newestUpdates.set(key, c)
  }
  for (const [key, c] of newestUpdates) {
    const scid = c.msg.shortChannelId
    if (busy?.scids.has(scid) === true) continue
    const h = held.get(scid)
    const ann = firstAnn.get(scid)
    const ends = h ?? inFlight.channels.get(scid) ?? (ann !== undefined && ann.pre >= 0 ? ann.msg : undefined)
    if (ends === undefined) continue
    const direction = c.msg.channelFlags & 1
    const stored = h === undefined ? 0 : direction === 0 ? h.timestamp1 : h.timestamp2
    if (c.msg.timestamp <= Math.max(stored, inFlight.updates.get(key)?.timestamp ?? 0)) continue
    c.pre = pre.count
    c.preKey = direction === 0 ? ends.nodeId1 : ends.nodeId2
    pre.put(hashOf(c), c.msg.raw, SINGLE_SIG_AT, c.preKey, 0)
  }
  const newestNodes = new Map<string, Cand<NodeAnnouncement>>()
  for (const c of nodeAnns) {
    const hex = ctx.hexOf(c.msg.nodeId)
    const cur = newestNodes.get(hex)
    if (cur === undefined || c.msg.timestamp > cur.msg.timestamp) newestNodes.set(hex, c)
  }
  for (const [hex, c] of newestNodes) {
    if (busy?.nodes.has(hex) === true) continue
    const h = heldNodes.get(hex)
    if (c.msg.timestamp <= Math.max(h?.timestamp ?? 0, inFlight.nodes.get(hex)?.timestamp ?? 0)) continue
    if (!(h?.hasChannel === true || inFlight.nodesWithChannel.has(hex) || preNodes.has(hex))) continue
    c.pre = pre.count
    pre.put(hashOf(c), c.msg.raw, SINGLE_SIG_AT, c.msg.nodeId, 0)
  }
  return pre
}

/** Pre-checks one batch. `snapshotSeq`: every batch up to it was written before the store reads began. */
export const prepare = (
  ctx: PipelineContext,
  batch: Batch,
  snapshotSeq: number
): Effect.Effect<Prepared, GraphStoreError> =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const rules: RuleContext = {
      chainHash: ctx.config.chainHash,
      nowSeconds: Math.floor(now / 1000),
      staleSeconds: ctx.config.staleSeconds,
      maxFutureSeconds: ctx.config.maxFutureSeconds
    }
    const recorder = makeRecorder(batch.count)
    const byKind = applyStatelessRules(batch, rules, recorder)
    const view = yield* readStore(ctx, byKind)
    const pre = packEarly(ctx, byKind, view)
    const early: Fiber.RuntimeFiber<Uint8Array> | undefined = pre.count === 0
      ? undefined
      : yield* Effect.fork(ctx.verifier.verifyPacked(pre.bytes(), pre.count))
    return {
      now,
      snapshotSeq,
      recorder,
      anns: byKind.anns,
      upds: byKind.upds,
      nodeAnns: byKind.nodeAnns,
      held: view.held,
      zombies: view.zombies,
      heldNodes: new Map(view.heldNodes),
      nodeKeys: new Set(view.nodeKeys.keys()),
      early
    }
  })
