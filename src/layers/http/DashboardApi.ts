/**
 * The response shapes of the dashboard's two endpoints (issue 16), declared in `HttpApi.ts`'s `DashboardGroup`:
 * `GET /api/v1/history` (the graph's counts sampled over time, `GraphHistory`) and `GET /api/v1/distributions`
 * (fee and capacity histograms computed by the database, `GraphDistributions`). snake_case like the rest of the API.
 */
import { Schema } from "effect"

export const HistorySample = Schema.Struct({
  time: Schema.Number.annotations({ description: "unix milliseconds" }),
  channels: Schema.Number,
  updates: Schema.Number,
  nodes: Schema.Number.annotations({ description: "node announcements held" })
}).annotations({ identifier: "HistorySample" })

export const History = Schema.Struct({
  interval_seconds: Schema.Number.annotations({ description: "time between samples; 0 when nothing samples" }),
  capacity: Schema.Number.annotations({ description: "samples kept (oldest dropped first)" }),
  samples: Schema.Array(HistorySample).annotations({ description: "oldest first" })
}).annotations({ identifier: "History" })

export const Bucket = Schema.Struct({
  from: Schema.Number,
  to: Schema.NullOr(Schema.Number).annotations({ description: "exclusive; null for the last, open-ended bucket" }),
  count: Schema.Number
})

export const Histogram = Schema.Struct({
  unit: Schema.Literal("ppm", "msat", "sat"),
  buckets: Schema.Array(Bucket),
  total: Schema.Number
}).annotations({ identifier: "Histogram" })

export const Distributions = Schema.Struct({
  fee_ppm: Histogram.annotations({ description: "proportional fee of enabled directions" }),
  fee_base_msat: Histogram.annotations({ description: "base fee of enabled directions" }),
  capacity_sat: Histogram.annotations({ description: "capacities known from a chain source" }),
  htlc_maximum_sat: Histogram.annotations({ description: "htlc_maximum_msat of enabled directions, in sat" })
}).annotations({ identifier: "Distributions" })
