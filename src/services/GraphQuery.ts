/**
 * GraphQuery: the channel graph as people read it — nodes with their alias, colour and addresses, channels with
 * both directions' fee policies — for the HTTP API and `lnsync export`. It reads the decoded columns the SQL store
 * keeps beside every raw message (written in the same transaction as the message; see `GraphStoreSql` migration 4),
 * never the raw bytes, so a lookup is a couple of indexed reads.
 *
 * Layers: `GraphQuerySql.layer` over the store's SqlClient and `GraphQuerySqlite.layer({ filename })` in
 * `src/layers/graph/`. The memory store has no query side (it is for tests and simulated peers).
 */
import type { Effect, Option, Stream } from "effect"
import { Context } from "effect"
import type { PublicKey } from "../domain/Messages.js"
import type { ShortChannelId } from "../domain/ShortChannelId.js"
import type { GraphStoreError } from "./GraphStore.js"
import type { AddressColumn } from "./internal/graphQuery/columns.js"

export {
  addressColumns,
  aliasText,
  channelColumns,
  colorText,
  MAX_SQL_INTEGER,
  nodeColumns,
  updateColumns
} from "./internal/graphQuery/columns.js"
export type { AddressColumn } from "./internal/graphQuery/columns.js"

/** A node of the graph: an endpoint of a held channel, announced or not (lnd keeps such "shell" nodes too). */
export interface NodeInfo {
  /** Lower-case hex. */
  readonly nodeId: string
  /** Whether we hold a node_announcement for it; the fields below are null/empty/0 when not. */
  readonly announced: boolean
  readonly alias: string | null
  /** `#rrggbb`. */
  readonly color: string | null
  /** Feature bits, hex of the big-endian bytes as announced. */
  readonly features: string | null
  readonly addresses: ReadonlyArray<AddressColumn>
  /** Timestamp of the announcement held (unix seconds), 0 when none. */
  readonly lastUpdate: number
}

/** One direction of a channel: the newest channel_update held for it. */
export interface PolicyInfo {
  readonly feeBaseMsat: number
  readonly feeProportionalMillionths: number
  readonly cltvExpiryDelta: number
  readonly htlcMinimumMsat: bigint
  /** Null for an update without `htlc_maximum_msat` (old 130-byte updates). */
  readonly htlcMaximumMsat: bigint | null
  readonly disabled: boolean
  readonly lastUpdate: number
}

export interface ChannelInfo {
  readonly shortChannelId: ShortChannelId
  readonly nodeId1: string
  readonly nodeId2: string
  /** Funding amount when a chain source gave it; null otherwise (the "none" chain source never does). */
  readonly capacitySat: bigint | null
  /** Feature bits of the announcement, hex. */
  readonly features: string
  /** node_id_1's direction (channel_flags bit 0 = 0), null until an update is held. */
  readonly policy1: PolicyInfo | null
  readonly policy2: PolicyInfo | null
}

export interface GraphStats {
  readonly channels: number
  readonly updates: number
  /** Node announcements held. */
  readonly nodes: number
  /** Nodes that are an endpoint of a held channel (announced or not). */
  readonly nodesWithChannel: number
  readonly zombies: number
  /** Newest channel_update timestamp held (0 for none). */
  readonly newestUpdate: number
  /** Newest node_announcement timestamp held (0 for none). */
  readonly newestNodeAnnouncement: number
}

export interface NodePageRequest {
  /** Case-insensitive (ASCII) alias prefix; every node when absent. */
  readonly aliasPrefix?: string | undefined
  readonly limit: number
  /** The `next` of the previous page. */
  readonly cursor?: NodeCursor | undefined
}

/** Where a page of nodes ended: pages are in (alias, node id) order. */
export interface NodeCursor {
  readonly alias: string
  readonly nodeId: string
}

export interface NodePage {
  readonly nodes: ReadonlyArray<NodeInfo>
  readonly next: Option.Option<NodeCursor>
}

export interface GraphQueryService {
  readonly stats: Effect.Effect<GraphStats, GraphStoreError>
  readonly node: (nodeId: PublicKey) => Effect.Effect<Option.Option<NodeInfo>, GraphStoreError>
  /** Announced nodes, by alias prefix, a page at a time. */
  readonly nodes: (request: NodePageRequest) => Effect.Effect<NodePage, GraphStoreError>
  /** The channels of a node (none for an unknown node), by short channel id. */
  readonly nodeChannels: (nodeId: PublicKey) => Effect.Effect<ReadonlyArray<ChannelInfo>, GraphStoreError>
  readonly channel: (scid: ShortChannelId) => Effect.Effect<Option.Option<ChannelInfo>, GraphStoreError>
  /** Every node of the graph by node id, read a page at a time (never the whole graph in memory). */
  readonly allNodes: Stream.Stream<NodeInfo, GraphStoreError>
  /** Every channel by short channel id, read a page at a time. */
  readonly allChannels: Stream.Stream<ChannelInfo, GraphStoreError>
}

export class GraphQuery extends Context.Tag("lnsync/GraphQuery")<GraphQuery, GraphQueryService>() {}
