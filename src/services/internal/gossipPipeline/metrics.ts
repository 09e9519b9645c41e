/**
 * Pipeline counters (Effect `Metric`): what happened to the gossip peers sent. Metric keys, not state: the values
 * live in Effect's metric registry. Invalid and stale are tagged with their `reason`; accepted is counted once
 * written (`write.ts`), the rest when a batch is settled (`verdicts.ts`).
 */
import { Metric } from "effect"

export const GossipPipelineMetrics = {
  accepted: Metric.counter("lnsync_gossip_accepted", { description: "gossip messages written to the graph" }),
  duplicate: Metric.counter("lnsync_gossip_duplicate", { description: "gossip already held (no signature work)" }),
  stale: Metric.counter("lnsync_gossip_stale", { description: "gossip too old or too far in the future" }),
  invalid: Metric.counter("lnsync_gossip_invalid", { description: "gossip rejected by a BOLT 7 rule" }),
  premature: Metric.counter("lnsync_gossip_premature", { description: "gossip held until its channel is known" }),
  bans: Metric.counter("lnsync_gossip_bans", { description: "peers banned for invalid gossip (SM-33)" })
} as const
