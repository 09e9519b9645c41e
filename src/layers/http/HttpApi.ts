/**
 * The lnsync HTTP API, declared once with `@effect/platform`'s HttpApi: paths, parameter schemas (which make bad
 * input a 400 with a JSON reason before any handler runs), response shapes and errors. The same declaration yields
 * the server (`HttpServer.ts`) and the OpenAPI document served at `/openapi.json`.
 *
 * JSON conventions: snake_case like lnd and CLN; node ids lower-case hex; u64 amounts and scids in decimal strings
 * (JSON numbers lose precision above 2^53); short channel ids also as `BLOCKxTXxOUT`.
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { ParseResult, Schema } from "effect"
import * as ShortChannelId from "../../domain/ShortChannelId.js"
import * as Metrics from "../../services/Metrics.js"
import { Distributions, History } from "./DashboardApi.js"

// ---------------------------------------------------------------------------------------------------------------
// Parameters

/** A node id in a path: 66 hex digits (a 33-byte compressed public key), either case. */
export const NodeIdParam = Schema.String.pipe(
  Schema.pattern(/^[0-9a-fA-F]{66}$/, { message: () => "node_id must be 66 hex digits (a 33-byte public key)" }),
  Schema.annotations({ description: "node id, 66 hex digits", examples: ["02" + "ab".repeat(32)] })
)

const U64_MAX = (1n << 64n) - 1n

/** `BLOCKxTXxOUT` or the 64-bit integer form, decoded to the bigint scid. */
export const ScidParam = Schema.transformOrFail(Schema.String, Schema.BigIntFromSelf, {
  strict: true,
  decode: (text, _, ast) => {
    const formatted = ShortChannelId.parse(text)
    if (formatted !== undefined) return ParseResult.succeed(formatted)
    if (/^\d{1,20}$/.test(text) && BigInt(text) <= U64_MAX) return ParseResult.succeed(BigInt(text))
    return ParseResult.fail(
      new ParseResult.Type(
        ast,
        text,
        `scid must be BLOCKxTXxOUT (e.g. 800000x1234x1) or a 64-bit integer, got "${text.slice(0, 40)}"`
      )
    )
  },
  encode: (scid) => ParseResult.succeed(ShortChannelId.format(scid))
}).annotations({ description: "short channel id: BLOCKxTXxOUT or its 64-bit integer form" })

const Limit = Schema.NumberFromString.pipe(
  Schema.int({ message: () => "limit must be an integer" }),
  Schema.between(1, 1000, { message: () => "limit must be between 1 and 1000" })
)

// ---------------------------------------------------------------------------------------------------------------
// Shapes

/** A u64 as a decimal string (JSON numbers are doubles). */
const U64 = Schema.BigInt.annotations({ description: "unsigned 64-bit integer, decimal string" })

export const Address = Schema.Struct({
  type: Schema.Literal("ipv4", "ipv6", "torv3", "dns"),
  address: Schema.String,
  port: Schema.Number
})

export const Node = Schema.Struct({
  node_id: Schema.String,
  /** false: the node has a channel but we hold no node_announcement of it. */
  announced: Schema.Boolean,
  alias: Schema.NullOr(Schema.String),
  color: Schema.NullOr(Schema.String),
  features: Schema.NullOr(Schema.String).annotations({ description: "feature bits, hex" }),
  addresses: Schema.Array(Address),
  last_update: Schema.Number.annotations({ description: "node_announcement timestamp (unix s), 0 when none" })
}).annotations({ identifier: "Node" })
export type Node = typeof Node.Type

export const Policy = Schema.Struct({
  fee_base_msat: Schema.Number,
  fee_proportional_millionths: Schema.Number,
  cltv_expiry_delta: Schema.Number,
  htlc_minimum_msat: U64,
  htlc_maximum_msat: Schema.NullOr(U64),
  disabled: Schema.Boolean,
  last_update: Schema.Number
}).annotations({ identifier: "Policy" })

