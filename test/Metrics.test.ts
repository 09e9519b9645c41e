import { describe, expect, it } from "@effect/vitest"
import {
  Context,
  Effect,
  Layer,
  MetricBoundaries,
  MetricKey,
  MetricPair,
  MetricState,
  Option,
  Random,
  TestClock
} from "effect"
import type { GossipMessage } from "../src/domain/Messages.js"
import { GossipPipeline, layer as layerGossipPipeline } from "../src/services/GossipPipeline.js"
import { layerNone } from "../src/services/ChainSource.js"
import { layerGossipPipelineConfig } from "../src/services/GossipPipelineConfig.js"
import { GossipSyncerFactory } from "../src/services/GossipSyncer.js"
import type { GraphStoreService } from "../src/services/GraphStore.js"
import { GraphStore, GraphStoreError, layerMemory } from "../src/services/GraphStore.js"
import * as Metrics from "../src/services/Metrics.js"
import { layerInThread } from "../src/services/SignatureVerifier.js"
import { SyncManager } from "../src/services/SyncManager.js"
import { layerSyncManagerConfig } from "../src/services/SyncManagerConfig.js"
import { fakeNodeIdHex, fakePeer, makeFakeSyncerFactory } from "./support/FakeSyncer.js"
import { channel, corrupt, node, NOW, NOW_MILLIS, nodeAnnouncement, scid, update } from "./pipelineFixtures.js"

const pair = MetricPair.unsafeMake

/**
 * lnsync's rendered series carrying the label `run="<run>"`: the registry is shared by the whole process (and holds
 * Effect's own `effect_fiber_*` metrics too).
 */
const linesOf = (text: string, run: string): Array<string> =>
  text.split("\n").filter((l) => l.startsWith("lnsync_") && l.includes(`run="${run}"`))

