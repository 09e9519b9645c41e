/**
 * Metrics: every Effect `Metric` the process registered, as Prometheus text (issue 16, `/metrics`), plus the
 * node-level gauges nothing else keeps up to date.
 *
 * - `render` is pure: a `Metric.snapshot` in, the text exposition format 0.0.4 out. Counters, gauges, histograms,
 *   frequencies and summaries; a metric's tags become its labels. Families are sorted by name and series by labels,
 *   so the same registry always renders the same text.
 * - The pipeline's own counters, histogram and gauge (`GossipPipeline.GossipPipelineMetrics`) are updated where
 *   things happen. What is a property of the node rather than an event — graph size, peers by sync type and state —
 *   is sampled at scrape time by `collect` (the `Metrics` service), which the HTTP layer runs before rendering, so
 *   nothing polls in between.
 *
 * Effect's registry is one per process: a process that builds several nodes (the demo) renders their sum.
 */
import { Context, Effect, Layer, Metric, MetricState, Option } from "effect"
import type { MetricPair } from "effect"
import type { SyncerState, SyncType } from "./GossipSyncer.js"
import { GraphStore } from "./GraphStore.js"
import type { GraphStoreService } from "./GraphStore.js"
import { SyncManager } from "./SyncManager.js"
import type { SyncManagerService } from "./SyncManager.js"

// ---------------------------------------------------------------------------------------------------------------
// Rendering (pure)

/** The `Content-Type` of `render`'s output (Prometheus text format 0.0.4). */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

type Family = {
  readonly name: string
  readonly type: "counter" | "gauge" | "histogram" | "summary"
  /** The first description given for the name. */
  help: string | undefined
  /** Rendered samples per series, keyed by the series' labels (for sorting). */
  readonly series: Array<readonly [string, ReadonlyArray<string>]>
}

type Labels = ReadonlyArray<readonly [string, string]>

/** Metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`; anything else becomes `_`. */
const metricName = (s: string): string => {
  const n = s.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[a-zA-Z_:]/.test(n) ? n : `_${n}`
}

/** Label names: `[a-zA-Z_][a-zA-Z0-9_]*`. */
const labelName = (s: string): string => {
  const n = s.replace(/[^a-zA-Z0-9_]/g, "_")
  return /^[a-zA-Z_]/.test(n) ? n : `_${n}`
}

/** HELP text escapes backslash and line feed. */
const escapeHelp = (s: string): string => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

/** Label values escape backslash, double quote and line feed. */
const escapeLabel = (s: string): string => s.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

/** Go's float syntax as Prometheus parses it: `+Inf`, `-Inf`, `NaN`, else the shortest decimal. */
export const formatValue = (v: number | bigint): string => {
  if (typeof v === "bigint") return v.toString()
  if (Number.isNaN(v)) return "NaN"
  if (v === Infinity) return "+Inf"
  if (v === -Infinity) return "-Inf"
  return String(v)
}

/**
 * A series' labels: the metric's tags, sorted by name (a tag given twice keeps its last value), then `extra` (`le`,
 * `quantile`, a frequency's `key`), which wins over a tag of the same name.
 */
