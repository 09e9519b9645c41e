/**
 * GraphDistributions: how fees and capacities spread over the graph, as histograms the database computes (issue 16,
 * the dashboard). Shipping a mainnet graph to a browser to count it there is ~100 MB; the histograms are a few
 * hundred bytes. Buckets are on a 1-2-5 scale because fees and capacities span several orders of magnitude.
 *
 * Layer: `GraphDistributionsSql` in `src/layers/graph/` (decoded columns of migration 4, see `GraphStoreSql`).
 */
import type { Effect } from "effect"
import { Context } from "effect"
import type { GraphStoreError } from "./GraphStore.js"

/** Values in `[from, to)`; `to` is null for the last, open-ended bucket. */
export interface Bucket {
  readonly from: number
  readonly to: number | null
  readonly count: number
}

export interface Histogram {
  readonly unit: "ppm" | "msat" | "sat"
  /** Ascending, contiguous, starting at 0. */
  readonly buckets: ReadonlyArray<Bucket>
  /** Values counted (the sum of the buckets' counts). */
  readonly total: number
}

export interface Distributions {
  /** Proportional fee of every enabled direction (disabled ones route nothing, so their fees say nothing). */
  readonly feePpm: Histogram
  /** Base fee of every enabled direction. */
  readonly feeBaseMsat: Histogram
  /** Channel capacities known from a chain source (none without one: see `htlcMaximumSat`). */
  readonly capacitySat: Histogram
  /** `htlc_maximum_msat` of every enabled direction, in sat: the usual stand-in for capacity without a chain. */
  readonly htlcMaximumSat: Histogram
}

export interface GraphDistributionsService {
  readonly distributions: Effect.Effect<Distributions, GraphStoreError>
}

export class GraphDistributions
  extends Context.Tag("lnsync/GraphDistributions")<GraphDistributions, GraphDistributionsService>()
{}

/** `1, 2, 5, 10, 20, 50, …` from `first` up to `last` (both powers of ten). */
const oneTwoFive = (first: number, last: number): ReadonlyArray<number> => {
  const out: Array<number> = []
  for (let decade = first; decade <= last; decade *= 10) {
    out.push(decade)
    if (decade < last) out.push(decade * 2, decade * 5)
  }
  return out
}

/**
 * Lower edges of the buckets, the first always 0. Fee rates: 0 and 1 ppm apart, then to 10,000 ppm (1 %) and
 * beyond; base fees: 0 msat apart, then 1 msat to 10 sat; amounts: 10 ksat to 10 BTC.
 */
export const EDGES = {
  feePpm: [0, ...oneTwoFive(1, 10_000)],
  feeBaseMsat: [0, ...oneTwoFive(1, 10_000)],
  sat: [0, ...oneTwoFive(10_000, 1_000_000_000)]
} as const

/** The histogram of `edges` from per-bucket counts (`counts[i]` for bucket i; missing buckets count 0). */
export const histogram = (
  unit: Histogram["unit"],
  edges: ReadonlyArray<number>,
  counts: ReadonlyMap<number, number>
): Histogram => {
  const buckets = edges.map((from, i) => ({
    from,
    to: i + 1 < edges.length ? edges[i + 1] : null,
    count: counts.get(i) ?? 0
  }))
  return { unit, buckets, total: buckets.reduce((sum, b) => sum + b.count, 0) }
}

/** The bucket of `value` (the same rule the SQL applies), for tests and in-memory callers. */
export const bucketOf = (edges: ReadonlyArray<number>, value: number): number => {
  let i = 0
  while (i + 1 < edges.length && value >= edges[i + 1]) i++
  return i
}
