/**
 * In-memory GraphStore for tests and the demo's simulated peers. Same rules as the SQL store (`rules.ts`),
 * kept in maps plus sorted indices (by scid for range queries, by timestamp for horizons) so that a peer holding
 * a mainnet-size graph answers quickly. Each write is one synchronous step, hence all-or-nothing.
 *
 * Public as `GraphStore.layerMemory` (a fresh, empty store per layer build) and `GraphStore.makeMemory` (one store
 * per call, e.g. one per simulated peer).
 */
import { Chunk, Clock, Effect, Either, Option, Stream } from "effect"
import { toHex } from "../../../domain/Hex.js"
import type { PublicKey } from "../../../domain/Messages.js"
import type { ShortChannelId } from "../../../domain/ShortChannelId.js"
import type { ChannelState, GraphCounts, GraphStoreService, NodeState, StoredGossip } from "../../GraphStore.js"
import { blockRangeToScids, chunksOf, planBatch } from "./rules.js"
import { SortedKeys } from "./sortedKeys.js"

/** Messages (channels or nodes) per stream page: keeps each step of a lazy stream short and bounded. */
const PAGE = 256

interface StoredUpdate {
  readonly timestamp: number
  readonly checksum: number
  readonly raw: Uint8Array
}

interface StoredChannel {
  readonly raw: Uint8Array
  readonly nodeId1: PublicKey
  readonly nodeId2: PublicKey
  readonly node1: string
  readonly node2: string
  /** Latest update per direction (index = channel_flags bit 0). */
  readonly updates: [StoredUpdate | undefined, StoredUpdate | undefined]
  /** `txid:vout` of the funding output, when a chain source checked it. */
  outpoint: string | undefined
  /** Height of the block that spent the funding output. */
  spentAt: number | undefined
  /** When the announcement was stored (Clock seconds): BOLT 7's two weeks for a first update run from here. */
  readonly receivedAt: number
}

interface StoredNode {
  readonly nodeId: PublicKey
  readonly timestamp: number
  readonly raw: Uint8Array
}

interface UpdateKey {
  readonly timestamp: number
  readonly scid: ShortChannelId
  readonly direction: number
}

interface NodeKey {
  readonly timestamp: number
  readonly node: string
}

const compareUpdateKeys = (a: UpdateKey, b: UpdateKey): number =>
  a.timestamp - b.timestamp || (a.scid < b.scid ? -1 : a.scid > b.scid ? 1 : 0) || a.direction - b.direction

const compareNodeKeys = (a: NodeKey, b: NodeKey): number =>
  a.timestamp - b.timestamp || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0)

const compareScids = (a: ShortChannelId, b: ShortChannelId): number => (a < b ? -1 : a > b ? 1 : 0)

/** Copies so that the store never aliases (or pins) a caller's larger receive buffer. */
const copy = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes)

const newestUpdate = (channel: StoredChannel): number =>
  Math.max(channel.updates[0]?.timestamp ?? 0, channel.updates[1]?.timestamp ?? 0)

const channelState = (scid: ShortChannelId, channel: StoredChannel): ChannelState => ({
  shortChannelId: scid,
  nodeId1: channel.nodeId1,
  nodeId2: channel.nodeId2,
  timestamp1: channel.updates[0]?.timestamp ?? 0,
  timestamp2: channel.updates[1]?.timestamp ?? 0,
  checksum1: channel.updates[0]?.checksum ?? 0,
  checksum2: channel.updates[1]?.checksum ?? 0,
  ...(channel.spentAt === undefined ? {} : { spent: true })
})