describe("Metrics.render: Prometheus text format 0.0.4", () => {
  it("nothing registered renders nothing", () => {
    expect(Metrics.render([])).toBe("")
  })

  it("counters get _total, HELP and TYPE once per family; tags become sorted labels; series sorted by labels", () => {
    const invalid = MetricKey.counter("lnsync_gossip_invalid", { description: "gossip rejected by a BOLT 7 rule" })
    const text = Metrics.render([
      pair(MetricKey.tagged(MetricKey.tagged(invalid, "reason", "BadSignature"), "node", "b"), MetricState.counter(3)),
      pair(MetricKey.tagged(invalid, "reason", "Malformed"), MetricState.counter(1)),
      pair(MetricKey.counter("requests_total"), MetricState.counter(7)),
      pair(MetricKey.counter("big", { bigint: true }), MetricState.counter(2n ** 64n))
    ])
    expect(text).toBe(
      [
        "# TYPE big_total counter",
        "big_total 18446744073709551616",
        "# HELP lnsync_gossip_invalid_total gossip rejected by a BOLT 7 rule",
        "# TYPE lnsync_gossip_invalid_total counter",
        "lnsync_gossip_invalid_total{node=\"b\",reason=\"BadSignature\"} 3",
        "lnsync_gossip_invalid_total{reason=\"Malformed\"} 1",
        "# TYPE requests_total counter",
        "requests_total 7",
        ""
      ].join("\n")
    )
  })

  it("escapes HELP text and label values, and turns illegal name characters into _", () => {
    const key = MetricKey.tagged(
      MetricKey.gauge("lnsync.queue-depth", { description: "a \\ b\nc \"quoted\"" }),
      "peer-id",
      "x\\y\"z\nw"
    )
    expect(Metrics.render([pair(key, MetricState.gauge(-1.5))])).toBe(
      [
        "# HELP lnsync_queue_depth a \\\\ b\\nc \"quoted\"",
        "# TYPE lnsync_queue_depth gauge",
        "lnsync_queue_depth{peer_id=\"x\\\\y\\\"z\\nw\"} -1.5",
        ""
      ].join("\n")
    )
  })

  it("gauges render special values as Prometheus spells them", () => {
    const g = (name: string, v: number) => pair(MetricKey.gauge(name), MetricState.gauge(v))
    expect(Metrics.render([g("a", Infinity), g("b", -Infinity), g("c", NaN), g("d", 1e-7)])).toBe(
      "# TYPE a gauge\na +Inf\n# TYPE b gauge\nb -Inf\n# TYPE c gauge\nc NaN\n# TYPE d gauge\nd 1e-7\n"
    )
  })

  it("histograms: cumulative _bucket{le} up to +Inf, then _sum and _count, tags before le", () => {
    const key = MetricKey.tagged(
      MetricKey.histogram(
        "lnsync_store_write_seconds",
        MetricBoundaries.fromIterable([0.005, 0.01, 0.1]),
        "time to write one batch"
      ),
      "store",
      "sqlite"
    )
    const state = MetricState.histogram({
      buckets: [[0.005, 1], [0.01, 3], [0.1, 3], [Infinity, 4]],
      count: 4,
      min: 0.001,
      max: 2,
      sum: 2.021
    })
    expect(Metrics.render([pair(key, state)])).toBe(
      [
        "# HELP lnsync_store_write_seconds time to write one batch",
        "# TYPE lnsync_store_write_seconds histogram",
        "lnsync_store_write_seconds_bucket{store=\"sqlite\",le=\"0.005\"} 1",
        "lnsync_store_write_seconds_bucket{store=\"sqlite\",le=\"0.01\"} 3",
        "lnsync_store_write_seconds_bucket{store=\"sqlite\",le=\"0.1\"} 3",
        "lnsync_store_write_seconds_bucket{store=\"sqlite\",le=\"+Inf\"} 4",
        "lnsync_store_write_seconds_sum{store=\"sqlite\"} 2.021",
        "lnsync_store_write_seconds_count{store=\"sqlite\"} 4",
        ""
      ].join("\n")
    )
  })

  it("summaries: one sample per quantile (NaN when the window is empty), _sum and _count", () => {
    const key = MetricKey.summary({
      name: "rtt_seconds",
      maxAge: "1 minute",
      maxSize: 100,
      error: 0.01,
      quantiles: [0.5, 0.99],
      description: "ping round trip"
    })
    const state = MetricState.summary({
      error: 0.01,
      quantiles: [[0.5, Option.some(0.2)], [0.99, Option.none()]],
      count: 3,
      min: 0.1,
      max: 0.4,
      sum: 0.7
    })
    expect(Metrics.render([pair(key, state)])).toBe(
      [
        "# HELP rtt_seconds ping round trip",
        "# TYPE rtt_seconds summary",
        "rtt_seconds{quantile=\"0.5\"} 0.2",
        "rtt_seconds{quantile=\"0.99\"} NaN",
        "rtt_seconds_sum 0.7",
        "rtt_seconds_count 3",
        ""
      ].join("\n")
    )
  })

  it("frequencies: a counter per value seen, the value as the key label", () => {
    const key = MetricKey.tagged(
      MetricKey.frequency("lnsync_disconnects", { description: "why peers left" }),
      "dir",
      "in"
    )
    const state = MetricState.frequency(new Map([["timeout", 2], ["banned", 1]]))
    expect(Metrics.render([pair(key, state)])).toBe(
      [
        "# HELP lnsync_disconnects_total why peers left",
        "# TYPE lnsync_disconnects_total counter",
        "lnsync_disconnects_total{dir=\"in\",key=\"banned\"} 1",
        "lnsync_disconnects_total{dir=\"in\",key=\"timeout\"} 2",
        ""
      ].join("\n")
    )
  })

  it("a name used by two kinds keeps one family (Prometheus refuses a second TYPE line)", () => {
    const text = Metrics.render([
      pair(MetricKey.gauge("x"), MetricState.gauge(1)),
      pair(MetricKey.counter("x_total"), MetricState.counter(2)),
      pair(MetricKey.tagged(MetricKey.counter("x"), "a", "b"), MetricState.counter(3))
    ])
    expect(text).toBe("# TYPE x gauge\nx 1\n# TYPE x_total counter\nx_total 2\nx_total{a=\"b\"} 3\n")
  })
})

const pipelineHarness = layerGossipPipeline.pipe(
  Layer.provideMerge(Layer.mergeAll(layerMemory, layerInThread, layerNone, layerGossipPipelineConfig({})))
)

const PEER = "02" + "aa".repeat(32)

