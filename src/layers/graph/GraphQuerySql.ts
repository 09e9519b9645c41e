/**
 * GraphQuery over `@effect/sql`'s SqlClient: reads the decoded columns of migration 4 (see `GraphStoreSql`), in the
 * same portable SQL as the store, on SQLite and PostgreSQL alike (PG binding: `GraphQueryPg`). PG differences are
 * named in `// PG:` comments: `hex(bytea)` is the SQLite-compatible function migration 1 creates; BIGINT comes back
 * as text and BYTEA as Buffers, so integers go through `toBig`/`toNum` (SQLite's bigints read as before).
 *
 * - Node and channel lookups are primary-key reads (`nodes`, `channel_endpoints`, `channels`, and the two
 *   `channel_updates` rows of a channel).
 * - A node's channels: `channels` has no per-node index (migration 2 dropped them to make sync writes cheaper), so
 *   this is one scan of `channels` (mainnet size: see the README's bench:api figures); fine for an occasional call.
 * - Alias search scans `nodes` (17k rows on mainnet), in (alias, node_id) order, keyset-paginated.
 * - Whole-graph streams page through primary keys PAGE rows at a time, so they never hold the graph.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { Fragment } from "@effect/sql/Statement"
import { Chunk, Effect, Layer, Option, Stream } from "effect"
import { fromHex } from "../../domain/Hex.js"
import type { PublicKey } from "../../domain/Messages.js"
import type { ShortChannelId } from "../../domain/ShortChannelId.js"
import type {
  AddressColumn,
  ChannelInfo,
  GraphQueryService,
  GraphStats,
  NodeCursor,
  NodeInfo,
  NodePage,
  NodePageRequest,
  PolicyInfo
} from "../../services/GraphQuery.js"
import { GraphQuery } from "../../services/GraphQuery.js"
import { GraphStoreError, isStorableScid } from "../../services/GraphStore.js"
import type { SqlInt } from "./GraphStoreSql.js"
import { graphTotals, toBig, toNum } from "./GraphStoreSql.js"

/** Rows per stream page. */
const PAGE = 512

interface NodeRow {
  readonly node_hex: string
  readonly timestamp: SqlInt | null
  readonly alias: string | null
  readonly rgb_color: string | null
  readonly features: string | null
  readonly addresses: string | null
}

interface ChannelRow {
  readonly scid: SqlInt
  readonly node1_hex: string
  readonly node2_hex: string
  readonly capacity_sat: SqlInt | null
  readonly features: string | null
  readonly t1: SqlInt | null
  readonly base1: SqlInt | null
  readonly ppm1: SqlInt | null
  readonly cltv1: SqlInt | null
  readonly min1: SqlInt | null
  readonly max1: SqlInt | null
  readonly disabled1: SqlInt | null
  readonly t2: SqlInt | null
  readonly base2: SqlInt | null
  readonly ppm2: SqlInt | null
  readonly cltv2: SqlInt | null
  readonly min2: SqlInt | null
  readonly max2: SqlInt | null
  readonly disabled2: SqlInt | null
}

/** The JSON column as written by `nodeColumns`; anything else (a hand-edited row) reads as no addresses. */
const parseAddresses = (json: string | null): ReadonlyArray<AddressColumn> => {
  if (json === null) return []
  try {
    const value: unknown = JSON.parse(json)
    return Array.isArray(value) ? (value as ReadonlyArray<AddressColumn>) : []
  } catch {
    return []
  }
}

const nodeInfo = (r: NodeRow): NodeInfo => {
  const announced = r.timestamp !== null
  return {
    nodeId: r.node_hex,
    announced,
    alias: announced ? (r.alias ?? "") : null,
    color: announced ? (r.rgb_color ?? "#000000") : null,
    features: announced ? (r.features ?? "") : null,
    addresses: parseAddresses(r.addresses),
    lastUpdate: toNum(r.timestamp)
  }
}