export const make: Effect.Effect<GraphStoreService> = Effect.sync(() => {
  const channels = new Map<ShortChannelId, StoredChannel>()
  const byScid = new SortedKeys<ShortChannelId>(compareScids)
  const updatesByTime = new SortedKeys<UpdateKey>(compareUpdateKeys)
  const nodes = new Map<string, StoredNode>()
  const nodesByTime = new SortedKeys<NodeKey>(compareNodeKeys)
  /** Channels per endpoint: a node announcement is only kept while this is positive. */
  const nodeChannels = new Map<string, number>()
  const zombieIds = new Map<ShortChannelId, { readonly nodeId1: PublicKey; readonly nodeId2: PublicKey }>()

  const setUpdate = (scid: ShortChannelId, channel: StoredChannel, direction: 0 | 1, update: StoredUpdate) => {
    const old = channel.updates[direction]
    if (old !== undefined) updatesByTime.delete({ timestamp: old.timestamp, scid, direction })
    channel.updates[direction] = update
    updatesByTime.insert({ timestamp: update.timestamp, scid, direction })
  }

  const setNode = (node: string, stored: StoredNode) => {
    const old = nodes.get(node)
    if (old !== undefined) nodesByTime.delete({ timestamp: old.timestamp, node })
    nodes.set(node, stored)
    nodesByTime.insert({ timestamp: stored.timestamp, node })
  }

  const deleteNode = (node: string) => {
    const old = nodes.get(node)
    if (old === undefined) return
    nodesByTime.delete({ timestamp: old.timestamp, node })
    nodes.delete(node)
  }

  const addNodeChannel = (node: string, delta: number) => {
    const n = (nodeChannels.get(node) ?? 0) + delta
    if (n > 0) nodeChannels.set(node, n)
    else nodeChannels.delete(node)
  }

  const channelGossip = (channel: StoredChannel): StoredGossip => ({
    kind: "ChannelAnnouncement",
    timestamp: newestUpdate(channel),
    raw: channel.raw
  })

  const updateGossip = (update: StoredUpdate): StoredGossip => ({
    kind: "ChannelUpdate",
    timestamp: update.timestamp,
    raw: update.raw
  })

  const nodeGossip = (node: StoredNode): StoredGossip => ({
    kind: "NodeAnnouncement",
    timestamp: node.timestamp,
    raw: node.raw
  })

  const highestChannelId = Effect.sync(() => Option.fromNullable(byScid.last()))

  const channelRange = (firstBlock: number, lastBlock: number) =>
    Effect.sync(() => {
      const range = blockRangeToScids(firstBlock, lastBlock)
      const out: Array<ChannelState> = []
      if (range === undefined) return out
      for (const scid of byScid.walk(range.low)) {
        if (scid > range.high) break
        const channel = channels.get(scid)
        if (channel !== undefined && channel.spentAt === undefined) out.push(channelState(scid, channel))
      }
      return out
    })

  const channelsOf = (ids: ReadonlyArray<ShortChannelId>) =>
    Effect.sync(() => {
      const out = new Map<ShortChannelId, ChannelState>()
      for (const scid of ids) {
        const channel = channels.get(scid)
        if (channel !== undefined) out.set(scid, channelState(scid, channel))
      }
      return out as ReadonlyMap<ShortChannelId, ChannelState>
    })

  const zombies = (ids: ReadonlyArray<ShortChannelId>) =>
    Effect.sync(() => new Set(ids.filter((scid) => zombieIds.has(scid))) as ReadonlySet<ShortChannelId>)

  const nodesOf = (nodeIds: ReadonlyArray<PublicKey>) =>
    Effect.sync(() => {
      const out = new Map<string, NodeState>()
      for (const nodeId of nodeIds) {
        const node = toHex(nodeId)
        const stored = nodes.get(node)
        const hasChannel = nodeChannels.has(node)
        if (stored !== undefined || hasChannel) {
          out.set(node, { nodeId: stored?.nodeId ?? nodeId, timestamp: stored?.timestamp ?? 0, hasChannel })
        }
      }
      return out as ReadonlyMap<string, NodeState>
    })

  // GS-40: per held channel in `ids` order: announcement, updates (direction 0, 1), endpoints' node
  // announcements once per call. Pages of ids keep every step short.
  const gossipForChannels = (ids: ReadonlyArray<ShortChannelId>) =>
    Stream.suspend(() => {
      const sentNodes = new Set<string>()
      return Stream.fromIterable(chunksOf(ids, PAGE)).pipe(
        Stream.mapConcatChunk((page) => {
          const out: Array<StoredGossip> = []
          for (const scid of page) {
            const channel = channels.get(scid)
            if (channel === undefined || channel.spentAt !== undefined) continue
            out.push(channelGossip(channel))
            for (const update of channel.updates) if (update !== undefined) out.push(updateGossip(update))
            for (const node of [channel.node1, channel.node2]) {
              const stored = nodes.get(node)
              if (stored !== undefined && !sentNodes.has(node)) {
                sentNodes.add(node)
                out.push(nodeGossip(stored))
              }
            }
          }
          return Chunk.unsafeFromArray(out)
        })
      )
    })

  // GS-44/45: updates in [start, end) walked by (timestamp, scid, direction); a channel is emitted at its
  // earliest update in the window (announcement, then its in-window updates), so no per-stream set of sent
  // channels is needed. Then node announcements in the window. Each page re-seeks from its cursor.
  const gossipInHorizon = (start: number, end: number) => {
    const inWindow = (t: number) => t >= start && t < end
    const channelPages = Stream.paginateChunkEffect(
      { timestamp: start, scid: -1n, direction: -1 } as UpdateKey,
      (cursor) =>
        Effect.sync(() => {
          const out: Array<StoredGossip> = []
          let emitted = 0
          let last: UpdateKey | undefined
          for (const key of updatesByTime.walk(cursor, true)) {
            if (key.timestamp >= end) return [Chunk.unsafeFromArray(out), Option.none<UpdateKey>()] as const
            last = key
            const channel = channels.get(key.scid)
            const update = channel?.updates[key.direction]
            if (channel === undefined || update === undefined || channel.spentAt !== undefined) continue
            const other = channel.updates[1 - key.direction]
            const otherFirst = other !== undefined &&
              inWindow(other.timestamp) &&
              (other.timestamp < key.timestamp ||
                (other.timestamp === key.timestamp && 1 - key.direction < key.direction))
            if (otherFirst) continue
            out.push(channelGossip(channel), updateGossip(update))
            if (other !== undefined && inWindow(other.timestamp)) out.push(updateGossip(other))
            if (++emitted >= PAGE) break
          }
          const next = emitted >= PAGE && last !== undefined ? Option.some(last) : Option.none<UpdateKey>()
          return [Chunk.unsafeFromArray(out), next] as const
        })
    )
    const nodePages = Stream.paginateChunkEffect(
      { timestamp: start, node: "" } as NodeKey,
      (cursor) =>
        Effect.sync(() => {
          const out: Array<StoredGossip> = []
          let last: NodeKey | undefined
          for (const key of nodesByTime.walk(cursor, true)) {
            if (key.timestamp >= end) return [Chunk.unsafeFromArray(out), Option.none<NodeKey>()] as const
            const stored = nodes.get(key.node)
            if (stored !== undefined) out.push(nodeGossip(stored))
            last = key
            if (out.length >= PAGE) break
          }
          const next = out.length >= PAGE && last !== undefined ? Option.some(last) : Option.none<NodeKey>()
          return [Chunk.unsafeFromArray(out), next] as const
        })
    )
    return Stream.concat(channelPages, nodePages)
  }

  const applyBatch: GraphStoreService["applyBatch"] = (batch) =>
    Effect.flatMap(Clock.currentTimeMillis, (nowMillis) => {
      // Planning reads, then applying cannot fail: the batch lands whole or not at all.
      const plan = planBatch(batch, {
        hasChannel: (scid) => channels.has(scid),
        updateTimestamp: (scid, direction) => channels.get(scid)?.updates[direction]?.timestamp,
        nodeHasChannel: (node) => nodeChannels.has(node),
        nodeTimestamp: (node) => nodes.get(node)?.timestamp
      })
      if (Either.isLeft(plan)) return Effect.fail(plan.left)
      const { channels: added, nodes: nodeWrites, outcome, updates } = plan.right
      for (const c of added) {
        const stored: StoredChannel = {
          raw: copy(c.raw),
          nodeId1: copy(c.nodeId1),
          nodeId2: copy(c.nodeId2),
          node1: toHex(c.nodeId1),
          node2: toHex(c.nodeId2),
          updates: [undefined, undefined],
          outpoint: undefined,
          spentAt: undefined,
          receivedAt: Math.floor(nowMillis / 1000)
        }
        const txid = batch.fundingTxids?.get(c.shortChannelId)
        if (txid !== undefined) stored.outpoint = `${txid}:${Number(c.shortChannelId & 0xffffn)}`
        channels.set(c.shortChannelId, stored)
        byScid.insert(c.shortChannelId)
        zombieIds.delete(c.shortChannelId) // a fresh announcement revives a zombie
        addNodeChannel(stored.node1, 1)
        addNodeChannel(stored.node2, 1)
      }
      for (const u of updates) {
        const channel = channels.get(u.shortChannelId)
        if (channel !== undefined) {
          setUpdate(u.shortChannelId, channel, u.direction, {
            timestamp: u.timestamp,
            checksum: u.checksum,
            raw: copy(u.raw)
          })
        }
      }
      for (const n of nodeWrites) {
        setNode(n.nodeHex, { nodeId: copy(n.nodeId), timestamp: n.timestamp, raw: copy(n.raw) })
      }
      return Effect.succeed(outcome)
    })

  /**
   * Drops held channels with their updates, and the node announcements left without a channel; `asZombies` also
   * remembers their ids (with the node ids, for lnd's resurrection check) so range replies do not bring them back.
   */
  const removeChannels = (scids: ReadonlyArray<ShortChannelId>, asZombies: boolean) => {
    for (const scid of scids) {
      const channel = channels.get(scid)
      if (channel === undefined) continue
      channels.delete(scid)
      byScid.delete(scid)
      channel.updates.forEach((update, direction) => {
        if (update !== undefined) updatesByTime.delete({ timestamp: update.timestamp, scid, direction })
      })
      if (asZombies) zombieIds.set(scid, { nodeId1: channel.nodeId1, nodeId2: channel.nodeId2 })
      for (const node of [channel.node1, channel.node2]) {
        addNodeChannel(node, -1)
        if (!nodeChannels.has(node)) deleteNode(node)
      }
    }
  }

  // BOLT 7: a channel whose newest update is older than `olderThan` is pruned and remembered as a zombie (lnd's
  // zombie index: policies gone stale). One with no update at all is pruned too, once its announcement was received
  // before `olderThan` (BOLT 7: no update within two weeks of receipt; before, its updates may just be on their way,
  // mid-sync or a moment behind a new channel's announcement), but NOT as a zombie: a zombie is never asked for
  // again (GS-20), so the next range reply listing it must fetch it afresh (issue 13/15).
  const prune = (olderThan: number) =>
    Effect.sync(() => {
      const stale: Array<ShortChannelId> = []
      const bare: Array<ShortChannelId> = []
      for (const [scid, channel] of channels) {
        if (newestUpdate(channel) >= olderThan) continue
        if (channel.updates[0] === undefined && channel.updates[1] === undefined) {
          if (channel.receivedAt < olderThan) bare.push(scid)
        } else stale.push(scid)
      }
      removeChannels(stale, true)
      removeChannels(bare, false)
      return { channelsPruned: stale.length + bare.length }
    })

  const markSpent = (outpoints: ReadonlyArray<string>, height: number) =>
    Effect.sync(() => {
      const wanted = new Set(outpoints)
      const marked: Array<ShortChannelId> = []
      for (const [scid, channel] of channels) {
        if (channel.spentAt === undefined && channel.outpoint !== undefined && wanted.has(channel.outpoint)) {
          channel.spentAt = height
          marked.push(scid)
        }
      }
      return marked as ReadonlyArray<ShortChannelId>
    })

  const forgetSpent = (height: number) =>
    Effect.sync(() => {
      const gone: Array<ShortChannelId> = []
      for (const [scid, channel] of channels) {
        if (channel.spentAt !== undefined && channel.spentAt <= height) gone.push(scid)
      }
      removeChannels(gone, true)
      return { channelsForgotten: gone.length }
    })

  const counts = Effect.sync((): GraphCounts => {
    return {
      channels: channels.size,
      updates: updatesByTime.size,
      nodes: nodes.size,
      zombies: zombieIds.size,
      newestTimestamp: Math.max(updatesByTime.last()?.timestamp ?? 0, nodesByTime.last()?.timestamp ?? 0)
    }
  })

  return {
    highestChannelId,
    channelRange,
    channels: channelsOf,
    zombies,
    nodes: nodesOf,
    gossipForChannels,
    gossipInHorizon,
    applyBatch,
    prune,
    counts,
    markSpent,
    forgetSpent
  }
})