describe("Metrics: the pipeline's metrics after a run", () => {
  it.effect("received, batches, accepted, duplicate, invalid by reason, signature checks, store writes and queue depth", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW_MILLIS)
      const p = yield* GossipPipeline
      const { ann, n1, n2 } = channel(node(1), node(2), scid(800_000))
      const first: Array<GossipMessage> = [
        ann,
        update(ann.shortChannelId, 0, NOW - 60, n1),
        update(ann.shortChannelId, 1, NOW - 30, n2),
        nodeAnnouncement(n1, NOW - 10),
        nodeAnnouncement(n2, NOW - 20)
      ]
      yield* p.process(PEER, first)
      // a duplicate (no signature work) and an update whose signature is bad (one check, rejected)
      yield* p.process(PEER, [ann, corrupt(update(ann.shortChannelId, 0, NOW - 5, n1))])
      const text = yield* Metrics.renderAll
      expect(linesOf(text, "pipeline-run")).toEqual([
        "lnsync_gossip_accepted_total{run=\"pipeline-run\"} 5",
        // one batch per `process` call
        "lnsync_gossip_batches_total{run=\"pipeline-run\"} 2",
        "lnsync_gossip_duplicate_total{run=\"pipeline-run\"} 1",
        "lnsync_gossip_invalid_total{reason=\"BadSignature\",run=\"pipeline-run\"} 1",
        "lnsync_gossip_queue_depth{run=\"pipeline-run\"} 0",
        "lnsync_gossip_received_total{run=\"pipeline-run\"} 7",
        // 4 for the announcement, 1 per update and node announcement, 1 for the bad update
        "lnsync_signature_checks_total{run=\"pipeline-run\"} 9",
        // only the first batch had anything to write; TestClock time does not pass, so it took 0 s
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"0.001\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"0.002\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"0.004\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"0.008\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"0.016\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"0.032\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"0.064\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"0.128\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"0.256\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"0.512\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"1.024\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"2.048\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"4.096\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"8.192\"} 1",
        "lnsync_store_write_seconds_bucket{run=\"pipeline-run\",le=\"+Inf\"} 1",
        "lnsync_store_write_seconds_sum{run=\"pipeline-run\"} 0",
        "lnsync_store_write_seconds_count{run=\"pipeline-run\"} 1"
      ])
      expect(text).toContain("# TYPE lnsync_store_write_seconds histogram\n")
      expect(text).toContain("# HELP lnsync_gossip_received_total gossip messages the pipeline took in\n")
    }).pipe(Effect.provide(pipelineHarness), Effect.tagMetrics("run", "pipeline-run")))
})

/** The SyncManager with fake syncers (test/support/FakeSyncer.ts) and a memory store, built into the test's scope. */
const syncing = Effect.gen(function* () {
  const fakes = yield* makeFakeSyncerFactory
  const layer = Layer.mergeAll(
    SyncManager.layer.pipe(
      Layer.provide(Layer.succeed(GossipSyncerFactory, fakes.factory)),
      Layer.provide(layerSyncManagerConfig({ numActiveSyncers: 1 }))
    ),
    layerMemory
  )
  const context = yield* Layer.build(layer).pipe(Effect.orDie, Effect.withRandom(Random.make("metrics")))
  return { manager: Context.get(context, SyncManager), store: Context.get(context, GraphStore), fakes }
})