const labelsOf = (
  tags: ReadonlyArray<{ readonly key: string; readonly value: string }>,
  extra: Labels = []
): Labels => {
  const byName = new Map<string, string>()
  for (const t of tags) byName.set(labelName(t.key), t.value)
  for (const [k] of extra) byName.delete(k)
  const sorted = [...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return [...sorted, ...extra]
}

const formatLabels = (labels: Labels): string =>
  labels.length === 0 ? "" : `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`

const sample = (name: string, labels: Labels, value: number | bigint): string =>
  `${name}${formatLabels(labels)} ${formatValue(value)}`

/** Prometheus' convention for accumulating counts: the name ends in `_total`. */
const counterName = (name: string): string => (name.endsWith("_total") ? name : `${name}_total`)

/** The family name and type a metric renders as, and its samples. */
const seriesOf = (
  pair: MetricPair.MetricPair.Untyped
): { readonly name: string; readonly type: Family["type"]; readonly lines: ReadonlyArray<string> } | undefined => {
  const key = pair.metricKey
  const base = metricName(key.name)
  const tags = key.tags
  const state: unknown = pair.metricState
  if (MetricState.isCounterState(state)) {
    const name = counterName(base)
    return { name, type: "counter", lines: [sample(name, labelsOf(tags), state.count)] }
  }
  if (MetricState.isGaugeState(state)) {
    return { name: base, type: "gauge", lines: [sample(base, labelsOf(tags), state.value)] }
  }
  if (MetricState.isFrequencyState(state)) {
    // one counter per value seen, the value as the `key` label
    const name = counterName(base)
    const occurrences = [...state.occurrences].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return { name, type: "counter", lines: occurrences.map(([k, n]) => sample(name, labelsOf(tags, [["key", k]]), n)) }
  }
  if (MetricState.isHistogramState(state)) {
    // Effect's buckets are already cumulative and end with +Inf (MetricBoundaries always appends it)
    const lines = state.buckets.map(([le, n]) => sample(`${base}_bucket`, labelsOf(tags, [["le", formatValue(le)]]), n))
    if (!state.buckets.some(([le]) => le === Infinity)) {
      lines.push(sample(`${base}_bucket`, labelsOf(tags, [["le", "+Inf"]]), state.count))
    }
    lines.push(sample(`${base}_sum`, labelsOf(tags), state.sum), sample(`${base}_count`, labelsOf(tags), state.count))
    return { name: base, type: "histogram", lines }
  }
  if (MetricState.isSummaryState(state)) {
    // a quantile with no observations in the window is NaN, as Prometheus' own clients render it
    const lines = state.quantiles.map(([q, v]) =>
      sample(base, labelsOf(tags, [["quantile", formatValue(q)]]), Option.getOrElse(v, () => NaN))
    )
    lines.push(sample(`${base}_sum`, labelsOf(tags), state.sum), sample(`${base}_count`, labelsOf(tags), state.count))
    return { name: base, type: "summary", lines }
  }
  return undefined
}

/**
 * The metrics as Prometheus text format 0.0.4: per family one `# HELP` (the metric's description, when it has one),
 * one `# TYPE`, then its samples. A counter (and a frequency, as one counter per value) gets the `_total` suffix;
 * a histogram renders `_bucket{le=...}` (cumulative, up to `+Inf`), `_sum` and `_count`; a summary its quantiles,
 * `_sum` and `_count`. Two metrics of different kinds under one name cannot share a family: the first kind (in
 * name order of the families, then as given) is kept and the other dropped, rather than emit text Prometheus refuses.
 */
export const render = (pairs: Iterable<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  for (const pair of pairs) {
    const s = seriesOf(pair)
    if (s === undefined) continue
    let family = families.get(s.name)
    if (family === undefined) {
      family = { name: s.name, type: s.type, help: undefined, series: [] }
      families.set(s.name, family)
    } else if (family.type !== s.type) continue
    const help = Option.getOrUndefined(pair.metricKey.description)
    family.help ??= help
    family.series.push([formatLabels(labelsOf(pair.metricKey.tags)), s.lines])
  }
  const out: Array<string> = []
  for (const family of [...families.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (family.help !== undefined) out.push(`# HELP ${family.name} ${escapeHelp(family.help)}`)
    out.push(`# TYPE ${family.name} ${family.type}`)
    const series = [...family.series].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    for (const [, lines] of series) out.push(...lines)
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`
}

/** Every metric registered in this process, rendered (no sampling: see `Metrics.scrape` for that). */
export const renderAll: Effect.Effect<string> = Effect.map(Metric.snapshot, render)

// ---------------------------------------------------------------------------------------------------------------
// Node-level metrics, sampled at scrape time

const SYNC_TYPES: ReadonlyArray<SyncType> = ["ActiveSync", "PassiveSync", "PinnedSync"]
const SYNCER_STATES: ReadonlyArray<SyncerState> = [
  "syncingChans",
  "waitingQueryRangeReply",
  "queryNewChannels",
  "waitingQueryChanReply",
  "chansSynced",
  "syncerIdle"
]

/** A gauge of numbers; named so the declaration build can spell NodeMetrics' type. */
type Gauge = Metric.Metric.Gauge<number>
/** A counter of numbers. */
type Counter = Metric.Metric.Counter<number>

const peers: Gauge = Metric.gauge("lnsync_peers", {
  description: "connected gossip_queries peers by sync type (SM-4) and syncer state (GS-2)"
})

export const NodeMetrics: {
  readonly channels: Gauge
  readonly updates: Gauge
  readonly nodes: Gauge
  readonly expectedChannels: Gauge
  readonly expectedUpdates: Gauge
  readonly expectedNodes: Gauge
  readonly graphSynced: Gauge
  readonly peers: Gauge
  readonly peersBy: (syncType: SyncType, state: SyncerState) => Gauge
  readonly peersSyncing: Gauge
  readonly peersFailing: Gauge
  readonly collectFailures: Counter
} = {
  channels: Metric.gauge("lnsync_graph_channels", { description: "channels held in the graph store" }),
  updates: Metric.gauge("lnsync_graph_updates", { description: "channel_updates held (at most two per channel)" }),
  nodes: Metric.gauge("lnsync_graph_nodes", { description: "node_announcements held" }),
  /** Only set once something knows (range replies, a chain source): absent rather than a misleading 0. */
  expectedChannels: Metric.gauge("lnsync_sync_expected_channels", {
    description: "channels the sync expects to hold (from what peers announced)"
  }),
  expectedUpdates: Metric.gauge("lnsync_sync_expected_updates", { description: "channel_updates the sync expects" }),
  expectedNodes: Metric.gauge("lnsync_sync_expected_nodes", { description: "node_announcements the sync expects" }),
  graphSynced: Metric.gauge("lnsync_graph_synced", { description: "1 once a historical sync completed (SM-6)" }),
  peers,
  /** Every (sync type, state) pair is set on each scrape, 0 included, so a peer that moved on leaves no stale 1. */
  peersBy: (syncType: SyncType, state: SyncerState) =>
    peers.pipe(Metric.tagged("sync_type", syncType), Metric.tagged("state", state)),
  peersSyncing: Metric.gauge("lnsync_peers_syncing", {
    description: "peers with a historical sync in progress (SyncManager syncRecords)"
  }),
  peersFailing: Metric.gauge("lnsync_peers_failing", {
    description: "peers whose last historical sync failed (waiting out their retry backoff)"
  }),
  collectFailures: Metric.counter("lnsync_metrics_collect_failures", {
    description: "scrapes whose graph counts could not be read from the store"
  })
} as const

/** What the sync expects to hold, when something knows; a field left out is unknown. */
export interface ExpectedCounts {
  readonly channels?: number | undefined
  readonly updates?: number | undefined
  readonly nodes?: number | undefined
}

/** Where `collect` samples from. Without a SyncManager (`lnsync serve` of a file) only the graph is sampled. */
export interface MetricsSources {
  readonly store: GraphStoreService
  readonly syncManager?: SyncManagerService | undefined
  readonly expected?: Effect.Effect<ExpectedCounts> | undefined
}

/** Samples the node-level gauges once. A store that cannot count is logged and counted, never a failed scrape. */
export const collectFrom = (sources: MetricsSources): Effect.Effect<void> =>
  Effect.gen(function* () {
    yield* sources.store.counts.pipe(
      Effect.flatMap((c) =>
        Effect.all([
          Metric.set(NodeMetrics.channels, c.channels),
          Metric.set(NodeMetrics.updates, c.updates),
          Metric.set(NodeMetrics.nodes, c.nodes)
        ], { discard: true })
      ),
      Effect.catchAll((error) =>
        Effect.zipRight(
          Effect.logWarning("metrics: graph counts unavailable").pipe(
            Effect.annotateLogs({ operation: error.operation, cause: String(error.cause) })
          ),
          Metric.increment(NodeMetrics.collectFailures)
        )
      )
    )
    const e: ExpectedCounts = sources.expected === undefined ? {} : yield* sources.expected
    if (e.channels !== undefined) yield* Metric.set(NodeMetrics.expectedChannels, e.channels)
    if (e.updates !== undefined) yield* Metric.set(NodeMetrics.expectedUpdates, e.updates)
    if (e.nodes !== undefined) yield* Metric.set(NodeMetrics.expectedNodes, e.nodes)
    const manager = sources.syncManager
    if (manager === undefined) return
    yield* Metric.set(NodeMetrics.graphSynced, (yield* manager.isGraphSynced) ? 1 : 0)
    const tally = new Map<string, number>()
    let announced: number | undefined
    for (const s of yield* manager.syncers) {
      const k = `${s.syncType}/${yield* s.syncer.state.get}`
      tally.set(k, (tally.get(k) ?? 0) + 1)
      const p = yield* s.syncer.progress
      if (Option.isSome(p)) announced = Math.max(announced ?? 0, p.value.channelsAnnounced)
    }
    // issue 16: what a peer's range replies announced is what a full sync from it should hold (the largest such
    // graph among the syncing peers); an explicit `expected` source wins, and the gauge keeps its last known value
    if (e.channels === undefined && announced !== undefined) yield* Metric.set(NodeMetrics.expectedChannels, announced)
    for (const t of SYNC_TYPES) {
      for (const st of SYNCER_STATES) yield* Metric.set(NodeMetrics.peersBy(t, st), tally.get(`${t}/${st}`) ?? 0)
    }
    let syncing = 0
    let failing = 0
    for (const r of (yield* manager.syncRecords).values()) {
      if (r.syncing) syncing += 1
      if (r.failures > 0) failing += 1
    }
    yield* Metric.set(NodeMetrics.peersSyncing, syncing)
    yield* Metric.set(NodeMetrics.peersFailing, failing)
  })

// ---------------------------------------------------------------------------------------------------------------
// The service

export interface MetricsService {
  /** Samples the node-level gauges (graph counts, peers by sync type and state). */
  readonly collect: Effect.Effect<void>
  /** `collect`, then every registered metric as Prometheus text (`CONTENT_TYPE`): what `/metrics` answers. */
  readonly scrape: Effect.Effect<string>
}

export class Metrics extends Context.Tag("lnsync/Metrics")<Metrics, MetricsService>() {}

export const make = (sources: MetricsSources): MetricsService => {
  const collect = collectFrom(sources)
  return { collect, scrape: Effect.zipRight(collect, renderAll) }
}

/** Serving a database file alone (`lnsync serve`): the graph's counts only. */
export const layerStandalone: Layer.Layer<Metrics, never, GraphStore> = Layer.effect(
  Metrics,
  Effect.map(GraphStore, (store) => make({ store }))
)

/** A syncing node (`lnsync sync --http`): the graph's counts and the SyncManager's peers. */
export const layer: Layer.Layer<Metrics, never, GraphStore | SyncManager> = Layer.effect(
  Metrics,
  Effect.map(Effect.all([GraphStore, SyncManager]), ([store, syncManager]) => make({ store, syncManager }))
)

/** As `layer`, with a source for what the sync expects to hold (`lnsync_sync_expected_*`). */
export const layerWithExpected = (
  expected: Effect.Effect<ExpectedCounts>
): Layer.Layer<Metrics, never, GraphStore | SyncManager> =>
  Layer.effect(
    Metrics,
    Effect.map(Effect.all([GraphStore, SyncManager]), ([store, syncManager]) => make({ store, syncManager, expected }))
  )
