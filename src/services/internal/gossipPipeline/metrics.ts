/**
 * Pipeline metrics (Effect `Metric`): what happened to the gossip peers sent, and how the pipeline keeps up. Metric
 * keys, not state: the values live in Effect's metric registry (one per process, so the demo's nodes add up).
 * Invalid and stale are tagged with their `reason`; batches are counted by the validator (`validator.ts`); received,
 * accepted, queue depth and store write latency are recorded by the writer (`write.ts`), signature checks by the
 * verifier the pipeline is given (`countSignatureChecks`), the rest when a batch is settled (`verdicts.ts`).
 * `Metrics.render` (src/services/Metrics.ts) serves them all.
 */
import { Duration, Effect, Metric, MetricBoundaries } from "effect"
import type { SignatureVerifierService } from "../../SignatureVerifier.js"

export const GossipPipelineMetrics = {
  /** Counted once each batch is through (written or failed): `rate()` of it is the pipeline's throughput. */
  received: Metric.counter("lnsync_gossip_received", { description: "gossip messages the pipeline took in" }),
  /**
   * Counted by the validator as it cuts each batch: received / batches is the mean batch size. Each batch costs a
   * store read, a signature round trip and a write transaction whatever its size, so gossip that trickles in
   * (slow peers) shows here as many small batches.
   */
  batches: Metric.counter("lnsync_gossip_batches", {
    description: "validation batches (one store read, signature round and write each)"
  }),
  accepted: Metric.counter("lnsync_gossip_accepted", { description: "gossip messages written to the graph" }),
  duplicate: Metric.counter("lnsync_gossip_duplicate", { description: "gossip already held (no signature work)" }),
  stale: Metric.counter("lnsync_gossip_stale", { description: "gossip too old or too far in the future" }),
  invalid: Metric.counter("lnsync_gossip_invalid", { description: "gossip rejected by a BOLT 7 rule" }),
  premature: Metric.counter("lnsync_gossip_premature", { description: "gossip held until its channel is known" }),
  bans: Metric.counter("lnsync_gossip_bans", { description: "peers banned for invalid gossip (SM-33)" }),
  /** A counter, not a rate: Prometheus' `rate()` gives checks per second over any window. */
  signatureChecks: Metric.counter("lnsync_signature_checks", { description: "secp256k1 signature checks run" }),
  /**
   * Sampled by the writer after each batch: a pipeline at `queueBound` is pushing back on its peers' sockets.
   * Several pipelines in one process (the demo) share it: it shows the last one that wrote.
   */
  queueDepth: Metric.gauge("lnsync_gossip_queue_depth", {
    description: "gossip messages admitted to the pipeline and not yet written"
  }),
  /** One `GraphStore.applyBatch` (one transaction), failed writes included; 1 ms to ~16 s. */
  storeWriteSeconds: Metric.histogram(
    "lnsync_store_write_seconds",
    MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 15 }),
    "time to write one validated batch to the graph store"
  )
} as const

/** The store write latency histogram fed with the duration of the effect it wraps (`Metric.trackDuration`). */
export const storeWriteDuration = Metric.mapInput(GossipPipelineMetrics.storeWriteSeconds, Duration.toSeconds)

/** The pipeline's verifier, counting every signature it is asked to check. */
export const countSignatureChecks = (verifier: SignatureVerifierService): SignatureVerifierService => ({
  parallelism: verifier.parallelism,
  verifyBatch: (items) =>
    Effect.zipRight(
      Metric.incrementBy(GossipPipelineMetrics.signatureChecks, items.length),
      verifier.verifyBatch(items)
    ),
  verifyPacked: (packed, count) =>
    Effect.zipRight(
      Metric.incrementBy(GossipPipelineMetrics.signatureChecks, count),
      verifier.verifyPacked(packed, count)
    )
})
