/**
 * The read side on PostgreSQL (issue 17: many `lnsync serve` instances over one shared database): GraphQuerySql and
 * GraphDistributionsSql over a `GraphStorePg` client. Readers never wait for the writers (MVCC; the writers'
 * advisory lock is theirs alone), and every read is one statement, so it sees one committed state.
 *
 * The schema is brought up to date on open as for SQLite (GraphStoreSql's Migrator, under the same advisory lock as
 * the writers), with no chain check: reading serves any chain's database. Each layer here is one connection pool;
 * `layerServe` shares one pool between the API, the dashboard's histograms and the snapshots' store.
 *
 * `layerFor`, `layerWithStoreFor` and `layerServeFor` choose by `--db` as `GraphStorePg.layerFor` does: a
 * `postgres://` URL opens PostgreSQL, anything else the SQLite file.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Layer } from "effect"
import type { GraphDistributions } from "../../services/GraphDistributions.js"
import type { GraphQuery } from "../../services/GraphQuery.js"
import type { GraphStore, GraphStoreChainMismatch, GraphStoreError } from "../../services/GraphStore.js"
import * as GraphDistributionsSql from "./GraphDistributionsSql.js"
import * as GraphQuerySql from "./GraphQuerySql.js"
import * as GraphQuerySqlite from "./GraphQuerySqlite.js"
import * as GraphStorePg from "./GraphStorePg.js"
import * as GraphStoreSql from "./GraphStoreSql.js"

export interface GraphQueryPgConfig {
  /** `postgres://…` (or `postgresql://`), as `GraphStorePgConfig.url`. */
  readonly url: string
  /** Pool size (default 10, node-postgres'). */
  readonly maxConnections?: number | undefined
}

/** The client for `config.url` with the schema brought up to date (no chain check). */
const migratedClient = (config: GraphQueryPgConfig): Layer.Layer<SqlClient.SqlClient, GraphStoreError> =>
  Layer.effectDiscard(Effect.asVoid(GraphStoreSql.make)).pipe(
    Layer.provideMerge(GraphStorePg.layerClient({ url: config.url, maxConnections: config.maxConnections }))
  )

/** GraphQuery alone (e.g. `sync --http` beside a node whose store is on the same database). */
export const layer = (config: GraphQueryPgConfig): Layer.Layer<GraphQuery, GraphStoreError> =>
  GraphQuerySql.layer.pipe(Layer.provide(migratedClient(config)))

/** GraphDistributions alone, on its own pool. */
export const layerDistributions = (config: GraphQueryPgConfig): Layer.Layer<GraphDistributions, GraphStoreError> =>
  GraphDistributionsSql.layer.pipe(Layer.provide(migratedClient(config)))

/** GraphQuery and GraphStore over one pool (`lnsync export`, tests). */
export const layerWithStore = (
  config: GraphQueryPgConfig
): Layer.Layer<GraphQuery | GraphStore, GraphStoreError | GraphStoreChainMismatch> =>
  Layer.merge(GraphQuerySql.layer, GraphStoreSql.layer({ database: GraphStorePg.displayUrl(config.url) })).pipe(
    Layer.provide(GraphStorePg.layerClient({ url: config.url, maxConnections: config.maxConnections }))
  )

/** What `lnsync serve` reads, over one pool: the API's queries, the histograms, the store (RGS snapshots). */
export const layerServe = (
  config: GraphQueryPgConfig
): Layer.Layer<GraphQuery | GraphDistributions | GraphStore, GraphStoreError | GraphStoreChainMismatch> =>
  Layer.mergeAll(
    GraphQuerySql.layer,
    GraphDistributionsSql.layer,
    GraphStoreSql.layer({ database: GraphStorePg.displayUrl(config.url) })
  ).pipe(Layer.provide(GraphStorePg.layerClient({ url: config.url, maxConnections: config.maxConnections })))

/** GraphQuery on the database `--db` names (SQLite: its own WAL read connection). */
export const layerFor = (db: string): Layer.Layer<GraphQuery, GraphStoreError> =>
  GraphStorePg.isPostgresUrl(db) ? layer({ url: db }) : GraphQuerySqlite.layer({ filename: db })

/** GraphDistributions on the database `--db` names. */
export const layerDistributionsFor = (db: string): Layer.Layer<GraphDistributions, GraphStoreError> =>
  GraphStorePg.isPostgresUrl(db)
    ? layerDistributions({ url: db })
    : GraphDistributionsSql.layerSqlite({ filename: db })

/** GraphQuery and GraphStore on the database `--db` names (`lnsync export`). */
export const layerWithStoreFor = (
  db: string
): Layer.Layer<GraphQuery | GraphStore, GraphStoreError | GraphStoreChainMismatch> =>
  GraphStorePg.isPostgresUrl(db) ? layerWithStore({ url: db }) : GraphQuerySqlite.layerWithStore({ filename: db })

/**
 * Everything `lnsync serve` reads on the database `--db` names. SQLite: the histograms on their own read connection
 * beside the query/store one, as before; PG: one pool for all.
 */
export const layerServeFor = (
  db: string
): Layer.Layer<GraphQuery | GraphDistributions | GraphStore, GraphStoreError | GraphStoreChainMismatch> =>
  GraphStorePg.isPostgresUrl(db)
    ? layerServe({ url: db })
    : Layer.merge(
      GraphQuerySqlite.layerWithStore({ filename: db }),
      GraphDistributionsSql.layerSqlite({ filename: db })
    )
