/**
 * The graph in JSON: GraphQuery's values in the API's shapes (`HttpApi.ts`), and lnd's `describegraph` shape (lnrpc
 * ChannelGraph as `lncli describegraph` prints it: proto field names, 64-bit integers as strings) so tools written
 * for lnd read lnsync's graph unchanged. Shared by the HTTP API and `lnsync export`.
 */
import { Chunk, Schema, Stream } from "effect"
import { fromHex } from "../../domain/Hex.js"
import * as Features from "../../domain/Features.js"
import * as ShortChannelId from "../../domain/ShortChannelId.js"
import type { AddressColumn, ChannelInfo, GraphQueryService, NodeInfo, PolicyInfo } from "../../services/GraphQuery.js"
import type { GraphStoreError } from "../../services/GraphStore.js"
import * as Api from "./HttpApi.js"

export const node = (n: NodeInfo): Api.Node => ({
  node_id: n.nodeId,
  announced: n.announced,
  alias: n.alias,
  color: n.color,
  features: n.features,
  addresses: n.addresses,
  last_update: n.lastUpdate
})

const policy = (p: PolicyInfo | null) =>
  p === null ? null : {
    fee_base_msat: p.feeBaseMsat,
    fee_proportional_millionths: p.feeProportionalMillionths,
    cltv_expiry_delta: p.cltvExpiryDelta,
    htlc_minimum_msat: p.htlcMinimumMsat,
    htlc_maximum_msat: p.htlcMaximumMsat,
    disabled: p.disabled,
    last_update: p.lastUpdate
  }

export const channel = (c: ChannelInfo): Api.Channel => ({
  short_channel_id: ShortChannelId.format(c.shortChannelId),
  channel_id: c.shortChannelId,
  node1: c.nodeId1,
  node2: c.nodeId2,
  capacity_sat: c.capacitySat,
  features: c.features,
  node1_policy: policy(c.policy1),
  node2_policy: policy(c.policy2)
})

// ---------------------------------------------------------------------------------------------------------------
// lnd describegraph

type LndNode = typeof Api.LndNode.Type
type LndEdge = typeof Api.LndChannelEdge.Type
type LndPolicy = typeof Api.LndRoutingPolicy.Type

/** lnd's NodeAddress: `network` is "tcp" for every kind (onions included), `addr` is host:port. */
const lndAddress = (a: AddressColumn) => ({
  network: "tcp",
  addr: a.type === "ipv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`
})

const FEATURE_NAMES: ReadonlyMap<number, string> = new Map(
  Features.NAMED.flatMap((f) => [[f.even, f.name], [f.odd, f.name]] as const)
)

/** lnd's feature map: every set bit, keyed by its number, with the BOLT 9 name where we know it. */
export const lndFeatures = (hex: string | null): Record<string, typeof Api.LndFeature.Type> => {
  const out: Record<string, typeof Api.LndFeature.Type> = {}
  if (hex === null || hex === "") return out
  const bytes = fromHex(hex)
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    if (!Features.has(bytes, bit)) continue
    const name = FEATURE_NAMES.get(bit)
    out[String(bit)] = { name: name ?? "unknown", is_required: bit % 2 === 0, is_known: name !== undefined }
  }
  return out
}

export const lndNode = (n: NodeInfo): LndNode => ({
  last_update: n.lastUpdate,
  pub_key: n.nodeId,
  alias: n.alias ?? "",
  addresses: n.addresses.map(lndAddress),
  color: n.color ?? "#000000",
  features: lndFeatures(n.features),
  custom_records: {}
})

const lndPolicy = (p: PolicyInfo | null): LndPolicy | null =>
  p === null ? null : {
    time_lock_delta: p.cltvExpiryDelta,
    min_htlc: String(p.htlcMinimumMsat),
    fee_base_msat: String(p.feeBaseMsat),
    fee_rate_milli_msat: String(p.feeProportionalMillionths),
    disabled: p.disabled,
    max_htlc_msat: String(p.htlcMaximumMsat ?? 0n),
    last_update: p.lastUpdate,
    custom_records: {},
    inbound_fee_base_msat: 0,
    inbound_fee_rate_milli_msat: 0
  }

export const lndEdge = (c: ChannelInfo): LndEdge => ({
  channel_id: String(c.shortChannelId),
  chan_point: "",
  last_update: Math.max(c.policy1?.lastUpdate ?? 0, c.policy2?.lastUpdate ?? 0),
  node1_pub: c.nodeId1,
  node2_pub: c.nodeId2,
  capacity: String(c.capacitySat ?? 0n),
  node1_policy: lndPolicy(c.policy1),
  node2_policy: lndPolicy(c.policy2),
  custom_records: {}
})

/** Joins each chunk's items into one text (one write per page of rows, not per row). */
const joined = <A>(items: Stream.Stream<A, GraphStoreError>, render: (a: A) => string) =>
  items.pipe(
    Stream.mapChunks((chunk) => Chunk.of(Chunk.toReadonlyArray(chunk).map(render).join(","))),
    Stream.filter((text) => text.length > 0),
    Stream.zipWithIndex,
    Stream.map(([text, i]) => (i === 0 ? text : `,${text}`))
  )

/** `{"nodes":[...],"edges":[...]}`, as text pieces, one per page of rows: the whole graph never in memory. */
export const describeGraph = (query: GraphQueryService): Stream.Stream<string, GraphStoreError> =>
  Stream.concatAll(Chunk.make(
    Stream.make("{\"nodes\":["),
    joined(query.allNodes, (n) => JSON.stringify(lndNode(n))),
    Stream.make("],\"edges\":["),
    joined(query.allChannels, (c) => JSON.stringify(lndEdge(c))),
    Stream.make("]}\n")
  ))

const encodeNode = Schema.encodeSync(Api.Node)
const encodeChannel = Schema.encodeSync(Api.Channel)

/** One JSON object a line: every node (`"kind":"node"`), then every channel (`"kind":"channel"`), in API shapes. */
export const jsonLines = (query: GraphQueryService): Stream.Stream<string, GraphStoreError> =>
  Stream.concat(
    query.allNodes.pipe(Stream.mapChunks((c) =>
      Chunk.of(
        Chunk.toReadonlyArray(c).map((n) => `${JSON.stringify({ kind: "node", ...encodeNode(node(n)) })}\n`).join("")
      )
    )),
    query.allChannels.pipe(Stream.mapChunks((c) =>
      Chunk.of(
        Chunk.toReadonlyArray(c).map((ch) => `${JSON.stringify({ kind: "channel", ...encodeChannel(channel(ch)) })}\n`)
          .join("")
      )
    ))
  ).pipe(Stream.filter((text) => text.length > 0))
