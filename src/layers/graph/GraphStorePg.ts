/**
 * The shared GraphStore: GraphStoreSql on a PostgreSQL database (`@effect/sql-pg`, node-postgres), for operators
 * who run several sync nodes and API servers on one graph. The schema is the same Migrator migrations as SQLite's
 * (their PG spelling: `GraphStoreSql.columnTypes`); every store on the database writes in turn (PG advisory lock,
 * `GraphStoreSql` `lockWriters`), so many writers keep newest-wins per key; readers never wait.
 *
 * PG specifics (SQLite: PRAGMAs in GraphStoreSqlite): durability and concurrency are the server's settings;
 * BIGINT comes back as text (node-postgres' default) and GraphStoreSql reads either form.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Effect, Layer, Redacted } from "effect"
import type { ChainHash } from "../../domain/Messages.js"
import type { GraphStore, GraphStoreChainMismatch } from "../../services/GraphStore.js"
import { GraphStoreError } from "../../services/GraphStore.js"
import { displayUrl, isPostgresUrl } from "./databaseUrl.js"
import * as GraphStoreSql from "./GraphStoreSql.js"
import * as GraphStoreSqlite from "./GraphStoreSqlite.js"

export interface GraphStorePgConfig {
  /** `postgres://user:password@host:port/database` (or `postgresql://`); the database must exist. */
  readonly url: string
  /** As GraphStoreSqliteConfig.chain: recorded on first open, another chain's database refused. */
  readonly chain?: ChainHash | undefined
  /** Pool size (default 10, node-postgres'). */
  readonly maxConnections?: number | undefined
}

// here too, for the modules that already load this one; they live apart so that choosing a store loads no pg
export { displayUrl, isPostgresUrl } from "./databaseUrl.js"

/** The SqlClient (and PgClient) for `url`; a server that cannot be reached fails with GraphStoreError "open". */
export const layerClient = (
  config: GraphStorePgConfig
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, GraphStoreError> =>
  PgClient.layer({
    url: Redacted.make(config.url),
    maxConnections: config.maxConnections,
    applicationName: "lnsync"
  }).pipe(Layer.catchAll((cause) => Layer.fail(new GraphStoreError({ operation: "open", cause }))))

/** GraphStore on the PostgreSQL database at `config.url` (schema created or upgraded, chain checked on open). */
export const layer = (config: GraphStorePgConfig): Layer.Layer<GraphStore, GraphStoreError | GraphStoreChainMismatch> =>
  GraphStoreSql.layer({ chain: config.chain, database: displayUrl(config.url) }).pipe(
    Layer.provide(layerClient(config))
  )

/** Same as `layer`, also exposing the client (tools and tests that run their own queries on the database). */
export const layerWithClient = (
  config: GraphStorePgConfig
): Layer.Layer<GraphStore | PgClient.PgClient | SqlClient.SqlClient, GraphStoreError | GraphStoreChainMismatch> =>
  GraphStoreSql.layer({ chain: config.chain, database: displayUrl(config.url) }).pipe(
    Layer.provideMerge(layerClient(config))
  )

/**
 * The store `--db` names: a `postgres://` URL opens PostgreSQL, anything else the SQLite file. The one place the
 * CLI and NodeConfig choose.
 */
export const layerFor = (options: {
  readonly db: string
  readonly chain?: ChainHash | undefined
}): Layer.Layer<GraphStore, GraphStoreError | GraphStoreChainMismatch> =>
  isPostgresUrl(options.db)
    ? layer({ url: options.db, chain: options.chain })
    : GraphStoreSqlite.layer({ filename: options.db, chain: options.chain })

/** The SqlClient `--db` names, schema brought up to date (readers such as GraphQuerySql go on top of it). */
export const layerClientFor = (db: string): Layer.Layer<SqlClient.SqlClient, GraphStoreError> =>
  Layer.effectDiscard(Effect.asVoid(GraphStoreSql.make)).pipe(
    Layer.provideMerge(isPostgresUrl(db) ? layerClient({ url: db }) : GraphStoreSqlite.layerClient({ filename: db }))
  )
