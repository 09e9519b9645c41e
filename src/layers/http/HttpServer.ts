/**
 * The HTTP server for the API declared in `HttpApi.ts`: handlers over GraphQuery and ServeStatus, the OpenAPI
 * document at `/openapi.json`, on Node's http server. `layer({ host, port })` serves for as long as the layer's
 * scope is open and also provides `HttpServer.HttpServer` (its `address` tells the port when `port` is 0).
 *
 * `/metrics` answers `options.metrics`: the CLI mounts `Metrics.scrape` (node gauges sampled, then every Effect
 * metric as Prometheus text); without one it answers a comment line saying no renderer is mounted.
 */
import type { HttpApi } from "@effect/platform"
import { HttpApiBuilder, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Clock, Effect, Encoding, Either, Layer, Option, Stream } from "effect"
import * as http from "node:http"
import { fromHex } from "../../domain/Hex.js"
import { GraphQuery } from "../../services/GraphQuery.js"
import type { NodeCursor } from "../../services/GraphQuery.js"
import type { GraphStoreError } from "../../services/GraphStore.js"
import type { RapidGossipSyncService } from "../../services/RapidGossipSync.js"
import * as DashboardHandlers from "./DashboardHandlers.js"
import * as DashboardRoutes from "./DashboardRoutes.js"
import * as GraphJson from "./GraphJson.js"
import { BadRequest, LnsyncApi, NotFound, NotReady, StorageFailed } from "./HttpApi.js"
import { ServeStatus } from "./ServeStatus.js"
import * as SnapshotRoutes from "./SnapshotRoutes.js"

export interface HttpServerOptions {
  readonly host: string
  /** 0 picks a free port (tests, benches). */
  readonly port: number
  /** The Prometheus text exposition for `/metrics` (`Metrics.scrape`). */
  readonly metrics?: Effect.Effect<string> | undefined
  /** Rapid Gossip Sync snapshots at `/snapshot/<timestamp>` and `/snapshot/v2/<timestamp>` (`SnapshotRoutes`). */
  readonly snapshots?: RapidGossipSyncService | undefined
  /** The dashboard's history and distributions (`DashboardHandlers`); without them, an empty plot. */
  readonly dashboard?: DashboardHandlers.DashboardServices | undefined
}

const DEFAULT_PAGE = 100

const storageFailed = (e: GraphStoreError) =>
  new StorageFailed({
    reason: `database ${e.operation} failed: ${e.cause instanceof Error ? e.cause.message : String(e.cause)}`
  })

/** Page cursors are opaque to clients: base64url of `[alias, node_id]`. */
export const encodeCursor = (cursor: NodeCursor): string =>
  Encoding.encodeBase64Url(JSON.stringify([cursor.alias, cursor.nodeId]))

export const decodeCursor = (text: string): Either.Either<NodeCursor, BadRequest> => {
  const bad = new BadRequest({ reason: "cursor is not one this API returned (pass next_cursor unchanged)" })
  const decoded = Encoding.decodeBase64UrlString(text)
  if (Either.isLeft(decoded)) return Either.left(bad)
  try {
    const value: unknown = JSON.parse(decoded.right)
    if (
      Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && typeof value[1] === "string" &&
      /^[0-9a-f]{66}$/.test(value[1])
    ) {
      return Either.right({ alias: value[0], nodeId: value[1] })
    }
    return Either.left(bad)
  } catch {
    return Either.left(bad)
  }
}

const nodeKey = (hex: string) => fromHex(hex.toLowerCase())

