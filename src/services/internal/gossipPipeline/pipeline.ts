/**
 * The gossip validation pipeline (GossipPipeline): BOLT 7 receive rules, duplicate and staleness checks before any
 * signature work, batched signature checks on the SignatureVerifier (a worker pool in production), batched writes
 * to the GraphStore, per-peer misbehaviour accounting (SM-33).
 *
 *   submit/process ─▶ inbox (≤ `queueBound` messages unwritten) ─▶ validator ─▶ writer ─▶ GraphStore.applyBatch
 *                                                                              └─▶ accepted PubSub, verdicts
 *
 * Everything on the main thread is arranged around the signature checks on the workers: while batch N's signatures
 * are checked, batch N-1 is written and batch N+1 prepared (stateless rules, hashes, store reads, and an early
 * dispatch of the signatures that cannot depend on N). Settling — grouping against store ∪ overlay, signature
 * rounds, verdicts — is strictly in batch order.
 *
 * The overlay holds what was accepted but not yet written, so a message accepted a moment ago is already a
 * Duplicate. Within a batch one candidate per key (channel, channel direction, node) is checked at a time — the
 * first announcement, the newest update or node announcement; the rest resolve from its verdict with no signature
 * work (CLN#7972).
 */
import { Clock, Deferred, Effect, Either, Fiber, Layer, Metric, Option, PubSub, Queue, Stream } from "effect"
import type { Scope } from "effect"
import { sameBytes } from "../../../domain/Bytes.js"
import { toHex } from "../../../domain/Hex.js"
import { announcementKeysAt } from "../../../domain/RawGossip.js"
import { signedHash } from "../../../domain/Signatures.js"
import type { ChannelAnnouncement, ChannelUpdate, GossipMessage, NodeAnnouncement, PublicKey } from "../../../domain/Messages.js"
import type { ShortChannelId } from "../../../domain/ShortChannelId.js"
import { ChainSource } from "../../ChainSource.js"
import type { FundingCheck } from "../../ChainSource.js"
import type { AcceptedGossip, BanEvent, GossipPipelineService, InvalidReason, Verdict } from "../../GossipPipeline.js"
import { GossipPipeline } from "../../GossipPipeline.js"
import { GossipPipelineConfig } from "../../GossipPipelineConfig.js"
import type { GossipPipelineConfigValues } from "../../GossipPipelineConfig.js"
import { directionKey, InFlight, Misbehaviour, PrematureNodes, PrematureUpdates } from "./state.js"
import { isOffence, statelessVerdict } from "./rules.js"
import type { RuleContext } from "./rules.js"
import type { BatchOutcome, ChannelState, GraphBatch, GraphStoreError, NodeState } from "../../GraphStore.js"
import { GraphStore } from "../../GraphStore.js"
import { PACKED_ITEM_SIZE, SignatureVerifier } from "../../SignatureVerifier.js"

// ---------------------------------------------------------------------------------------------------------------
// Metrics

/** Pipeline counters (Effect `Metric`); invalid and stale are tagged with their `reason`. */
export const GossipPipelineMetrics = {
  accepted: Metric.counter("lnsync_gossip_accepted", { description: "gossip messages written to the graph" }),
  duplicate: Metric.counter("lnsync_gossip_duplicate", { description: "gossip already held (no signature work)" }),
  stale: Metric.counter("lnsync_gossip_stale", { description: "gossip too old or too far in the future" }),
  invalid: Metric.counter("lnsync_gossip_invalid", { description: "gossip rejected by a BOLT 7 rule" }),
  premature: Metric.counter("lnsync_gossip_premature", { description: "gossip held until its channel is known" }),
  bans: Metric.counter("lnsync_gossip_bans", { description: "peers banned for invalid gossip (SM-33)" })
} as const

// ---------------------------------------------------------------------------------------------------------------
// Jobs

interface MessagesJob {
  readonly _tag: "Messages"
  readonly peer: string
  readonly messages: ReadonlyArray<GossipMessage>
  readonly reply: Deferred.Deferred<ReadonlyArray<Verdict>, GraphStoreError> | undefined
}

interface FlushJob {
  readonly _tag: "Flush"
  readonly reply: Deferred.Deferred<void, GraphStoreError>
}

type Job = MessagesJob | FlushJob

/** A validated batch, handed from the validator to the writer. */
interface WriteJob {
  readonly seq: number
  readonly batch: GraphBatch
  readonly accepted: ReadonlyArray<AcceptedGossip>
  readonly replies: ReadonlyArray<{ readonly reply: Deferred.Deferred<ReadonlyArray<Verdict>, GraphStoreError>; readonly verdicts: ReadonlyArray<Verdict> }>
  readonly flushes: ReadonlyArray<Deferred.Deferred<void, GraphStoreError>>
  /** Queue permits to give back once written. */
  readonly permits: number
  /** Whether some of it came through `submit` (no caller to tell of a write failure but `flush`). */
  readonly submitted: boolean
}

// ---------------------------------------------------------------------------------------------------------------
// Validation of one batch

interface Cand<M extends GossipMessage> {
  readonly msg: M
  readonly peer: string
  /** Index of its verdict, or -1 for a message taken back out of a premature cache (its verdict was given). */
  readonly slot: number
  hash: Uint8Array | undefined
  /** Index of its signature(s) in the batch's early check (see `prepare`), or -1. */
  pre: number
  /** For a channel_update checked early: the key it was checked against. */
  preKey: PublicKey | undefined
}

interface AnnGroup {
  readonly scid: ShortChannelId
  pending: Array<Cand<ChannelAnnouncement>>
  accepted: ChannelAnnouncement | undefined
  zombie: boolean
}

interface UpdGroup {
  readonly scid: ShortChannelId
  readonly direction: 0 | 1
  baseline: number
  pending: Array<Cand<ChannelUpdate>>
}