export const Channel = Schema.Struct({
  short_channel_id: Schema.String.annotations({ description: "BLOCKxTXxOUT" }),
  channel_id: U64.annotations({ description: "the scid as a 64-bit integer (lnd's channel_id)" }),
  node1: Schema.String,
  node2: Schema.String,
  capacity_sat: Schema.NullOr(U64).annotations({ description: "null unless a chain source gave it" }),
  features: Schema.String.annotations({ description: "feature bits, hex" }),
  node1_policy: Schema.NullOr(Policy).annotations({ description: "the direction node1 publishes" }),
  node2_policy: Schema.NullOr(Policy)
}).annotations({ identifier: "Channel" })
export type Channel = typeof Channel.Type

export const NodePage = Schema.Struct({
  nodes: Schema.Array(Node),
  next_cursor: Schema.NullOr(Schema.String).annotations({ description: "pass as ?cursor= for the next page" })
})

export const NodeChannels = Schema.Struct({ node_id: Schema.String, channels: Schema.Array(Channel) })

export const PeerStatus = Schema.Struct({
  node_id: Schema.String,
  sync_type: Schema.NullOr(Schema.String),
  state: Schema.NullOr(Schema.String),
  completed_syncs: Schema.Number,
  failures: Schema.Number,
  last_failure: Schema.NullOr(Schema.String),
  completed_initial: Schema.Boolean,
  syncing: Schema.Boolean
})

export const Stats = Schema.Struct({
  channels: Schema.Number,
  updates: Schema.Number,
  nodes: Schema.Number.annotations({ description: "node announcements held" }),
  nodes_with_channel: Schema.Number,
  zombies: Schema.Number,
  newest_update: Schema.Number,
  newest_node_announcement: Schema.Number,
  age_seconds: Schema.NullOr(Schema.Number).annotations({ description: "now minus the newest timestamp held" }),
  mode: Schema.Literal("serve", "sync"),
  graph_synced: Schema.Boolean,
  peers: Schema.Array(PeerStatus)
})

// lnd's `lncli describegraph` (lnrpc ChannelGraph, protojson with proto names): int64/uint64 fields are strings.
export const LndNodeAddress = Schema.Struct({ network: Schema.String, addr: Schema.String })
export const LndFeature = Schema.Struct({ name: Schema.String, is_required: Schema.Boolean, is_known: Schema.Boolean })
export const LndNode = Schema.Struct({
  last_update: Schema.Number,
  pub_key: Schema.String,
  alias: Schema.String,
  addresses: Schema.Array(LndNodeAddress),
  color: Schema.String,
  features: Schema.Record({ key: Schema.String, value: LndFeature }),
  custom_records: Schema.Record({ key: Schema.String, value: Schema.String })
}).annotations({ identifier: "LightningNode" })
export const LndRoutingPolicy = Schema.Struct({
  time_lock_delta: Schema.Number,
  min_htlc: Schema.String,
  fee_base_msat: Schema.String,
  fee_rate_milli_msat: Schema.String,
  disabled: Schema.Boolean,
  max_htlc_msat: Schema.String,
  last_update: Schema.Number,
  custom_records: Schema.Record({ key: Schema.String, value: Schema.String }),
  inbound_fee_base_msat: Schema.Number,
  inbound_fee_rate_milli_msat: Schema.Number
}).annotations({ identifier: "RoutingPolicy" })
export const LndChannelEdge = Schema.Struct({
  channel_id: Schema.String,
  chan_point: Schema.String.annotations({ description: "empty: the funding outpoint needs a chain source" }),
  last_update: Schema.Number,
  node1_pub: Schema.String,
  node2_pub: Schema.String,
  capacity: Schema.String,
  node1_policy: Schema.NullOr(LndRoutingPolicy),
  node2_policy: Schema.NullOr(LndRoutingPolicy),
  custom_records: Schema.Record({ key: Schema.String, value: Schema.String })
}).annotations({ identifier: "ChannelEdge" })
export const DescribeGraph = Schema.Struct({ nodes: Schema.Array(LndNode), edges: Schema.Array(LndChannelEdge) })
  .annotations({ identifier: "ChannelGraph", description: "lnd's describegraph JSON, streamed" })

