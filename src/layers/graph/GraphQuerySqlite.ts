/**
 * GraphQuery on a SQLite graph file: its own connection (WAL: reads never block the syncing writer, which may hold
 * another connection to the same file in this process), the schema brought up to date first (so an older file
 * gains migration 4's decoded columns, backfilled, before the first query). No chain check: reading serves any
 * chain's file.
 */
import { Effect, Layer } from "effect"
import type { GraphQuery } from "../../services/GraphQuery.js"
import type { GraphStore, GraphStoreChainMismatch, GraphStoreError } from "../../services/GraphStore.js"
import * as GraphQuerySql from "./GraphQuerySql.js"
import * as GraphStoreSql from "./GraphStoreSql.js"
import * as GraphStoreSqlite from "./GraphStoreSqlite.js"

export interface GraphQuerySqliteConfig {
  readonly filename: string
}

/** GraphQuery alone (e.g. beside a node that already has its store on the same file). */
export const layer = (config: GraphQuerySqliteConfig): Layer.Layer<GraphQuery, GraphStoreError> =>
  GraphQuerySql.layer.pipe(
    Layer.provide(Layer.effectDiscard(Effect.asVoid(GraphStoreSql.make))),
    Layer.provide(GraphStoreSqlite.layerClient(config))
  )

/** GraphQuery and GraphStore over one connection (`lnsync serve`, `lnsync export`, tests). */
export const layerWithStore = (
  config: GraphQuerySqliteConfig
): Layer.Layer<GraphQuery | GraphStore, GraphStoreError | GraphStoreChainMismatch> =>
  Layer.merge(GraphQuerySql.layer, GraphStoreSql.layer({ database: config.filename })).pipe(
    Layer.provide(GraphStoreSqlite.layerClient(config))
  )