interface NodeGroup {
  readonly hex: string
  readonly nodeId: PublicKey
  readonly storeHasChannel: boolean
  baseline: number
  pending: Array<Cand<NodeAnnouncement>>
}

const ACCEPTED: Verdict = { _tag: "Accepted" }
const DUPLICATE: Verdict = { _tag: "Duplicate" }
const PREMATURE: Verdict = { _tag: "Premature" }
const TOO_OLD: Verdict = { _tag: "Stale", reason: "TooOld" }
const invalid = (reason: InvalidReason): Verdict => ({ _tag: "Invalid", reason })

const newestIndex = <M extends ChannelUpdate | NodeAnnouncement>(pending: ReadonlyArray<Cand<M>>): number => {
  let best = 0
  for (let i = 1; i < pending.length; i++) if (pending[i].msg.timestamp > pending[best].msg.timestamp) best = i
  return best
}

/**
 * Hex of a node id, computed once per key object while it is being validated (a node id is looked up several times
 * per batch, from `prepare` to the overlay). A plain Map, cleared when it reaches `HEX_MEMO_SIZE`: cheaper than a
 * WeakMap's ephemeron bookkeeping, and small, because each key is a view into its message's raw bytes — a memo of
 * 65,536 keys kept ~65,000 received messages alive (~30 MB, most of the pipeline's live heap). A few batches' worth
 * covers a message's way through the pipeline.
 */
const HEX_MEMO_SIZE = 8192
const hexMemo = new Map<PublicKey, string>()
const hexOf = (id: PublicKey): string => {
  let hex = hexMemo.get(id)
  if (hex === undefined) {
    if (hexMemo.size >= HEX_MEMO_SIZE) hexMemo.clear()
    hex = toHex(id)
    hexMemo.set(id, hex)
  }
  return hex
}

/** Signatures of one round, packed back to back for the verifier (no per-signature objects). */
class SigPacker {
  private readonly buf: Uint8Array
  count = 0
  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity * PACKED_ITEM_SIZE)
  }
  /**
   * One signature: 64 bytes of `src` at `sigAt` (the raw message: what is verified is what was received), checked
   * against 33 bytes of `keySrc` at `keyAt`. Offsets come from messages the rules found well formed.
   */
  put(hash: Uint8Array, src: Uint8Array, sigAt: number, keySrc: Uint8Array, keyAt: number): void {
    const buf = this.buf
    const o = this.count * PACKED_ITEM_SIZE
    buf.set(hash, o)
    for (let i = 0; i < 64; i++) buf[o + 32 + i] = src[sigAt + i]
    for (let i = 0; i < 33; i++) buf[o + 96 + i] = keySrc[keyAt + i]
    this.count += 1
  }
  /** The four signatures of a channel_announcement (BOLT 7: node 1, node 2, bitcoin 1, bitcoin 2, over one hash). */
  putAnnouncement(hash: Uint8Array, raw: Uint8Array): void {
    const keysAt = announcementKeysAt(raw)
    for (let k = 0; k < 4; k++) this.put(hash, raw, 2 + 64 * k, raw, keysAt + 33 * k)
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.count * PACKED_ITEM_SIZE)
  }
}

const hashOf = <M extends GossipMessage>(c: Cand<M>): Uint8Array => (c.hash ??= signedHash(c.msg._tag, c.msg.raw))

/** Verdict tallies of one batch, for the metrics. */
interface Tally {
  duplicate: number
  premature: number
  stale: Map<string, number>
  invalid: Map<string, number>
}

const bump = (m: Map<string, number>, k: string): void => {
  m.set(k, (m.get(k) ?? 0) + 1)
}

/** Builds the pipeline in the current Scope (its two fibers live there). */
export const make: Effect.Effect<
  GossipPipelineService,
  never,
  GraphStore | SignatureVerifier | ChainSource | GossipPipelineConfig | Scope.Scope
> = Effect.gen(function* () {
  const config = yield* GossipPipelineConfig
  const store = yield* GraphStore
  const verifier = yield* SignatureVerifier
  const chain = yield* ChainSource
  return yield* makeWith(config, store, verifier, chain)
})

