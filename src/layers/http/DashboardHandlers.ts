/**
 * Handlers of `HttpApi.ts`'s `DashboardGroup`. The history and the distributions come in as plain service values
 * (`HttpServerOptions.dashboard`), so the server's layer gains no requirement: a server built without them (a test,
 * a bench) answers an empty history and a 503 for the distributions.
 */
import type { HttpApiGroup } from "@effect/platform"
import { HttpApiBuilder } from "@effect/platform"
import { Duration, Effect, Layer } from "effect"
import type { Distributions, GraphDistributionsService, Histogram } from "../../services/GraphDistributions.js"
import type { GraphHistoryService } from "../../services/GraphHistory.js"
import type { GraphStoreError } from "../../services/GraphStore.js"
import { LnsyncApi, NotReady, StorageFailed } from "./HttpApi.js"

export interface DashboardServices {
  readonly history: GraphHistoryService
  readonly distributions: GraphDistributionsService
}

const storageFailed = (e: GraphStoreError) =>
  new StorageFailed({
    reason: `database ${e.operation} failed: ${e.cause instanceof Error ? e.cause.message : String(e.cause)}`
  })

const histogramJson = (h: Histogram) => ({
  unit: h.unit,
  buckets: h.buckets.map((b) => ({ from: b.from, to: b.to, count: b.count })),
  total: h.total
})

export const distributionsJson = (d: Distributions) => ({
  fee_ppm: histogramJson(d.feePpm),
  fee_base_msat: histogramJson(d.feeBaseMsat),
  capacity_sat: histogramJson(d.capacitySat),
  htlc_maximum_sat: histogramJson(d.htlcMaximumSat)
})

export const layer = (
  services: DashboardServices | undefined
): Layer.Layer<HttpApiGroup.ApiGroup<"lnsync", "dashboard">> =>
  HttpApiBuilder.group(LnsyncApi, "dashboard", (handlers) =>
    handlers
      .handle("history", () =>
        services === undefined
          ? Effect.succeed({ interval_seconds: 0, capacity: 0, samples: [] })
          : Effect.map(services.history.samples, (samples) => ({
            interval_seconds: Duration.toSeconds(services.history.interval),
            capacity: services.history.capacity,
            samples: samples.map((s) => ({ time: s.time, channels: s.channels, updates: s.updates, nodes: s.nodes }))
          })))
      .handle("distributions", () =>
        services === undefined
          ? Effect.fail(new NotReady({ reason: "this server computes no distributions (no graph database)" }))
          : Effect.map(Effect.mapError(services.distributions.distributions, storageFailed), distributionsJson)))
