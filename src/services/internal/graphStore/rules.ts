/**
 * The store-side rules every GraphStore layer applies to a batch, and `planBatch`, a pure planner for them: the
 * in-memory layer asks it what to write given what it holds. The SQL layer states the same rules as conditional
 * writes (so nothing is read before writing); the shared contract suite holds both layers to the same outcomes.
 *
 * Rules (the store never decodes or verifies; the pipeline did that):
 * - announcements first, then updates, then node announcements (so one batch may carry a channel and its gossip);
 * - an announcement for a channel we hold is counted `channelsKnown`; a new one clears the scid's zombie mark;
 * - an update for a channel we do not hold is ignored; per direction (channel_flags bit 0) the newest timestamp
 *   wins, an older or equal one is ignored (BOLT 7: "if timestamp is not greater than the last-received ...");
 * - a node announcement is only kept for a node with a channel; newest timestamp wins.
 */
import { Either } from "effect"
import { channelUpdateChecksum } from "../../../domain/Checksum.js"
import { toHex } from "../../../domain/Hex.js"
import type { ChannelAnnouncement, ChannelUpdate, PublicKey } from "../../../domain/Messages.js"
import type { ShortChannelId } from "../../../domain/ShortChannelId.js"
import type { BatchOutcome, GraphBatch } from "../../GraphStore.js"
import { GraphStoreError } from "./error.js"

/**
 * Largest short channel id a store holds: SQL stores scids as signed 64-bit integers (block heights below 2^23,
 * i.e. for the next ~150 years). Ids above it can never be held; queries treat them as unknown.
 */
export const MAX_STORABLE_SCID: ShortChannelId = (1n << 63n) - 1n

export const isStorableScid = (scid: ShortChannelId): boolean => scid >= 0n && scid <= MAX_STORABLE_SCID

/** BOLT 7: channel_flags bit 0 is the direction (0: node_id_1 signed it). */
export const updateDirection = (update: ChannelUpdate): 0 | 1 => ((update.channelFlags & 1) === 0 ? 0 : 1)

/** What the layer holds, as `planBatch` asks it. */
export interface HeldState {
  readonly hasChannel: (scid: ShortChannelId) => boolean
  /** Timestamp of the stored update for that direction, undefined if none. */
  readonly updateTimestamp: (scid: ShortChannelId, direction: 0 | 1) => number | undefined
  /** Whether the node (lower-case hex id) is an endpoint of a held channel. */
  readonly nodeHasChannel: (nodeHex: string) => boolean
  /** Timestamp of the stored node announcement, undefined if none. */
  readonly nodeTimestamp: (nodeHex: string) => number | undefined
}

export interface PlannedUpdate {
  readonly shortChannelId: ShortChannelId
  readonly direction: 0 | 1
  readonly timestamp: number
  readonly checksum: number
  readonly raw: Uint8Array
}

export interface PlannedNode {
  readonly nodeId: PublicKey
  readonly nodeHex: string
  readonly timestamp: number
  readonly raw: Uint8Array
}

export interface BatchPlan {
  readonly outcome: BatchOutcome
  /** New channels, first occurrence in the batch; their zombie marks are to be cleared. */
  readonly channels: ReadonlyArray<ChannelAnnouncement>
  /** The winning update per (scid, direction), to upsert. */
  readonly updates: ReadonlyArray<PlannedUpdate>
  /** The winning announcement per node, to upsert. */
  readonly nodes: ReadonlyArray<PlannedNode>
}

/**
 * The error for a batch carrying an announcement whose scid no store can hold (the whole batch is refused before
 * anything is written), undefined when every announcement is storable. An update with such a scid is simply for
 * an unknown channel.
 */
export const unstorableAnnouncement = (batch: GraphBatch): GraphStoreError | undefined => {
  for (const c of batch.channels) {
    if (!isStorableScid(c.shortChannelId)) {
      return new GraphStoreError({
        operation: "applyBatch",
        cause: new RangeError(`short channel id ${c.shortChannelId} is beyond block 2^23-1 and cannot be stored`)
      })
    }
  }
  return undefined
}