const policy = (
  t: SqlInt | null,
  base: SqlInt | null,
  ppm: SqlInt | null,
  cltv: SqlInt | null,
  min: SqlInt | null,
  max: SqlInt | null,
  disabled: SqlInt | null
): PolicyInfo | null =>
  t === null
    ? null
    : {
      feeBaseMsat: toNum(base),
      feeProportionalMillionths: toNum(ppm),
      cltvExpiryDelta: toNum(cltv),
      htlcMinimumMsat: min === null ? 0n : toBig(min),
      htlcMaximumMsat: max === null ? null : toBig(max),
      disabled: toNum(disabled) !== 0,
      lastUpdate: toNum(t)
    }

const channelInfo = (r: ChannelRow): ChannelInfo => ({
  shortChannelId: toBig(r.scid),
  nodeId1: r.node1_hex,
  nodeId2: r.node2_hex,
  capacitySat: r.capacity_sat === null ? null : toBig(r.capacity_sat),
  features: r.features ?? "",
  policy1: policy(r.t1, r.base1, r.ppm1, r.cltv1, r.min1, r.max1, r.disabled1),
  policy2: policy(r.t2, r.base2, r.ppm2, r.cltv2, r.min2, r.max2, r.disabled2)
})

/** `LIKE` pattern for "starts with `prefix`", `\` escaping the pattern characters. */
const prefixPattern = (prefix: string): string => `${prefix.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`

