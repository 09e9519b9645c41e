/**
 * `lnsync serve --db <file|postgres://…> --http <host:port>`: the HTTP JSON API (`src/layers/http`) over a stored
 * graph, ready once the database is open. Over PostgreSQL any number of instances serve one database that sync
 * nodes write (issue 17). `withHttp` is the same server beside a syncing node (`lnsync sync --http`), ready once the
 * graph is synced (SM-6), with each peer's sync status in `/api/v1/stats`.
 */
import { Command, Options } from "@effect/cli"
import { Context, Effect, Either, Layer, Option } from "effect"
import * as fs from "node:fs"
import type { ChainHash } from "../domain/Messages.js"
import * as ServeStatus from "../layers/http/ServeStatus.js"
import * as Node from "../layers/Node.js"
import { GraphDistributions } from "../services/GraphDistributions.js"
import * as GraphHistory from "../services/GraphHistory.js"
import type { GraphQuery } from "../services/GraphQuery.js"
import type { GraphStoreChainMismatch, GraphStoreError } from "../services/GraphStore.js"
import { GraphStore } from "../services/GraphStore.js"
import * as RapidGossipSync from "../services/RapidGossipSync.js"
import * as Metrics from "../services/Metrics.js"
import type { SyncManager } from "../services/SyncManager.js"
import { graphQueryPg, graphStorePg, load } from "./lazy.js"
import { CommandFailed, ExitCode } from "./terminal.js"

export const DEFAULT_HTTP = "127.0.0.1:8080"

const parseAddress = (text: string) =>
  Either.match(Node.parseHostPort(text), {
    onLeft: (reason) => Effect.fail(new CommandFailed({ reason: `--http: ${reason}`, code: ExitCode.usage })),
    onRight: (a) =>
      a.port > 65535
        ? Effect.fail(new CommandFailed({ reason: `--http: port ${a.port} is out of range`, code: ExitCode.usage }))
        : Effect.succeed(a)
  })

/**
 * Starts the server in the current scope over `services` (the graph's reads, readiness, metrics) and logs where it
 * listens; a port in use is the user's to fix. `chain` names the snapshots' chain when the caller knows it (`sync
 * --http`); `serve` reads any chain's database and keeps RapidGossipSyncConfig's.
 */
const startServer = <S>(
  address: string,
  services: Layer.Layer<
    S | GraphQuery | ServeStatus.ServeStatus | Metrics.Metrics,
    GraphStoreError | GraphStoreChainMismatch
  >,
  chain?: ChainHash
) =>
  Effect.gen(function* () {
    const { host, port } = yield* parseAddress(address)
    // the HTTP API (and the platform's HTTP modules) only when a command serves (issue 18: startup cost)
    const HttpServer = yield* load("the HTTP server (layers/http/HttpServer)", () =>
      import("../layers/http/HttpServer.js"))
    const context = yield* Layer.build(services)
    const metrics = Context.get(context, Metrics.Metrics).scrape
    // Rapid Gossip Sync snapshots when the services include the store (`serve`, and `sync --http` given its chain)
    const store = Context.getOption(context, GraphStore)
    const settings = yield* RapidGossipSync.RapidGossipSyncConfig
    const snapshots = Option.isSome(store)
      ? yield* RapidGossipSync.make.pipe(
        Effect.provideService(GraphStore, store.value),
        Effect.provideService(RapidGossipSync.RapidGossipSyncConfig, {
          ...settings,
          chainHash: chain ?? settings.chainHash
        })
      )
      : undefined
    // the dashboard's plot and histograms when the services include them (both commands' do)
    const history = Context.getOption(context, GraphHistory.GraphHistory)
    const distributions = Context.getOption(context, GraphDistributions)
    const dashboard = Option.isSome(history) && Option.isSome(distributions)
      ? { history: history.value, distributions: distributions.value }
      : undefined
    const server = HttpServer.layer({ host, port, metrics, snapshots, dashboard }).pipe(
      Layer.provide(Layer.succeedContext(context))
    )
    const bound = yield* Layer.build(server).pipe(
      Effect.mapError((e) =>
        new CommandFailed({ reason: `cannot serve HTTP on ${address}: ${String(e.cause)}`, code: ExitCode.failed })
      )
    )
    const url = yield* Effect.provide(HttpServer.baseUrl, bound)
    yield* Effect.logInfo(
      `serving the graph API on ${url}/api/v1 (OpenAPI: ${url}/openapi.json, metrics: ${url}/metrics)`
    )
  })

export const serveCommand = Command.make(
  "serve",
  {
    db: Options.text("db").pipe(
      Options.optional,
      Options.withDescription("SQLite file or postgres:// URL of the graph (env LNSYNC_DB)")
    ),
    http: Options.text("http").pipe(
      Options.withDefault(DEFAULT_HTTP),
      Options.withDescription("<host>:<port> to serve the HTTP API on (port 0: a free port)")
    )
  },
  (o) =>
    Effect.gen(function* () {
      const db = Option.getOrElse(o.db, () => "")
      const file = db === "" ? (yield* Node.config).db : db
      const [GraphStorePg, GraphQueryPg] = yield* Effect.all([graphStorePg, graphQueryPg])
      // a PG URL needs no check here: a server that cannot be reached fails the open with its reason
      if (!GraphStorePg.isPostgresUrl(file) && !fs.existsSync(file)) {
        return yield* new CommandFailed({ reason: `no graph database at ${file}`, code: ExitCode.usage })
      }
      yield* Effect.scoped(
        Effect.zipRight(
          startServer(
            o.http,
            Layer.mergeAll(
              ServeStatus.layerStandalone,
              Metrics.layerStandalone,
              GraphHistory.layer()
            ).pipe(
              Layer.provideMerge(GraphQueryPg.layerServeFor(file))
            )
          ),
          Effect.never
        )
      )
    })
).pipe(Command.withDescription("serve a stored graph as an HTTP JSON API (OpenAPI at /openapi.json)"))

/**
 * Runs `self` (a syncing node's work, with the SyncManager in context) with the HTTP API served beside it when
 * `address` is given: its own read connection to `db` (a SQLite file or a `postgres://` URL), readiness and peers
 * from the SyncManager. Given the node's `chain`, also its Rapid Gossip Sync snapshots, built from the node's store.
 */
export const withHttp = (address: Option.Option<string>, db: string, chain?: ChainHash) =>
<A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E | CommandFailed | GraphStoreError | GraphStoreChainMismatch, R | SyncManager | GraphStore> =>
  Option.isNone(address)
    ? self
    : Effect.scoped(
      Effect.gen(function* () {
        // the node's own store and SyncManager feed readiness and metrics; reads get their own connection to `db`
        const node = yield* Effect.context<SyncManager | GraphStore>()
        const GraphQueryPg = yield* graphQueryPg
        yield* startServer(
          address.value,
          Layer.mergeAll(
            GraphHistory.layer().pipe(Layer.provideMerge(GraphQueryPg.layerFor(db))),
            GraphQueryPg.layerDistributionsFor(db),
            ServeStatus.layerSyncManager,
            Metrics.layer,
            chain === undefined ? Layer.empty : Layer.succeed(GraphStore, Context.get(node, GraphStore))
          ).pipe(
            Layer.provide(Layer.succeedContext(node))
          ),
          chain
        )
        return yield* self
      })
    )