describe("Metrics: node-level gauges sampled at scrape time", () => {
  it.scoped("graph counts, expected counts, peers by sync type and state, syncing and graph synced", () =>
    Effect.gen(function* () {
      const { fakes, manager, store } = yield* syncing
      const { ann, n1, n2 } = channel(node(1), node(2), scid(800_001))
      yield* store.applyBatch({
        channels: [ann],
        updates: [update(ann.shortChannelId, 0, NOW - 60, n1)],
        nodes: [nodeAnnouncement(n1, NOW - 10), nodeAnnouncement(n2, NOW - 10)]
      })
      for (const n of [1, 2, 3]) yield* manager.initSyncState(fakePeer(n))
      yield* TestClock.adjust(0)
      const metrics = Metrics.make({ store, syncManager: manager, expected: Effect.succeed({ channels: 54_000 }) })

      const before = linesOf(yield* metrics.scrape, "scrape")
      expect(before.filter((l) => l.startsWith("lnsync_graph_"))).toEqual([
        "lnsync_graph_channels{run=\"scrape\"} 1",
        "lnsync_graph_nodes{run=\"scrape\"} 2",
        "lnsync_graph_synced{run=\"scrape\"} 0",
        "lnsync_graph_updates{run=\"scrape\"} 1"
      ])
      // only what is known is rendered: no expected updates or nodes
      expect(before.filter((l) => l.startsWith("lnsync_sync_expected_"))).toEqual([
        "lnsync_sync_expected_channels{run=\"scrape\"} 54000"
      ])
      // SM-21: every peer passive until the initial historical sync (peer 1's) completes
      const nonZero = (lines: ReadonlyArray<string>) =>
        lines.filter((l) => l.startsWith("lnsync_peers{") && !l.endsWith(" 0"))
      const initial = yield* fakes.latest(fakeNodeIdHex(1))
      const initialState = yield* initial.syncer.state.get
      expect(nonZero(before)).toEqual(
        [
          `lnsync_peers{run="scrape",state="${initialState}",sync_type="PassiveSync"} 1`,
          "lnsync_peers{run=\"scrape\",state=\"chansSynced\",sync_type=\"PassiveSync\"} 2"
        ].sort()
      )
      expect(initialState).not.toBe("chansSynced")
      // every (sync type, state) pair is rendered: 3 x 6
      expect(before.filter((l) => l.startsWith("lnsync_peers{"))).toHaveLength(18)
      expect(before).toContain("lnsync_peers_syncing{run=\"scrape\"} 1")

      yield* initial.completeSync
      yield* TestClock.adjust(0)
      const after = linesOf(yield* metrics.scrape, "scrape")
      expect(after).toContain("lnsync_graph_synced{run=\"scrape\"} 1")
      expect(after).toContain("lnsync_peers_syncing{run=\"scrape\"} 0")
      // SM-5: one active syncer (numActiveSyncers 1); the peer that moved on leaves no stale series behind
      const roles = yield* manager.syncers
      const active = roles.filter((s) => s.syncType === "ActiveSync").length
      expect(active).toBe(1)
      expect(nonZero(after)).toEqual(
        [
          "lnsync_peers{run=\"scrape\",state=\"chansSynced\",sync_type=\"ActiveSync\"} 1",
          "lnsync_peers{run=\"scrape\",state=\"chansSynced\",sync_type=\"PassiveSync\"} 2"
        ]
      )
    }).pipe(Effect.tagMetrics("run", "scrape")))

  it.scoped("issue 16: expected channels from what the syncing peers' range replies announced, once known", () =>
    Effect.gen(function* () {
      const { fakes, manager, store } = yield* syncing
      for (const n of [1, 2]) yield* manager.initSyncState(fakePeer(n))
      yield* TestClock.adjust(0)
      const metrics = Metrics.make({ store, syncManager: manager })
      const expected = (lines: ReadonlyArray<string>) => lines.filter((l) => l.startsWith("lnsync_sync_expected_"))
      // no sync knows yet: nothing rendered rather than a misleading 0
      expect(expected(linesOf(yield* metrics.scrape, "progress"))).toEqual([])
      const [one, two] = [yield* fakes.latest(fakeNodeIdHex(1)), yield* fakes.latest(fakeNodeIdHex(2))]
      yield* one.setProgress({ channelsAnnounced: 52_000, channelsWanted: 51_000, channelsReceived: 10 })
      yield* two.setProgress({ channelsAnnounced: 54_000, channelsWanted: 3, channelsReceived: 0 })
      expect(expected(linesOf(yield* metrics.scrape, "progress"))).toEqual([
        "lnsync_sync_expected_channels{run=\"progress\"} 54000"
      ])
    }).pipe(Effect.tagMetrics("run", "progress")))

  it.effect("a store that cannot count is logged and counted; the scrape still renders", () =>
    Effect.gen(function* () {
      const store = yield* GraphStore
      const failing: GraphStoreService = {
        ...store,
        counts: Effect.fail(new GraphStoreError({ operation: "counts", cause: "database is locked" }))
      }
      const text = yield* Metrics.make({ store: failing }).scrape
      expect(linesOf(text, "failing")).toEqual(["lnsync_metrics_collect_failures_total{run=\"failing\"} 1"])
      expect(text).toContain("# TYPE lnsync_metrics_collect_failures_total counter\n")
    }).pipe(Effect.provide(layerMemory), Effect.tagMetrics("run", "failing")))

  it.effect("layerStandalone samples the graph of the store it is given", () =>
    Effect.gen(function* () {
      const metrics = yield* Metrics.Metrics
      expect(linesOf(yield* metrics.scrape, "standalone")).toEqual([
        "lnsync_graph_channels{run=\"standalone\"} 0",
        "lnsync_graph_nodes{run=\"standalone\"} 0",
        "lnsync_graph_updates{run=\"standalone\"} 0"
      ])
      expect(Metrics.CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8")
    }).pipe(
      Effect.provide(Metrics.layerStandalone.pipe(Layer.provide(layerMemory))),
      Effect.tagMetrics("run", "standalone")
    ))
})