export const make: Effect.Effect<GraphQueryService, never, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const run = <A, R>(operation: string, effect: Effect.Effect<A, SqlError, R>) =>
    effect.pipe(
      Effect.provideService(SqlClient.SafeIntegers, true),
      Effect.mapError((cause) => new GraphStoreError({ operation, cause }))
    )

  const selectChannels = (where: Fragment, tail: Fragment = sql``) =>
    sql<ChannelRow>`
    SELECT c.scid, lower(hex(c.node_id1)) AS node1_hex, lower(hex(c.node_id2)) AS node2_hex, c.capacity_sat, c.features,
      u1.timestamp AS t1, u1.fee_base_msat AS base1, u1.fee_proportional_millionths AS ppm1,
      u1.cltv_expiry_delta AS cltv1, u1.htlc_minimum_msat AS min1, u1.htlc_maximum_msat AS max1, u1.disabled AS disabled1,
      u2.timestamp AS t2, u2.fee_base_msat AS base2, u2.fee_proportional_millionths AS ppm2,
      u2.cltv_expiry_delta AS cltv2, u2.htlc_minimum_msat AS min2, u2.htlc_maximum_msat AS max2, u2.disabled AS disabled2
    FROM channels c
    LEFT JOIN channel_updates u1 ON u1.scid = c.scid AND u1.direction = 0
    LEFT JOIN channel_updates u2 ON u2.scid = c.scid AND u2.direction = 1
    WHERE ${where}
    ORDER BY c.scid ${tail}`

  const nodeColumnsSql = sql`n.timestamp, n.alias, n.rgb_color, n.features, n.addresses`

  // PG: aliases compare byte-wise (`COLLATE "C"`), as SQLite's BINARY does, so pages come in the same order on
  // both and `lower()` folds ASCII only, whatever the database's locale.
  const alias = sql.onDialectOrElse({ pg: () => sql`n.alias COLLATE "C"`, orElse: () => sql`n.alias` })

  const stats = run(
    "stats",
    Effect.map(graphTotals(sql), (t): GraphStats => ({
      channels: t.channels,
      updates: t.updates,
      nodes: t.nodes,
      nodesWithChannel: t.endpoints,
      zombies: t.zombies,
      newestUpdate: t.newestUpdate,
      newestNodeAnnouncement: t.newestNode
    }))
  )

  // A node is in the graph when it has a channel (channel_endpoints) or an announcement (nodes); the store keeps
  // the second a subset of the first, but a lookup asks both so it never depends on that.
  const node = (nodeId: PublicKey) =>
    run(
      "node",
      Effect.gen(function* () {
        const [announced] = yield* sql<NodeRow>`
          SELECT lower(hex(n.node_id)) AS node_hex, ${nodeColumnsSql} FROM nodes n WHERE n.node_id = ${nodeId}`
        if (announced !== undefined) return Option.some(nodeInfo(announced))
        const [endpoint] = yield* sql<{ readonly node_hex: string }>`
          SELECT lower(hex(node_id)) AS node_hex FROM channel_endpoints WHERE node_id = ${nodeId}`
        return endpoint === undefined
          ? Option.none<NodeInfo>()
          : Option.some(
            nodeInfo({
              node_hex: endpoint.node_hex,
              timestamp: null,
              alias: null,
              rgb_color: null,
              features: null,
              addresses: null
            })
          )
      })
    )

  const nodes = (request: NodePageRequest) =>
    run(
      "nodes",
      Effect.map(
        sql<NodeRow>`
          SELECT lower(hex(n.node_id)) AS node_hex, ${nodeColumnsSql} FROM nodes n
          WHERE n.alias IS NOT NULL
            ${
          request.aliasPrefix === undefined || request.aliasPrefix === ""
            ? sql``
            : sql`AND lower(${alias}) LIKE ${prefixPattern(request.aliasPrefix)} ESCAPE '\\'`
        }
            ${
          request.cursor === undefined
            ? sql``
            : sql`AND (${alias}, n.node_id) > (${request.cursor.alias}, ${fromHex(request.cursor.nodeId)})`
        }
          ORDER BY ${alias}, n.node_id
          LIMIT ${request.limit + 1}`,
        (rows): NodePage => {
          const page = rows.slice(0, request.limit).map(nodeInfo)
          const last = page[page.length - 1]
          const next: Option.Option<NodeCursor> = rows.length > request.limit && last !== undefined
            ? Option.some({ alias: last.alias ?? "", nodeId: last.nodeId })
            : Option.none()
          return { nodes: page, next }
        }
      )
    )

  const nodeChannels = (nodeId: PublicKey) =>
    run(
      "nodeChannels",
      Effect.map(
        selectChannels(sql`c.node_id1 = ${nodeId} OR c.node_id2 = ${nodeId}`),
        (rows): ReadonlyArray<ChannelInfo> => rows.map(channelInfo)
      )
    )

  const channel = (scid: ShortChannelId) =>
    isStorableScid(scid)
      ? run(
        "channel",
        Effect.map(selectChannels(sql`c.scid = ${scid}`), ([row]) =>
          row === undefined ? Option.none<ChannelInfo>() : Option.some(channelInfo(row)))
      )
      : Effect.succeed(Option.none<ChannelInfo>())

  const allNodes: Stream.Stream<NodeInfo, GraphStoreError> = Stream.paginateChunkEffect(
    new Uint8Array(0) as Uint8Array,
    (after) =>
      run(
        "allNodes",
        Effect.map(
          sql<NodeRow & { readonly node_id: Uint8Array }>`
            SELECT e.node_id, lower(hex(e.node_id)) AS node_hex, ${nodeColumnsSql}
            FROM channel_endpoints e LEFT JOIN nodes n ON n.node_id = e.node_id
            WHERE e.node_id > ${after} ORDER BY e.node_id LIMIT ${PAGE}`,
          (rows) => {
            const last = rows[rows.length - 1]
            const next = rows.length < PAGE || last === undefined
              ? Option.none<Uint8Array>()
              : Option.some(Uint8Array.from(last.node_id))
            return [Chunk.unsafeFromArray(rows.map(nodeInfo)), next] as const
          }
        )
      )
  )

  const allChannels: Stream.Stream<ChannelInfo, GraphStoreError> = Stream.paginateChunkEffect(
    -1n,
    (after: bigint) =>
      run(
        "allChannels",
        Effect.map(selectChannels(sql`c.scid > ${after}`, sql`LIMIT ${PAGE}`), (rows) => {
          const out = rows.map(channelInfo)
          const last = out[out.length - 1]
          const next = rows.length < PAGE || last === undefined
            ? Option.none<bigint>()
            : Option.some(last.shortChannelId)
          return [Chunk.unsafeFromArray(out), next] as const
        })
      )
  )

  return { stats, node, nodes, nodeChannels, channel, allNodes, allChannels } satisfies GraphQueryService
})

/** GraphQuery over the ambient SqlClient (a database the store has migrated). */
export const layer: Layer.Layer<GraphQuery, never, SqlClient.SqlClient> = Layer.effect(GraphQuery, make)
