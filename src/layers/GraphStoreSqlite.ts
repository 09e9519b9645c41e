/**
 * The persistent GraphStore: GraphStoreSql over one SQLite file (`@effect/sql-sqlite-node`, better-sqlite3).
 *
 * SQLite specifics (PG: none of these PRAGMAs exist; durability and concurrency are server settings):
 * - WAL journal (SqliteClient's default): readers never block the writer and a crash (even SIGKILL mid-batch)
 *   loses at most the transaction in flight.
 * - `synchronous = NORMAL`: in WAL mode a commit survives a process crash; only a power loss may drop the last
 *   commits, which a gossip store can re-fetch from peers. It roughly halves commit cost against FULL.
 * - `busy_timeout`: an operator reading the file (sqlite3 CLI) makes us wait briefly instead of failing.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Context, Effect, Layer } from "effect"
import type { GraphStore } from "../services/GraphStore.js"
import { GraphStoreError } from "../services/GraphStore.js"
import * as GraphStoreSql from "./GraphStoreSql.js"

export interface SqliteOptions {
  /** Database file (created if missing); `:memory:` for a throw-away database. */
  readonly filename: string
}

/**
 * The SqlClient (and SqliteClient) for `filename` with lnsync's PRAGMAs applied. Exposed for tools and tests that
 * need the same connection as the store (e.g. `PRAGMA integrity_check`).
 */
export const clientLayer = (
  options: SqliteOptions
): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient, GraphStoreError> =>
  Layer.scopedContext(
    Effect.gen(function*() {
      // better-sqlite3 throws synchronously when the file cannot be opened; that is a storage failure, not a bug.
      const client = yield* SqliteClient.make({ filename: options.filename }).pipe(
        Effect.catchAllDefect((cause) => new GraphStoreError({ operation: "open", cause }))
      )
      yield* Effect.all([
        client`PRAGMA synchronous = NORMAL`,
        client`PRAGMA busy_timeout = 5000`,
        client`PRAGMA cache_size = -32768` // 32 MiB page cache: a mainnet graph's indices stay hot
      ]).pipe(Effect.mapError((cause) => new GraphStoreError({ operation: "open", cause })))
      return Context.make(SqliteClient.SqliteClient, client).pipe(Context.add(SqlClient.SqlClient, client))
    })
  ).pipe(Layer.provide(Reactivity.layer))

/** GraphStore persisted in the SQLite file `options.filename` (schema created or upgraded on open). */
export const layerSqlite = (options: SqliteOptions): Layer.Layer<GraphStore, GraphStoreError> =>
  GraphStoreSql.layer.pipe(Layer.provide(clientLayer(options)))

/** Same as `layerSqlite`, also exposing the client (for tools that run their own queries on the same file). */
export const layerSqliteWithClient = (
  options: SqliteOptions
): Layer.Layer<GraphStore | SqliteClient.SqliteClient | SqlClient.SqlClient, GraphStoreError> =>
  GraphStoreSql.layer.pipe(Layer.provideMerge(clientLayer(options)))