/** Plans a batch against what is held. Fails (before anything is written) as `unstorableAnnouncement` says. */
export const planBatch = (batch: GraphBatch, held: HeldState): Either.Either<BatchPlan, GraphStoreError> => {
  const unstorable = unstorableAnnouncement(batch)
  if (unstorable !== undefined) return Either.left(unstorable)

  let channelsAdded = 0
  let channelsKnown = 0
  const added = new Map<ShortChannelId, ChannelAnnouncement>()
  const addedNodes = new Set<string>()
  for (const c of batch.channels) {
    if (held.hasChannel(c.shortChannelId) || added.has(c.shortChannelId)) {
      channelsKnown++
      continue
    }
    channelsAdded++
    added.set(c.shortChannelId, c)
    addedNodes.add(toHex(c.nodeId1))
    addedNodes.add(toHex(c.nodeId2))
  }

  let updatesApplied = 0
  let updatesIgnored = 0
  const pendingUpdates = new Map<string, PlannedUpdate>()
  for (const u of batch.updates) {
    const scid = u.shortChannelId
    if (!isStorableScid(scid) || !(held.hasChannel(scid) || added.has(scid))) {
      updatesIgnored++
      continue
    }
    const direction = updateDirection(u)
    const key = `${scid}:${direction}`
    const current = pendingUpdates.get(key)?.timestamp ?? held.updateTimestamp(scid, direction)
    if (current !== undefined && u.timestamp <= current) {
      updatesIgnored++
      continue
    }
    updatesApplied++
    pendingUpdates.set(key, {
      shortChannelId: scid,
      direction,
      timestamp: u.timestamp,
      checksum: channelUpdateChecksum(u.raw),
      raw: u.raw
    })
  }

  let nodesApplied = 0
  let nodesIgnored = 0
  const pendingNodes = new Map<string, PlannedNode>()
  for (const n of batch.nodes) {
    const nodeHex = toHex(n.nodeId)
    if (!(held.nodeHasChannel(nodeHex) || addedNodes.has(nodeHex))) {
      nodesIgnored++
      continue
    }
    const current = pendingNodes.get(nodeHex)?.timestamp ?? held.nodeTimestamp(nodeHex)
    if (current !== undefined && n.timestamp <= current) {
      nodesIgnored++
      continue
    }
    nodesApplied++
    pendingNodes.set(nodeHex, { nodeId: n.nodeId, nodeHex, timestamp: n.timestamp, raw: n.raw })
  }

  return Either.right({
    outcome: { channelsAdded, channelsKnown, updatesApplied, updatesIgnored, nodesApplied, nodesIgnored },
    channels: [...added.values()],
    updates: [...pendingUpdates.values()],
    nodes: [...pendingNodes.values()]
  })
}

/** Clamps a block range to the scid interval it covers (GS-33: inclusive, saturating); undefined when empty. */
export const blockRangeToScids = (
  firstBlock: number,
  lastBlock: number
): { readonly low: ShortChannelId; readonly high: ShortChannelId } | undefined => {
  if (!Number.isFinite(firstBlock) || !Number.isFinite(lastBlock)) return undefined
  const first = Math.max(0, Math.ceil(firstBlock))
  const last = Math.min(0xffffff, Math.floor(lastBlock))
  if (first > last) return undefined
  const low = BigInt(first) << 40n
  const top = ((BigInt(last) + 1n) << 40n) - 1n
  const high = top > MAX_STORABLE_SCID ? MAX_STORABLE_SCID : top
  if (low > high) return undefined
  return { low, high }
}

/** Splits `items` into chunks of at most `size` (SQL `IN` lists, multi-row inserts, stream pages). */
export const chunksOf = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
