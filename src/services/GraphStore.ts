/**
 * GraphStore: the channel graph as a time series of signed gossip (lnd's ChannelGraphTimeSeries, GS-3).
 *
 * It answers what a GossipSyncer asks (what we have in a block range, what we lack from a peer's list, what to
 * send for a query or a timestamp filter) and takes validated gossip in batches. It stores the raw signed bytes of
 * every message so that peers are served exactly what was signed. Validation (signatures, BOLT 7 receive rules) is
 * the pipeline's job; the store only enforces what keeps the graph consistent: newest timestamp wins, updates and
 * node announcements only for known channels / nodes with a channel.
 *
 * Layers: `layerMemory` here (tests, the demo's simulated peers); `GraphStoreSqlite.layer(config)` in
 * `src/layers/graph/` for a file on disk.
 */
import type { Effect, Option, Stream } from "effect"
import { Context, Layer } from "effect"
import type { ChannelAnnouncement, ChannelUpdate, NodeAnnouncement, PublicKey } from "../domain/Messages.js"
import type { ShortChannelId } from "../domain/ShortChannelId.js"
import type { GraphStoreError } from "./internal/graphStore/error.js"
import * as memory from "./internal/graphStore/memory.js"

export { GraphStoreChainMismatch, GraphStoreError } from "./internal/graphStore/error.js"
/** The store rules every implementation shares (the memory and SQL stores; a PostgreSQL one would too). */
export {
  blockRangeToScids,
  chunksOf,
  isStorableScid,
  MAX_STORABLE_SCID,
  planBatch,
  unstorableAnnouncement,
  updateDirection
} from "./internal/graphStore/rules.js"
export type { BatchPlan, HeldState, PlannedNode, PlannedUpdate } from "./internal/graphStore/rules.js"

/** A channel we hold, as the syncer and the validator need it. Timestamps/checksums are 0 when that direction has no update. */
export interface ChannelState {
  readonly shortChannelId: ShortChannelId
  readonly nodeId1: PublicKey
  readonly nodeId2: PublicKey
  readonly timestamp1: number
  readonly timestamp2: number
  readonly checksum1: number
  readonly checksum2: number
  /** Its funding output is spent (a chain source saw it): kept, not relayed, forgotten 72 blocks on (BOLT 7). */
  readonly spent?: boolean | undefined
}

/** A node we hold: the timestamp of its latest announcement (0 if none yet) and whether it has a channel. */
export interface NodeState {
  readonly nodeId: PublicKey
  readonly timestamp: number
  readonly hasChannel: boolean
}

/** One signed message ready to be sent to a peer, exactly as received. */
export interface StoredGossip {
  readonly kind: "ChannelAnnouncement" | "ChannelUpdate" | "NodeAnnouncement"
  /** Update/node-announcement timestamp; for a channel announcement, the newest of its updates' timestamps (0 if none). */
  readonly timestamp: number
  readonly raw: Uint8Array
}

/** Validated gossip to write in one transaction. Announcements are applied before updates, updates before nodes. */
export interface GraphBatch {
  readonly channels: ReadonlyArray<ChannelAnnouncement>
  readonly updates: ReadonlyArray<ChannelUpdate>
  readonly nodes: ReadonlyArray<NodeAnnouncement>
  /** Funding output values (satoshis) of announced channels, when a chain source checked them (BOLT 7). */
  readonly capacities?: ReadonlyMap<ShortChannelId, bigint> | undefined
  /** Funding transaction ids (hex) of announced channels a chain source checked: how their spends are found. */
  readonly fundingTxids?: ReadonlyMap<ShortChannelId, string> | undefined
}

export interface BatchOutcome {
  readonly channelsAdded: number
  /** Announcements for channels we already had. */
  readonly channelsKnown: number
  readonly updatesApplied: number
  /** Updates not newer than the stored one, or for a channel we do not have. */
  readonly updatesIgnored: number
  readonly nodesApplied: number
  /** Node announcements not newer than the stored one, or for a node without a channel. */
  readonly nodesIgnored: number
}

export interface GraphCounts {
  readonly channels: number
  readonly updates: number
  readonly nodes: number
  readonly zombies: number
  /** Newest update or node-announcement timestamp held (0 for an empty graph). */
  readonly newestTimestamp: number
}

