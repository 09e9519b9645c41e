/**
 * GraphDistributions over `@effect/sql`'s SqlClient: one `GROUP BY` over a `CASE` of the bucket edges per histogram,
 * on the decoded columns of migration 4 (`GraphStoreSql`). Each is one scan of `channel_updates` or `channels`
 * (mainnet: ~100k and ~50k rows, a few milliseconds each) and returns one row per non-empty bucket. Portable SQL
 * (SQLite and PG alike). The edges are this module's constants, written into the statement as integer literals.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Layer } from "effect"
import { EDGES, GraphDistributions, histogram } from "../../services/GraphDistributions.js"
import type { Distributions, GraphDistributionsService, Histogram } from "../../services/GraphDistributions.js"
import { GraphStoreError } from "../../services/GraphStore.js"
import * as GraphStoreSqlite from "./GraphStoreSqlite.js"

/** `CASE WHEN col < e1 THEN 0 WHEN col < e2 THEN 1 … ELSE n END`, with edges scaled by `scale` (msat for sat). */
export const bucketCase = (column: string, edges: ReadonlyArray<number>, scale = 1): string => {
  const whens = edges.slice(1).map((edge, i) => {
    const bound = edge * scale
    if (!Number.isSafeInteger(bound)) throw new RangeError(`bucket edge ${bound} is not a safe integer`)
    return `WHEN ${column} < ${bound} THEN ${i}`
  })
  return `CASE ${whens.join(" ")} ELSE ${edges.length - 1} END`
}

export const make: Effect.Effect<GraphDistributionsService, never, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const count = (
    unit: Histogram["unit"],
    edges: ReadonlyArray<number>,
    column: string,
    from: string,
    scale = 1
  ): Effect.Effect<Histogram, GraphStoreError> =>
    sql.unsafe<{ readonly bucket: number | bigint | string; readonly n: number | bigint | string }>(
      `SELECT ${bucketCase(column, edges, scale)} AS bucket, COUNT(*) AS n FROM ${from} AND ${column} IS NOT NULL
       GROUP BY 1`
    ).pipe(
      Effect.map((rows) => histogram(unit, edges, new Map(rows.map((r) => [Number(r.bucket), Number(r.n)])))),
      Effect.mapError((cause) => new GraphStoreError({ operation: "distributions", cause }))
    )

  const enabled = "channel_updates WHERE disabled = 0"
  const distributions: Effect.Effect<Distributions, GraphStoreError> = Effect.all({
    feePpm: count("ppm", EDGES.feePpm, "fee_proportional_millionths", enabled),
    feeBaseMsat: count("msat", EDGES.feeBaseMsat, "fee_base_msat", enabled),
    capacitySat: count("sat", EDGES.sat, "capacity_sat", "channels WHERE 1 = 1"),
    htlcMaximumSat: count("sat", EDGES.sat, "htlc_maximum_msat", enabled, 1000)
  })
  return { distributions } satisfies GraphDistributionsService
})

/** Over the SqlClient in context (a store's connection). */
export const layer: Layer.Layer<GraphDistributions, never, SqlClient.SqlClient> = Layer.effect(
  GraphDistributions,
  make
)

/** Over its own read connection to a SQLite graph file (WAL: never blocks the syncing writer). */
export const layerSqlite = (config: { readonly filename: string }): Layer.Layer<GraphDistributions, GraphStoreError> =>
  layer.pipe(Layer.provide(GraphStoreSqlite.layerClient(config)))