// ---------------------------------------------------------------------------------------------------------------
// Errors

export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { reason: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { reason: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  { reason: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** The database failed (not the caller's fault). */
export class StorageFailed extends Schema.TaggedError<StorageFailed>()(
  "StorageFailed",
  { reason: Schema.String },
  HttpApiSchema.annotations({ status: 500 })
) {}

// ---------------------------------------------------------------------------------------------------------------
// Endpoints

const nodeIdPath = HttpApiSchema.param("node_id", NodeIdParam)
const scidPath = HttpApiSchema.param("scid", ScidParam)

export class GraphGroup extends HttpApiGroup.make("graph")
  .add(HttpApiEndpoint.get("stats", "/api/v1/stats").addSuccess(Stats))
  .add(
    HttpApiEndpoint.get("nodes", "/api/v1/nodes")
      .setUrlParams(Schema.Struct({
        alias: Schema.optional(
          Schema.String.pipe(Schema.maxLength(32, { message: () => "alias prefix is at most 32 characters" }))
        ),
        limit: Schema.optional(Limit),
        cursor: Schema.optional(Schema.String)
      }))
      .addSuccess(NodePage)
      .addError(BadRequest)
  )
  .add(HttpApiEndpoint.get("node")`/api/v1/nodes/${nodeIdPath}`.addSuccess(Node).addError(NotFound))
  .add(
    HttpApiEndpoint.get("nodeChannels")`/api/v1/nodes/${nodeIdPath}/channels`.addSuccess(NodeChannels).addError(
      NotFound
    )
  )
  .add(HttpApiEndpoint.get("channel")`/api/v1/channels/${scidPath}`.addSuccess(Channel).addError(NotFound))
  .add(HttpApiEndpoint.get("describeGraph", "/api/v1/graph").addSuccess(DescribeGraph))
  .addError(StorageFailed)
  .annotate(OpenApi.Description, "The channel graph held in the database")
{}

export class OpsGroup extends HttpApiGroup.make("ops")
  .add(HttpApiEndpoint.get("health", "/health").addSuccess(Schema.Struct({ status: Schema.Literal("ok") })))
  .add(
    HttpApiEndpoint.get("ready", "/ready")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ready") }))
      .addError(NotReady)
  )
  .add(
    HttpApiEndpoint.get("metrics", "/metrics").addSuccess(
      HttpApiSchema.Text({ contentType: Metrics.CONTENT_TYPE })
    )
  )
  .annotate(OpenApi.Description, "Liveness, readiness (graph synced) and Prometheus metrics")
{}

/** What the dashboard at `/` plots (shapes in `DashboardApi.ts`). */
export class DashboardGroup extends HttpApiGroup.make("dashboard")
  .add(HttpApiEndpoint.get("history", "/api/v1/history").addSuccess(History))
  .add(HttpApiEndpoint.get("distributions", "/api/v1/distributions").addSuccess(Distributions).addError(NotReady))
  .addError(StorageFailed)
  .annotate(OpenApi.Description, "The graph's counts over time and its fee and capacity histograms (the dashboard)")
{}

export class LnsyncApi extends HttpApi.make("lnsync")
  .add(GraphGroup)
  .add(OpsGroup)
  .add(DashboardGroup)
  .annotate(OpenApi.Title, "lnsync")
  .annotate(OpenApi.Description, "The Lightning Network channel graph lnsync holds, decoded")
{}

/** The OpenAPI document (what `/openapi.json` serves). */
export const openApiDocument = (): OpenApi.OpenAPISpec => OpenApi.fromApi(LnsyncApi)