export interface GraphStoreService {
  /** Highest short channel id we hold (GS-8 uses its block height). */
  readonly highestChannelId: Effect.Effect<Option.Option<ShortChannelId>, GraphStoreError>
  /** Channels in blocks `firstBlock..lastBlock` inclusive, ascending by short channel id (GS-33). */
  readonly channelRange: (
    firstBlock: number,
    lastBlock: number
  ) => Effect.Effect<ReadonlyArray<ChannelState>, GraphStoreError>
  /** The channels among `ids` that we hold, keyed by short channel id. */
  readonly channels: (
    ids: ReadonlyArray<ShortChannelId>
  ) => Effect.Effect<ReadonlyMap<ShortChannelId, ChannelState>, GraphStoreError>
  /** The ids among `ids` that are zombies (pruned; not to be fetched again until a fresh update is seen). */
  readonly zombies: (ids: ReadonlyArray<ShortChannelId>) => Effect.Effect<ReadonlySet<ShortChannelId>, GraphStoreError>
  /** The nodes among `nodeIds` that we hold, keyed by lower-case hex node id. */
  readonly nodes: (nodeIds: ReadonlyArray<PublicKey>) => Effect.Effect<ReadonlyMap<string, NodeState>, GraphStoreError>
  /**
   * What to send for a `query_short_channel_ids` (GS-40): for each held channel in `ids` order its announcement,
   * its updates, then each endpoint's node announcement (once per call).
   */
  readonly gossipForChannels: (ids: ReadonlyArray<ShortChannelId>) => Stream.Stream<StoredGossip, GraphStoreError>
  /**
   * Stored gossip with timestamps in `[start, end)` (GS-44/45): each channel announcement with any update in the
   * window followed by its updates in the window, then node announcements in the window. Lazy and bounded in memory.
   */
  readonly gossipInHorizon: (start: number, end: number) => Stream.Stream<StoredGossip, GraphStoreError>
  /** Writes a batch in one transaction; all or nothing. */
  readonly applyBatch: (batch: GraphBatch) => Effect.Effect<BatchOutcome, GraphStoreError>
  /**
   * BOLT 7 pruning: removes channels whose both directions (or whose only direction) are older than `olderThan`
   * (unix seconds), keeping their ids as zombies (lnd's index: only a fresh, correctly signed update brings one
   * back); channels with no update at all whose announcement was received before `olderThan` (BOLT 7: no update
   * within two weeks of receipt) are removed without a zombie mark, so the next range reply that lists them fetches
   * them again; and node announcements left without a channel.
   */
  readonly prune: (olderThan: number) => Effect.Effect<{ readonly channelsPruned: number }, GraphStoreError>
  readonly counts: Effect.Effect<GraphCounts, GraphStoreError>
  /**
   * Marks the held channels whose funding outpoint (`txid:vout`, from `fundingTxids`) is in `outpoints` as spent
   * at `height`, returning them. A spent channel stays held (its announcement and updates are Duplicates, so it is
   * not fetched again) but is no longer served: not in `channelRange`, `gossipForChannels` or `gossipInHorizon`.
   * Optional: a store that tracks no spends (a test double) leaves it and `forgetSpent` out.
   */
  readonly markSpent?: (
    outpoints: ReadonlyArray<string>,
    height: number
  ) => Effect.Effect<ReadonlyArray<ShortChannelId>, GraphStoreError>
  /** BOLT 7: forgets channels spent at or below `height` (kept as zombies, so range replies do not bring them back). */
  readonly forgetSpent?: (height: number) => Effect.Effect<{ readonly channelsForgotten: number }, GraphStoreError>
}

export class GraphStore extends Context.Tag("lnsync/GraphStore")<GraphStore, GraphStoreService>() {}

/** A fresh, empty in-memory store (one per call: e.g. one per simulated peer). Same rules as the SQL store. */
export const makeMemory: Effect.Effect<GraphStoreService> = memory.make

/** A fresh, empty in-memory store per layer build. */
export const layerMemory: Layer.Layer<GraphStore> = Layer.effect(GraphStore, makeMemory)