const makeWith = (
  config: GossipPipelineConfigValues,
  store: GraphStore["Type"],
  verifier: SignatureVerifier["Type"],
  chain: ChainSource["Type"]
): Effect.Effect<GossipPipelineService, never, Scope.Scope> =>
  Effect.gen(function* () {
    const inbox = yield* Effect.acquireRelease(Queue.unbounded<Job>(), Queue.shutdown)
    /** Messages admitted and not yet written: `submit` waits here when the pipeline is behind. */
    const permits = yield* Effect.makeSemaphore(config.queueBound)
    const toWriter = yield* Effect.acquireRelease(Queue.bounded<WriteJob>(1), Queue.shutdown)
    const acceptedHub = yield* Effect.acquireRelease(
      PubSub.sliding<AcceptedGossip>(config.acceptedBuffer),
      PubSub.shutdown
    )
    const banHub = yield* Effect.acquireRelease(PubSub.sliding<BanEvent>(1024), PubSub.shutdown)

    const prematureUpdates = new PrematureUpdates(
      config.prematureUpdates,
      config.prematureUpdatesPerChannel,
      config.prematureTtlMillis
    )
    const prematureNodes = new PrematureNodes(config.prematureNodes, config.prematureTtlMillis)
    const inFlight = new InFlight()
    const misbehaviour = new Misbehaviour({
      threshold: config.banThreshold,
      banDurationMillis: config.banDurationMillis,
      scoreResetMillis: config.scoreResetMillis,
      maxTrackedPeers: config.maxTrackedPeers
    })
    let nextSeq = 1
    let writtenSeq = 0
    /** Keys of the batch being settled (see `prepare`'s early check); undefined between batches. */
    let settlingKeys: { readonly scids: ReadonlySet<ShortChannelId>; readonly nodes: ReadonlySet<string> } | undefined
    /** First write failure of `submit`ted gossip since the last flush; `flush` reports it. */
    let submitFailure: GraphStoreError | undefined
    /** Callers waiting on a reply: interrupted if the pipeline closes under them. */
    const waiting = new Set<Effect.Effect<boolean>>()

    yield* Effect.addFinalizer(() => Effect.forEach([...waiting], (stop) => stop, { discard: true }))

    // -----------------------------------------------------------------------------------------------------------
    // One batch: rules, store pre-checks, signature rounds

    /** Verdicts of one batch and their side effects (tallies for the metrics, offences for SM-33). */
    const makeRecorder = (size: number) => {
      const verdicts = new Array<Verdict>(size)
      const tally: Tally = { duplicate: 0, premature: 0, stale: new Map(), invalid: new Map() }
      const offences = new Map<string, { count: number; reason: string }>()
      const offend = (peer: string, reason: string) => {
        const o = offences.get(peer)
        if (o === undefined) offences.set(peer, { count: 1, reason })
        else {
          o.count += 1
          o.reason = reason
        }
      }
      /** Records a verdict (or, for a cache extra, only its consequences). */
      const give = (peer: string, slot: number, v: Verdict, countsAsOffence = true) => {
        if (slot >= 0) verdicts[slot] = v
        switch (v._tag) {
          case "Duplicate":
            if (slot >= 0) tally.duplicate += 1
            break
          case "Premature":
            if (slot >= 0) tally.premature += 1
            break
          case "Stale":
            bump(tally.stale, v.reason)
            break
          case "Invalid":
            bump(tally.invalid, v.reason)
            break
        }
        if (countsAsOffence && isOffence(v)) offend(peer, v._tag === "Invalid" ? v.reason : "InFuture")
      }
      return { verdicts, tally, offences, give }
    }

    /**
     * The part of a batch's validation that depends on no earlier batch's outcome: the stateless rules, the
     * signed-data hashes and the store reads. It runs while the previous batch's signatures are being checked.
     * `snapshotSeq`: every batch up to it was written before the reads began.
     */
    const prepare = (items: ReadonlyArray<{ readonly peer: string; readonly msg: GossipMessage }>, snapshotSeq: number) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const ctx: RuleContext = {
          chainHash: config.chainHash,
          nowSeconds: Math.floor(now / 1000),
          staleSeconds: config.staleSeconds,
          maxFutureSeconds: config.maxFutureSeconds
        }
        const recorder = makeRecorder(items.length)

        // 1. Rules that need nothing but the message (BOLT 7 receive requirements), before any I/O.
        const anns: Array<Cand<ChannelAnnouncement>> = []
        const upds: Array<Cand<ChannelUpdate>> = []
        const nodeAnns: Array<Cand<NodeAnnouncement>> = []
        for (let i = 0; i < items.length; i++) {
          const { msg, peer } = items[i]
          const v = statelessVerdict(msg, ctx)
          if (v !== undefined) {
            recorder.give(peer, i, v)
            continue
          }
          switch (msg._tag) {
            case "ChannelAnnouncement":
              anns.push({ msg, peer, slot: i, hash: signedHash(msg._tag, msg.raw), pre: -1, preKey: undefined })
              break
            case "ChannelUpdate":
              upds.push({ msg, peer, slot: i, hash: signedHash(msg._tag, msg.raw), pre: -1, preKey: undefined })
              break
            case "NodeAnnouncement":
              nodeAnns.push({ msg, peer, slot: i, hash: signedHash(msg._tag, msg.raw), pre: -1, preKey: undefined })
              break
          }
        }

        // 2. What the store holds for these keys (plus the nodes whose held announcements a new channel may free).
        const scidSet = new Set<ShortChannelId>()
        for (const c of anns) scidSet.add(c.msg.shortChannelId)
        for (const c of upds) scidSet.add(c.msg.shortChannelId)
        const annScids = [...new Set(anns.map((c) => c.msg.shortChannelId))]
        const nodeKeys = new Map<string, PublicKey>()
        for (const c of nodeAnns) nodeKeys.set(hexOf(c.msg.nodeId), c.msg.nodeId)
        for (const c of anns) {
          for (const id of [c.msg.nodeId1, c.msg.nodeId2]) {
            const hex = hexOf(id)
            if (prematureNodes.has(hex)) nodeKeys.set(hex, id)
          }
        }
        const [held, zombies, heldNodes] = yield* Effect.all([
          scidSet.size === 0 ? Effect.succeed(new Map<ShortChannelId, ChannelState>()) : store.channels([...scidSet]),
          annScids.length === 0 ? Effect.succeed(new Set<ShortChannelId>()) : store.zombies(annScids),
          nodeKeys.size === 0 ? Effect.succeed(new Map<string, NodeState>()) : store.nodes([...nodeKeys.values()])
        ])

        // 3. Early check: the signatures whose verdict cannot depend on the batch being settled right now go to
        // the workers at once, so they never wait between batches. Only the candidate `settle` will check (the
        // first announcement per channel, the newest update per direction and announcement per node), only if
        // nothing held makes it a duplicate, and nothing the settling batch touches: duplicates still cost no
        // signature work.
        const busy = settlingKeys
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
          preNodes.add(hexOf(c.msg.nodeId1))
          preNodes.add(hexOf(c.msg.nodeId2))
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
          pre.put(hashOf(c), c.msg.raw, 2, c.preKey, 0)
        }
        const newestNodes = new Map<string, Cand<NodeAnnouncement>>()
        for (const c of nodeAnns) {
          const hex = hexOf(c.msg.nodeId)
          const cur = newestNodes.get(hex)
          if (cur === undefined || c.msg.timestamp > cur.msg.timestamp) newestNodes.set(hex, c)
        }
        for (const [hex, c] of newestNodes) {
          if (busy?.nodes.has(hex) === true) continue
          const h = heldNodes.get(hex)
          if (c.msg.timestamp <= Math.max(h?.timestamp ?? 0, inFlight.nodes.get(hex)?.timestamp ?? 0)) continue
          if (!(h?.hasChannel === true || inFlight.nodesWithChannel.has(hex) || preNodes.has(hex))) continue
          c.pre = pre.count
          pre.put(hashOf(c), c.msg.raw, 2, c.msg.nodeId, 0)
        }
        const early = pre.count === 0 ? undefined : yield* Effect.fork(verifier.verifyPacked(pre.bytes(), pre.count))

        return {
          now,
          snapshotSeq,
          recorder,
          anns,
          upds,
          nodeAnns,
          held,
          zombies,
          heldNodes: new Map(heldNodes),
          nodeKeys: new Set(nodeKeys.keys()),
          early
        }
      })

    type Prepared = Effect.Effect.Success<ReturnType<typeof prepare>>

    /** The rest, strictly in batch order: grouping against store ∪ overlay, signature rounds, outcome. */
    const settle = (
      prepared: Prepared,
      seq: number,
      /** Run once, just before the first signatures go to the verifier (so the caller may overlap other work). */
      dispatched: Effect.Effect<unknown>
    ): Effect.Effect<{ readonly verdicts: Array<Verdict>; readonly batch: GraphBatch; readonly accepted: Array<AcceptedGossip> }, GraphStoreError> =>
      Effect.gen(function* () {
        const { now, recorder, anns, upds, nodeAnns, held, zombies, heldNodes } = prepared
        const { verdicts, tally, offences, give } = recorder
        const bans: Array<BanEvent> = []
        // Keys this batch may touch: the next batch's early check leaves them alone until this one is settled.
        const busyScids = new Set<ShortChannelId>()
        const busyNodes = new Set<string>()
        for (const c of anns) {
          busyScids.add(c.msg.shortChannelId)
          busyNodes.add(hexOf(c.msg.nodeId1))
          busyNodes.add(hexOf(c.msg.nodeId2))
        }
        for (const c of upds) busyScids.add(c.msg.shortChannelId)
        for (const c of nodeAnns) busyNodes.add(hexOf(c.msg.nodeId))
        settlingKeys = { scids: busyScids, nodes: busyNodes }
        // this batch's early signatures are already on the workers
        if (prepared.early !== undefined) yield* dispatched
        let earlyResults: Uint8Array | undefined
        const early = Effect.suspend(() =>
          earlyResults !== undefined || prepared.early === undefined
            ? Effect.succeed(earlyResults ?? new Uint8Array(0))
            : Effect.map(Fiber.join(prepared.early), (r) => (earlyResults = r))
        )
        // Batches up to the snapshot are in the store reads above: the overlay no longer needs them.
        inFlight.release(prepared.snapshotSeq)
        // Node announcements held since the reads began (by the batch before) need their node's state too.
        const missing: Array<PublicKey> = []
        for (const c of anns) {
          for (const id of [c.msg.nodeId1, c.msg.nodeId2]) {
            const hex = hexOf(id)
            if (!prepared.nodeKeys.has(hex) && prematureNodes.has(hex)) {
              prepared.nodeKeys.add(hex)
              missing.push(id)
            }
          }
        }
        if (missing.length > 0) for (const [k, v] of yield* store.nodes(missing)) heldNodes.set(k, v)

        /** Endpoints of a channel we hold or have accepted (this batch or an unwritten one). */
        const acceptedHere = new Map<ShortChannelId, ChannelAnnouncement>()
        const acceptedNodes = new Set<string>()
        const knownChannel = (scid: ShortChannelId): { readonly nodeId1: PublicKey; readonly nodeId2: PublicKey } | undefined =>
          held.get(scid) ?? inFlight.channels.get(scid) ?? acceptedHere.get(scid)

        // 3. Group by key; anything not newer than what we hold is a Duplicate, with no signature work (CLN#7972).
        const annGroups = new Map<ShortChannelId, AnnGroup>()
        for (const c of anns) {
          const scid = c.msg.shortChannelId
          if (knownChannel(scid) !== undefined) {
            give(c.peer, c.slot, DUPLICATE)
            continue
          }
          let g = annGroups.get(scid)
          if (g === undefined) {
            g = { scid, pending: [], accepted: undefined, zombie: zombies.has(scid) }
            annGroups.set(scid, g)
          }
          g.pending.push(c)
        }

        const updGroups = new Map<bigint, UpdGroup>()
        const addUpdate = (c: Cand<ChannelUpdate>) => {
          const scid = c.msg.shortChannelId
          const direction = (c.msg.channelFlags & 1) as 0 | 1
          const key = directionKey(scid, direction)
          let g = updGroups.get(key)
          if (g === undefined) {
            const h = held.get(scid)
            const stored = h === undefined ? 0 : direction === 0 ? h.timestamp1 : h.timestamp2
            g = { scid, direction, baseline: Math.max(stored, inFlight.updates.get(key)?.timestamp ?? 0), pending: [] }
            updGroups.set(key, g)
          }
          // BOLT 7: "if timestamp is lower than [or equal to] that of the last-received channel_update ...: ignore"
          if (c.msg.timestamp <= g.baseline) give(c.peer, c.slot, DUPLICATE)
          else g.pending.push(c)
        }
        for (const c of upds) addUpdate(c)
        // Updates held for channels announced in this batch join it (lnd applies premature updates the same way).
        for (const scid of annGroups.keys()) {
          for (const h of prematureUpdates.take(scid, now)) addUpdate({ msg: h.msg, peer: h.peer, slot: -1, hash: undefined, pre: -1, preKey: undefined })
        }
        // A zombie (pruned) channel comes back only with a fresh update; its announcement alone is stale.
        for (const g of annGroups.values()) {
          if (!g.zombie) continue
          const fresh =
            (updGroups.get(directionKey(g.scid, 0))?.pending.length ?? 0) +
              (updGroups.get(directionKey(g.scid, 1))?.pending.length ?? 0) > 0
          if (fresh) continue
          for (const c of g.pending) give(c.peer, c.slot, TOO_OLD)
          g.pending = []
        }

        const nodeGroups = new Map<string, NodeGroup>()
        const addNode = (c: Cand<NodeAnnouncement>, hex: string) => {
          let g = nodeGroups.get(hex)
          if (g === undefined) {
            const h = heldNodes.get(hex)
            g = {
              hex,
              nodeId: c.msg.nodeId,
              storeHasChannel: h?.hasChannel ?? false,
              baseline: Math.max(h?.timestamp ?? 0, inFlight.nodes.get(hex)?.timestamp ?? 0),
              pending: []
            }
            nodeGroups.set(hex, g)
          }
          // BOLT 7: "if timestamp is NOT greater than the last-received node_announcement ...: SHOULD ignore"
          if (c.msg.timestamp <= g.baseline) give(c.peer, c.slot, DUPLICATE)
          else g.pending.push(c)
        }
        for (const c of nodeAnns) addNode(c, hexOf(c.msg.nodeId))
        /** For each node, the announcement groups of this batch that would give it a channel. */
        const nodeAnnRefs = new Map<string, Array<AnnGroup>>()
        for (const g of annGroups.values()) {
          if (g.pending.length === 0) continue
          const seen = new Set<string>()
          for (const c of g.pending) {
            for (const id of [c.msg.nodeId1, c.msg.nodeId2]) {
              const hex = hexOf(id)
              if (seen.has(hex)) continue
              seen.add(hex)
              const refs = nodeAnnRefs.get(hex)
              if (refs === undefined) nodeAnnRefs.set(hex, [g])
              else refs.push(g)
              const heldAnn = prematureNodes.take(hex, now)
              if (heldAnn !== undefined) addNode({ msg: heldAnn.msg, peer: heldAnn.peer, slot: -1, hash: undefined, pre: -1, preKey: undefined }, hex)
            }
          }
        }

        // 4. Signature rounds. Each round verifies one candidate per key; an update (node announcement) whose
        // channel is only being announced in this batch is verified speculatively in the same round and its
        // result kept only if that announcement passes. Each round settles at least one message.
        const acceptedUpdates: Array<Cand<ChannelUpdate>> = []
        const acceptedNodeAnns: Array<Cand<NodeAnnouncement>> = []
        const acceptedAnns: Array<Cand<ChannelAnnouncement>> = []

        const rejectWithTwins = <M extends GossipMessage>(
          pending: Array<Cand<M>>,
          index: number,
          v: Verdict,
          countsAsOffence = true
        ): Array<Cand<M>> => {
          const raw = pending[index].msg.raw
          const rest: Array<Cand<M>> = []
          for (let i = 0; i < pending.length; i++) {
            // The same bytes carry the same (bad) signature: same verdict, no second check.
            if (i === index || sameBytes(pending[i].msg.raw, raw)) give(pending[i].peer, pending[i].slot, v, countsAsOffence)
            else rest.push(pending[i])
          }
          return rest
        }

        const holdUpdates = (g: UpdGroup) => {
          for (const c of g.pending) {
            if (c.slot >= 0) give(c.peer, c.slot, PREMATURE)
            prematureUpdates.add(c.msg, c.peer, now)
          }
          g.pending = []
        }
        const holdNodes = (g: NodeGroup) => {
          for (const c of g.pending) {
            if (c.slot >= 0) give(c.peer, c.slot, PREMATURE)
            prematureNodes.add(g.hex, c.msg, c.peer, now)
          }
          g.pending = []
        }

        for (;;) {
          const sigs = new SigPacker(4 * annGroups.size + updGroups.size + nodeGroups.size)
          // `at`: index of the task's first signature in this round's batch, or in the early check's when `early`
          const annTasks: Array<{ readonly g: AnnGroup; readonly at: number; readonly early: boolean }> = []
          const updTasks: Array<{ readonly g: UpdGroup; readonly index: number; readonly at: number; readonly early: boolean; readonly spec: AnnGroup | undefined }> = []
          const nodeTasks: Array<{ readonly g: NodeGroup; readonly index: number; readonly at: number; readonly early: boolean; readonly spec: ReadonlyArray<AnnGroup> | undefined }> = []
          const inRound = new Set<AnnGroup>()

          for (const g of annGroups.values()) {
            if (g.accepted !== undefined || g.pending.length === 0) continue
            const c = g.pending[0]
            inRound.add(g)
            if (c.pre >= 0) {
              annTasks.push({ g, at: c.pre, early: true })
              continue
            }
            const hash = hashOf(c)
            annTasks.push({ g, at: sigs.count, early: false })
            // BOLT 7: all four signatures over the same hash
            sigs.putAnnouncement(hash, c.msg.raw)
          }
          for (const g of updGroups.values()) {
            if (g.pending.length === 0) continue
            let endpoints = knownChannel(g.scid)
            let spec: AnnGroup | undefined
            if (endpoints === undefined) {
              const ag = annGroups.get(g.scid)
              if (ag !== undefined && inRound.has(ag)) {
                spec = ag
                endpoints = ag.pending[0].msg
              }
            }
            if (endpoints === undefined) {
              // BOLT 7: an update for a channel we have not seen yet waits (bounded) for its announcement
              holdUpdates(g)
              continue
            }
            const index = newestIndex(g.pending)
            const c = g.pending[index]
            // BOLT 7: signed by node_id_1 when the direction bit is 0, node_id_2 when 1
            const signer = g.direction === 0 ? endpoints.nodeId1 : endpoints.nodeId2
            if (c.pre >= 0 && c.preKey !== undefined && sameBytes(c.preKey, signer)) {
              updTasks.push({ g, index, at: c.pre, early: true, spec })
              continue
            }
            updTasks.push({ g, index, at: sigs.count, early: false, spec })
            sigs.put(hashOf(c), c.msg.raw, 2, signer, 0)
          }
          for (const g of nodeGroups.values()) {
            if (g.pending.length === 0) continue
            const definite = g.storeHasChannel || inFlight.nodesWithChannel.has(g.hex) || acceptedNodes.has(g.hex)
            let spec: ReadonlyArray<AnnGroup> | undefined
            if (!definite) {
              const mentioning = (nodeAnnRefs.get(g.hex) ?? []).filter((ag) => {
                if (!inRound.has(ag)) return false
                const m = ag.pending[0].msg
                return sameBytes(m.nodeId1, g.nodeId) || sameBytes(m.nodeId2, g.nodeId)
              })
              if (mentioning.length === 0) {
                // BOLT 7: "if node_id is NOT previously known from a channel_announcement: SHOULD ignore" — held briefly
                holdNodes(g)
                continue
              }
              spec = mentioning
            }
            const index = newestIndex(g.pending)
            const c = g.pending[index]
            if (c.pre >= 0) {
              nodeTasks.push({ g, index, at: c.pre, early: true, spec })
              continue
            }
            nodeTasks.push({ g, index, at: sigs.count, early: false, spec })
            sigs.put(hashOf(c), c.msg.raw, 2, c.msg.nodeId, 0)
          }
          if (annTasks.length + updTasks.length + nodeTasks.length === 0) break

          yield* dispatched
          const valid = sigs.count === 0 ? new Uint8Array(0) : yield* verifier.verifyPacked(sigs.bytes(), sigs.count)
          const checkedEarly = yield* early
          const ok = (t: { readonly at: number; readonly early: boolean }, k = 0): boolean =>
            (t.early ? checkedEarly : valid)[t.at + k] === 1

          // Funding outputs (ChainSource) only for announcements whose four signatures hold.
          const signedAnns = annTasks.filter((t) => ok(t) && ok(t, 1) && ok(t, 2) && ok(t, 3))
          const funding: Either.Either<ReadonlyArray<FundingCheck>, unknown> =
            signedAnns.length === 0
              ? Either.right([])
              : yield* Effect.either(chain.checkFunding(signedAnns.map((t) => t.g.pending[0].msg)))
          if (Either.isLeft(funding)) {
            yield* Effect.logWarning("chain source failed; announcements rejected without blame", funding.left)
          }
          const fundingOf = new Map<AnnGroup, FundingCheck | undefined>()
          signedAnns.forEach((t, i) => fundingOf.set(t.g, Either.isRight(funding) ? funding.right[i] : undefined))

          for (const t of annTasks) {
            const g = t.g
            if (!(ok(t) && ok(t, 1))) {
              g.pending = rejectWithTwins(g.pending, 0, invalid("BadNodeSignature"))
              continue
            }
            if (!(ok(t, 2) && ok(t, 3))) {
              g.pending = rejectWithTwins(g.pending, 0, invalid("BadBitcoinSignature"))
              continue
            }
            const f = fundingOf.get(g)
            if (f === undefined) {
              // our chain backend failed: not the peer's fault
              g.pending = rejectWithTwins(g.pending, 0, invalid("FundingOutputInvalid"), false)
              continue
            }
            if (f._tag === "Invalid") {
              // BOLT 7: funding output not a matching unspent P2WSH: "MUST ignore the message"
              g.pending = rejectWithTwins(g.pending, 0, invalid("FundingOutputInvalid"))
              continue
            }
            const c = g.pending[0]
            g.accepted = c.msg
            give(c.peer, c.slot, ACCEPTED)
            acceptedAnns.push(c)
            acceptedHere.set(g.scid, c.msg)
            acceptedNodes.add(hexOf(c.msg.nodeId1))
            acceptedNodes.add(hexOf(c.msg.nodeId2))
            // other announcements of the same channel: the first valid one wins
            for (let i = 1; i < g.pending.length; i++) give(g.pending[i].peer, g.pending[i].slot, DUPLICATE)
            g.pending = []
          }
          for (const t of updTasks) {
            if (t.spec !== undefined && t.spec.accepted === undefined) continue // its announcement failed: retry
            const g = t.g
            const c = g.pending[t.index]
            if (!ok(t)) {
              g.pending = rejectWithTwins(g.pending, t.index, invalid("BadSignature"))
              continue
            }
            give(c.peer, c.slot, ACCEPTED)
            acceptedUpdates.push(c)
            g.baseline = c.msg.timestamp
            // the rest are not newer than the one just accepted
            for (let i = 0; i < g.pending.length; i++) if (i !== t.index) give(g.pending[i].peer, g.pending[i].slot, DUPLICATE)
            g.pending = []
          }
          for (const t of nodeTasks) {
            if (t.spec !== undefined && !t.spec.some((ag) => ag.accepted !== undefined)) continue
            const g = t.g
            const c = g.pending[t.index]
            if (!ok(t)) {
              g.pending = rejectWithTwins(g.pending, t.index, invalid("BadNodeSignature"))
              continue
            }
            give(c.peer, c.slot, ACCEPTED)
            acceptedNodeAnns.push(c)
            g.baseline = c.msg.timestamp
            for (let i = 0; i < g.pending.length; i++) if (i !== t.index) give(g.pending[i].peer, g.pending[i].slot, DUPLICATE)
            g.pending = []
          }
        }

        // 5. Remember what is accepted until the writer has written it.
        for (const c of acceptedAnns) {
          const m = c.msg
          inFlight.addChannel(m.shortChannelId, m.nodeId1, m.nodeId2, hexOf(m.nodeId1), hexOf(m.nodeId2), seq)
        }
        for (const c of acceptedUpdates) {
          inFlight.addUpdate(directionKey(c.msg.shortChannelId, c.msg.channelFlags & 1), c.msg.timestamp, seq)
        }
        for (const c of acceptedNodeAnns) inFlight.addNode(hexOf(c.msg.nodeId), c.msg.timestamp, seq)

        // 6. Misbehaviour (SM-33) and metrics for everything but acceptance (counted once written).
        for (const [peer, o] of offences) {
          yield* Effect.logDebug("invalid gossip from peer").pipe(
            Effect.annotateLogs({ peer, count: o.count, lastReason: o.reason })
          )
          const ban = misbehaviour.offend(peer, o.count, o.reason, now)
          if (ban !== undefined) bans.push(ban)
        }
        for (const ban of bans) {
          yield* Effect.logWarning("peer banned for invalid gossip").pipe(
            Effect.annotateLogs({ peer: ban.nodeIdHex, until: new Date(ban.untilMillis).toISOString(), reason: ban.reason })
          )
          yield* Metric.increment(GossipPipelineMetrics.bans)
        }
        if (bans.length > 0) yield* PubSub.publishAll(banHub, bans)
        if (tally.duplicate > 0) yield* Metric.incrementBy(GossipPipelineMetrics.duplicate, tally.duplicate)
        if (tally.premature > 0) yield* Metric.incrementBy(GossipPipelineMetrics.premature, tally.premature)
        for (const [reason, n] of tally.stale) {
          yield* Metric.incrementBy(Metric.tagged(GossipPipelineMetrics.stale, "reason", reason), n)
        }
        for (const [reason, n] of tally.invalid) {
          yield* Metric.incrementBy(Metric.tagged(GossipPipelineMetrics.invalid, "reason", reason), n)
        }

        const accepted: Array<AcceptedGossip> = []
        for (const c of acceptedAnns) accepted.push({ message: c.msg, fromPeer: c.peer })
        for (const c of acceptedUpdates) accepted.push({ message: c.msg, fromPeer: c.peer })
        for (const c of acceptedNodeAnns) accepted.push({ message: c.msg, fromPeer: c.peer })
        return {
          verdicts,
          accepted,
          // the store applies announcements, then updates, then node announcements
          batch: {
            channels: acceptedAnns.map((c) => c.msg),
            updates: acceptedUpdates.map((c) => c.msg),
            nodes: acceptedNodeAnns.map((c) => c.msg)
          }
        }
      })

    // -----------------------------------------------------------------------------------------------------------
    // The two fibers

    /** Settles a prepared batch into the writer's job (or, if its store reads failed, reports that). */
    const finish = (
      jobs: ReadonlyArray<Job>,
      count: number,
      seq: number,
      prepared: Either.Either<Prepared, GraphStoreError>,
      dispatched: Effect.Effect<unknown>
    ): Effect.Effect<WriteJob> =>
      Effect.gen(function* () {
        const result = yield* Effect.either(
          Either.isLeft(prepared) ? Effect.fail(prepared.left) : settle(prepared.right, seq, dispatched)
        )
        // its outcome is in the overlay now (or it failed): later batches may check its keys early again
        settlingKeys = undefined
        const replies: Array<WriteJob["replies"][number]> = []
        const flushes: Array<Deferred.Deferred<void, GraphStoreError>> = []
        const submitted = jobs.some((j) => j._tag === "Messages" && j.reply === undefined)
        if (Either.isLeft(result)) {
          // a store read failed: nothing of this batch was checked; callers hear about it
          for (const j of jobs) {
            if (j._tag === "Flush") flushes.push(j.reply)
            else if (j.reply !== undefined) yield* Deferred.fail(j.reply, result.left)
          }
          if (submitted) submitFailure ??= result.left
          return {
            seq,
            batch: { channels: [], updates: [], nodes: [] },
            accepted: [],
            replies: [],
            flushes,
            permits: count,
            submitted: false
          }
        }
        let at = 0
        for (const j of jobs) {
          if (j._tag === "Flush") {
            flushes.push(j.reply)
            continue
          }
          const verdicts = result.right.verdicts.slice(at, at + j.messages.length)
          at += j.messages.length
          if (j.reply !== undefined) replies.push({ reply: j.reply, verdicts })
        }
        return {
          seq,
          batch: result.right.batch,
          accepted: result.right.accepted,
          replies,
          flushes,
          permits: count,
          submitted
        }
      }).pipe(Effect.ensuring(dispatched))

    /**
     * Takes batches in order and keeps the workers fed. Everything on this thread is arranged around batch N's
     * signature checks: while they run, batch N-1 is written and batch N+1 prepared (rules, hashes, store reads).
     * Then N is settled, N+1's signatures are dispatched, and only then is N handed to the writer. Settling stays
     * strictly in batch order.
     */
    const validator = Effect.gen(function* () {
      let settling: Fiber.RuntimeFiber<WriteJob> | undefined
      let ready: WriteJob | undefined
      const handOff = Effect.suspend(() => {
        const job = ready
        ready = undefined
        return job === undefined ? Effect.void : Queue.offer(toWriter, job)
      })
      for (;;) {
        const polled = yield* Queue.poll(inbox)
        let first: Job
        if (Option.isSome(polled)) first = polled.value
        else {
          // nothing waiting: finish what is in flight before blocking
          yield* handOff
          if (settling !== undefined) {
            ready = yield* Fiber.join(settling)
            settling = undefined
            yield* handOff
          }
          first = yield* Queue.take(inbox)
        }
        const jobs: Array<Job> = [first]
        let count = first._tag === "Messages" ? first.messages.length : 0
        while (count < config.batchSize) {
          const next = yield* Queue.poll(inbox)
          if (next._tag === "None") break
          jobs.push(next.value)
          if (next.value._tag === "Messages") count += next.value.messages.length
        }
        const seq = nextSeq++
        const items: Array<{ readonly peer: string; readonly msg: GossipMessage }> = []
        for (const j of jobs) if (j._tag === "Messages") for (const msg of j.messages) items.push({ peer: j.peer, msg })
        const prepared = yield* Effect.either(prepare(items, writtenSeq))
        if (settling !== undefined) {
          yield* handOff
          ready = yield* Fiber.join(settling)
        }
        const dispatched = yield* Deferred.make<void>()
        settling = yield* Effect.fork(finish(jobs, count, seq, prepared, Deferred.succeed(dispatched, undefined)))
        yield* Deferred.await(dispatched)
        yield* handOff
      }
    })

    const isEmpty = (b: GraphBatch) => b.channels.length === 0 && b.updates.length === 0 && b.nodes.length === 0
    const NOTHING: BatchOutcome = {
      channelsAdded: 0,
      channelsKnown: 0,
      updatesApplied: 0,
      updatesIgnored: 0,
      nodesApplied: 0,
      nodesIgnored: 0
    }

    const writer = Effect.gen(function* () {
      for (;;) {
        const job = yield* Queue.take(toWriter)
        const written = yield* Effect.either(isEmpty(job.batch) ? Effect.succeed(NOTHING) : store.applyBatch(job.batch))
        writtenSeq = job.seq
        if (Either.isRight(written)) {
          if (job.accepted.length > 0) {
            yield* Metric.incrementBy(GossipPipelineMetrics.accepted, job.accepted.length)
            yield* PubSub.publishAll(acceptedHub, job.accepted)
          }
          for (const r of job.replies) yield* Deferred.succeed(r.reply, r.verdicts)
        } else {
          yield* Effect.logError("gossip batch write failed", written.left)
          for (const r of job.replies) yield* Deferred.fail(r.reply, written.left)
          if (job.submitted) submitFailure ??= written.left
        }
        for (const f of job.flushes) {
          if (submitFailure === undefined) yield* Deferred.succeed(f, undefined)
          else yield* Deferred.fail(f, submitFailure)
        }
        if (job.flushes.length > 0) submitFailure = undefined
        yield* permits.release(job.permits)
      }
    })

    yield* Effect.forkScoped(validator)
    yield* Effect.forkScoped(writer)

    // -----------------------------------------------------------------------------------------------------------
    // The service

    const chunks = (messages: ReadonlyArray<GossipMessage>): Array<ReadonlyArray<GossipMessage>> => {
      const out: Array<ReadonlyArray<GossipMessage>> = []
      for (let i = 0; i < messages.length; i += config.batchSize) out.push(messages.slice(i, i + config.batchSize))
      return out
    }

    /** Admits one chunk: waits for queue room (backpressure), then enqueues. */
    const enqueue = (
      peer: string,
      messages: ReadonlyArray<GossipMessage>,
      reply: MessagesJob["reply"]
    ): Effect.Effect<void> =>
      Effect.uninterruptibleMask((restore) =>
        restore(permits.take(messages.length)).pipe(
          Effect.zipRight(Queue.offer(inbox, { _tag: "Messages", peer, messages, reply })),
          Effect.asVoid
        )
      )

    const awaitReply = <A>(d: Deferred.Deferred<A, GraphStoreError>): Effect.Effect<A, GraphStoreError> =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          const stop = Deferred.interrupt(d)
          waiting.add(stop)
          return stop
        }),
        () => Deferred.await(d),
        (stop) => Effect.sync(() => waiting.delete(stop))
      )

    const submit = (fromPeer: string, messages: ReadonlyArray<GossipMessage>): Effect.Effect<void> =>
      Effect.forEach(chunks(messages), (c) => enqueue(fromPeer, c, undefined), { discard: true })

    const process = (
      fromPeer: string,
      messages: ReadonlyArray<GossipMessage>
    ): Effect.Effect<ReadonlyArray<Verdict>, GraphStoreError> =>
      Effect.gen(function* () {
        const replies: Array<Deferred.Deferred<ReadonlyArray<Verdict>, GraphStoreError>> = []
        for (const c of chunks(messages)) {
          const d = yield* Deferred.make<ReadonlyArray<Verdict>, GraphStoreError>()
          replies.push(d)
          yield* enqueue(fromPeer, c, d)
        }
        const out: Array<Verdict> = []
        for (const d of replies) out.push(...(yield* awaitReply(d)))
        return out
      })

    const flush: Effect.Effect<void, GraphStoreError> = Effect.gen(function* () {
      const d = yield* Deferred.make<void, GraphStoreError>()
      yield* Queue.offer(inbox, { _tag: "Flush", reply: d })
      yield* awaitReply(d)
    })

    return {
      submit,
      process,
      flush,
      accepted: Stream.fromPubSub(acceptedHub, { scoped: true }),
      bans: Stream.fromPubSub(banHub, { scoped: true }),
      isBanned: (nodeIdHex: string) => Effect.map(Clock.currentTimeMillis, (now) => misbehaviour.isBanned(nodeIdHex, now))
    }
  })

/** The pipeline layer: needs a GraphStore, a SignatureVerifier, a ChainSource and its config. */
export const GossipPipelineLive: Layer.Layer<
  GossipPipeline,
  never,
  GraphStore | SignatureVerifier | ChainSource | GossipPipelineConfig
> = Layer.scoped(GossipPipeline, make)