const GraphLive = HttpApiBuilder.group(LnsyncApi, "graph", (handlers) =>
  Effect.gen(function* () {
    const query = yield* GraphQuery
    const status = yield* ServeStatus
    return handlers
      .handle("stats", () =>
        Effect.gen(function* () {
          const stats = yield* Effect.mapError(query.stats, storageFailed)
          const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
          const newest = Math.max(stats.newestUpdate, stats.newestNodeAnnouncement)
          return {
            channels: stats.channels,
            updates: stats.updates,
            nodes: stats.nodes,
            nodes_with_channel: stats.nodesWithChannel,
            zombies: stats.zombies,
            newest_update: stats.newestUpdate,
            newest_node_announcement: stats.newestNodeAnnouncement,
            age_seconds: newest > 0 ? now - newest : null,
            mode: status.mode,
            graph_synced: yield* status.graphSynced,
            peers: (yield* status.peers).map((p) => ({
              node_id: p.nodeId,
              sync_type: p.syncType,
              state: p.state,
              completed_syncs: p.completedSyncs,
              failures: p.failures,
              last_failure: p.lastFailure,
              completed_initial: p.completedInitial,
              syncing: p.syncing
            }))
          }
        }))
      .handle("nodes", ({ urlParams }) =>
        Effect.gen(function* () {
          const cursor = urlParams.cursor === undefined ? undefined : yield* decodeCursor(urlParams.cursor)
          const page = yield* Effect.mapError(
            query.nodes({ aliasPrefix: urlParams.alias, limit: urlParams.limit ?? DEFAULT_PAGE, cursor }),
            storageFailed
          )
          return {
            nodes: page.nodes.map(GraphJson.node),
            next_cursor: Option.getOrNull(Option.map(page.next, encodeCursor))
          }
        }))
      .handle("node", ({ path }) =>
        Effect.flatMap(Effect.mapError(query.node(nodeKey(path.node_id)), storageFailed), (found) =>
          Option.match(found, {
            onNone: () =>
              Effect.fail(new NotFound({ reason: `no node ${path.node_id.toLowerCase()} in the graph` })),
            onSome: (n) =>
              Effect.succeed(GraphJson.node(n))
          })))
      .handle("nodeChannels", ({ path }) =>
        Effect.gen(function* () {
          const id = nodeKey(path.node_id)
          const found = yield* Effect.mapError(query.node(id), storageFailed)
          if (Option.isNone(found)) {
            return yield* new NotFound({ reason: `no node ${path.node_id.toLowerCase()} in the graph` })
          }
          const channels = yield* Effect.mapError(query.nodeChannels(id), storageFailed)
          return { node_id: found.value.nodeId, channels: channels.map(GraphJson.channel) }
        }))
      .handle("channel", ({ path }) =>
        Effect.flatMap(Effect.mapError(query.channel(path.scid), storageFailed), (found) =>
          Option.match(found, {
            onNone: () =>
              Effect.fail(new NotFound({ reason: `no channel ${path.scid} in the graph` })),
            onSome: (c) =>
              Effect.succeed(GraphJson.channel(c))
          })))
      // Streamed: a mainnet graph is ~100 MB of JSON; each page of rows is rendered and written, then dropped.
      .handleRaw("describeGraph", () =>
        Effect.succeed(
          HttpServerResponse.stream(
            GraphJson.describeGraph(query).pipe(Stream.encodeText),
            { contentType: "application/json" }
          )
        ))
  }))

const OpsLive = (metrics: Effect.Effect<string> | undefined) =>
  HttpApiBuilder.group(LnsyncApi, "ops", (handlers) =>
    Effect.gen(function* () {
      const status = yield* ServeStatus
      return handlers
        .handle("health", () => Effect.succeed({ status: "ok" as const }))
        .handle("ready", () =>
          Effect.flatMap(status.graphSynced, (synced) =>
            synced
              ? Effect.succeed({ status: "ready" as const })
              : Effect.fail(new NotReady({ reason: "the initial graph sync has not completed yet" }))))
        .handle("metrics", () =>
          metrics ?? Effect.succeed("# lnsync: no metrics renderer mounted (HttpServerOptions.metrics)\n"))
    }))

/** The API's handlers (without a server): for `HttpApiBuilder.serve` or `toWebHandler`. */
export const layerApi = (
  options: Pick<HttpServerOptions, "metrics" | "dashboard"> = {}
): Layer.Layer<HttpApi.Api, never, GraphQuery | ServeStatus> =>
  HttpApiBuilder.api(LnsyncApi).pipe(
    Layer.provide(GraphLive),
    Layer.provide(OpsLive(options.metrics)),
    Layer.provide(DashboardHandlers.layer(options.dashboard))
  )

/**
 * Serves the API on `host:port` while the layer is in scope; the output includes the bound `HttpServer.HttpServer`
 * (its address) and the Node platform services it runs on.
 */
export const layer = (options: HttpServerOptions) =>
  HttpApiBuilder.serve().pipe(
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(DashboardRoutes.layer),
    Layer.provide(options.snapshots === undefined ? SnapshotRoutes.none : SnapshotRoutes.routes(options.snapshots)),
    Layer.provide(layerApi(options)),
    Layer.provideMerge(NodeHttpServer.layer(() => http.createServer(), { host: options.host, port: options.port }))
  )

/** `http://host:port` of a running server (the port it bound when asked for 0). */
export const baseUrl = Effect.map(
  HttpServer.HttpServer,
  (server) => server.address._tag === "TcpAddress" ? `http://${server.address.hostname}:${server.address.port}` : ""
)
