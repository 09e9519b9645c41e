/**
 * The persistent GraphStore: GraphStoreSql over one SQLite file (`@effect/sql-sqlite-node`, better-sqlite3).
 *
 * SQLite specifics (PG: none of these PRAGMAs exist; durability and concurrency are server settings):
 * - WAL journal (SqliteClient's default): readers never block the writer and a crash (even SIGKILL mid-batch)
 *   loses at most the transaction in flight.
 * - `synchronous = NORMAL`: in WAL mode a commit survives a process crash; only a power loss may drop the last
 *   commits, which a gossip store can re-fetch from peers. It roughly halves commit cost against FULL.
 * - `busy_timeout`: an operator reading the file (sqlite3 CLI) makes us wait briefly instead of failing.
 * - `cache_size = -8192` (8 MiB; SQLite's default is 2 MiB): holds the pages a write batch touches (a 2048-message
 *   batch dirties ~2,000) and the upper levels of every b-tree; the rest of a mainnet graph's file (~65 MB) is
 *   read from the OS page cache, which is cheap. 32 MiB cost ~25 MB of RSS during a sync for no CPU gain the store
 *   micro-bench could see (issue 18: 300 MB).
 * - `temp_store = MEMORY`: temporary files stay in memory, above all the statement journal: inside a transaction
 *   a multi-row write keeps the original of every page it changes so that it alone can be rolled back, and past
 *   64 KiB SQLite spilled that to a temp file — every applyBatch statement did, half of a sync's write bytes
 *   (store micro-bench, mainnet graph through applyBatch: 954 -> 451 MB written, 427k -> 185k write calls, CPU
 *   1.57/1.54 -> 1.38/1.43 s; issue 18). A statement's journal is at most the pages one statement touches.
 * - `wal_autocheckpoint = 4096` pages (16 MiB of WAL, SQLite's default is 1000): a checkpoint runs inside the
 *   commit that crosses the limit, on our (main) thread, and copies every page written since the last one back
 *   into the file with two fsyncs. During a sync each batch rewrites many of the same index pages, so fewer,
 *   larger checkpoints write each page fewer times (bench:graph: ~7% less insert time; a 64 MiB limit gains
 *   only a few % more for four times the WAL file).
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Context, Effect, Layer } from "effect"
import type { ChainHash } from "../../domain/Messages.js"
import type { GraphStore, GraphStoreChainMismatch } from "../../services/GraphStore.js"
import { GraphStoreError } from "../../services/GraphStore.js"
import * as GraphStoreSql from "./GraphStoreSql.js"

export interface GraphStoreSqliteConfig {
  /** Database file (created if missing); `:memory:` for a throw-away database. */
  readonly filename: string
  /**
   * The chain the node runs on: recorded in a new file (or one from before the chain was recorded), and a file
   * holding another chain's gossip is refused with GraphStoreChainMismatch. Omit only to read a file of any chain.
   */
  readonly chain?: ChainHash | undefined
}

/** What every connection to a graph file sets (after the client's `journal_mode = WAL`); see the module doc. */
export const PRAGMAS: ReadonlyArray<string> = [
  "synchronous = NORMAL",
  "busy_timeout = 5000",
  "cache_size = -8192", // 8 MiB page cache: see the module doc
  "wal_autocheckpoint = 4096",
  "temp_store = MEMORY"
]

/**
 * The SqlClient (and SqliteClient) for `filename` with lnsync's PRAGMAs applied. Exposed for tools and tests that
 * need the same connection as the store (e.g. `PRAGMA integrity_check`).
 */
export const layerClient = (
  options: GraphStoreSqliteConfig
): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient, GraphStoreError> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      // better-sqlite3 throws synchronously when the file cannot be opened; that is a storage failure, not a bug.
      const client = yield* SqliteClient.make({ filename: options.filename }).pipe(
        Effect.catchAllDefect((cause) => new GraphStoreError({ operation: "open", cause }))
      )
      yield* Effect.forEach(PRAGMAS, (pragma) => client.unsafe(`PRAGMA ${pragma}`), { discard: true }).pipe(
        Effect.mapError((cause) => new GraphStoreError({ operation: "open", cause }))
      )
      return Context.make(SqliteClient.SqliteClient, client).pipe(Context.add(SqlClient.SqlClient, client))
    })
  ).pipe(Layer.provide(Reactivity.layer))

/** GraphStore persisted in the SQLite file `config.filename` (schema created or upgraded, chain checked on open). */
export const layer = (
  config: GraphStoreSqliteConfig
): Layer.Layer<GraphStore, GraphStoreError | GraphStoreChainMismatch> =>
  GraphStoreSql.layer({ chain: config.chain, database: config.filename }).pipe(Layer.provide(layerClient(config)))

/** Same as `layer`, also exposing the client (for tools that run their own queries on the same file). */
export const layerWithClient = (
  config: GraphStoreSqliteConfig
): Layer.Layer<
  GraphStore | SqliteClient.SqliteClient | SqlClient.SqlClient,
  GraphStoreError | GraphStoreChainMismatch
> =>
  GraphStoreSql.layer({ chain: config.chain, database: config.filename }).pipe(
    Layer.provideMerge(layerClient(config))
  )
