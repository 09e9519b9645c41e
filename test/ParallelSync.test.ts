/**
 * Issue 18: the parallel initial sync (src/services/internal/gossipSyncer/shares.ts), through the deterministic
 * whole-network simulation: a real lnsync node (SyncManager, GossipSyncers, pipeline with signature checks, the
 * Reconciler) against scripted peers that each serve the whole graph, under TestClock. The simulated peers pace
 * what they send at lnd's 50 KiB/s in virtual time, so the bandwidth floor (the graph's bytes over the peers'
 * combined rate) is a deterministic figure a run is compared with.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { ShareMetrics } from "../src/services/internal/gossipSyncer/shares.js"
import * as B from "../src/testing/simulation/Behaviour.js"
import * as Net from "../src/testing/simulation/Network.js"

const graph = Net.makeGraph({ seed: 18, channels: 480 })
const graphBytes = [...graph.whole.channels, ...graph.whole.updates, ...graph.whole.nodes]
  .reduce((n, m) => n + m.raw.length, 0)
/** Virtual ms the graph's bytes need at `peers` × 50 KiB/s. */
const floorMillis = (peers: number) => (graphBytes / (peers * 50 * 1024)) * 1000

/** SCIDs each peer was asked for in `query_short_channel_ids` up to `untilMillis` (from the peers' traces). */
const scidsAsked = (o: Net.Outcome, untilMillis: number) =>
  new Map(o.traces.map((t) => [
    t.peer,
    t.received
      .map((line) => /^([\d.]+) query_short_channel_ids (\d+)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null && Number(m[1]) <= untilMillis)
      .reduce((n, m) => n + Number(m[2]), 0)
  ]))

/** `lnsync_sync_leases{role,outcome}` so far in this test file's process. */
const leases = (role: "owner" | "helper", outcome: "answered" | "failed" | "taken_over") =>
  Effect.map(
    Metric.value(Metric.tagged(Metric.tagged(ShareMetrics.leases, "role", role), "outcome", outcome)),
    (s) => s.count
  )

const wholeGraph = (name: string, peers: ReadonlyArray<B.Behaviour>) => Net.scenario(name, peers, { whole: true })

describe("parallel initial sync (issue 18)", () => {
  it.effect(
    "eight peers at 50 KiB/s split the initial sync: 6.5× faster than one, near the bandwidth floor, every peer asked for a share, no channel asked twice",
    () =>
      Effect.gen(function* () {
        const helpedBefore = yield* leases("helper", "answered")
        const eight = yield* Net.run(graph, wholeGraph("eight at 50 KiB/s", Array.from({ length: 8 }, () => B.slow)))
        // /metrics shows it: helpers' leases answered
        expect((yield* leases("helper", "answered")) - helpedBefore).toBeGreaterThanOrEqual(7)
        const one = yield* Net.run(graph, wholeGraph("one at 50 KiB/s", [B.slow]))
        for (const o of [eight, one]) {
          expect(o.missing).toBe(0)
          expect(o.foreign).toBe(0)
          expect(o.liveFibersAfterClose).toBe(0)
        }
        const synced = eight.graphSyncedAfterMillis!
        expect(one.graphSyncedAfterMillis! / synced).toBeGreaterThanOrEqual(6.5)
        // the floor counts each node announcement once; plain queries (the simulated peers') bring a node's again with
        // every reply that has one of its channels (BOLT 7 dedupes within a reply), which one peer alone pays too:
        // about 1.17× its own floor, so 1.4× here
        expect(synced).toBeLessThanOrEqual(1.4 * floorMillis(8))
        const asked = scidsAsked(eight, synced)
        const total = [...asked.values()].reduce((a, b) => a + b, 0)
        // every channel once (honest peers deliver every lease: nothing is asked again)
        expect(total).toBe(graph.whole.channels.length)
        // every peer did a real part: at least half of a fair share
        for (const [peer, n] of asked) expect({ peer, n: n >= total / 16 }).toEqual({ peer, n: true })
      }),
    60_000
  )

  it.effect(
    "a helper that hangs up mid-reply: what it did not deliver is fetched by the others",
    () =>
      Effect.gen(function* () {
        const o = yield* Net.run(
          graph,
          wholeGraph("helper hangs up", [B.slow, B.disconnectMidSync, B.slow, B.slow])
        )
        expect(o.missing).toBe(0)
        expect(o.foreign).toBe(0)
        const asked = scidsAsked(o, o.graphSyncedAfterMillis!)
        expect(asked.get("p1:disconnect(after 40)")).toBeGreaterThan(0)
        // nothing waited for a reply timeout: the disconnect gave its lease back at once
        expect(o.graphSyncedAfterMillis!).toBeLessThanOrEqual(1.3 * floorMillis(3) + 2_000)
      }),
    60_000
  )

  it.effect(
    "a helper that ignores SCID queries (LDK) is asked once, then left out; no dump is asked of it",
    () =>
      Effect.gen(function* () {
        const failedBefore = yield* leases("helper", "failed")
        const o = yield* Net.run(graph, wholeGraph("LDK helper", [B.slow, B.ldkLike, B.slow, B.slow]))
        expect((yield* leases("helper", "failed")) - failedBefore).toBe(1)
        expect(o.missing).toBe(0)
        const synced = o.graphSyncedAfterMillis!
        const ldk = o.traces.find((t) => t.peer.startsWith("p1:"))!
        const before = ldk.received.filter((l) => Number(l.split(" ")[0]) <= synced)
        expect(before.filter((l) => l.includes("query_short_channel_ids"))).toHaveLength(1)
        expect(before.filter((l) => l.includes("gossip_timestamp_filter 0+4294967295"))).toHaveLength(0)
        // about a second to find out (the first-answer probe), then the others carry its share
        expect(synced).toBeLessThanOrEqual(1.3 * floorMillis(3) + 3_000)
      }),
    60_000
  )

  it.effect(
    "an LDK helper found out while helping still gives its own channels, by its dump, when it is reconciled",
    () =>
      Effect.gen(function* () {
        // the split graph: the LDK peer holds channels nobody else has
        const o = yield* Net.run(graph, Net.scenario("LDK helper, split graph", [B.slow, B.ldkLike, B.clnLike]))
        expect(o.missing).toBe(0)
        const ldk = o.traces.find((t) => t.peer.startsWith("p1:"))!
        expect(ldk.received.filter((l) => l.includes("gossip_timestamp_filter 0+4294967295"))).toHaveLength(1)
      }),
    60_000
  )

  for (const [what, behaviour] of [["silent", B.silent], ["stalls mid-reply", B.stallMidReply]] as const) {
    it.effect(
      `a helper that ${what} holds the sync up for its stall time (10 s), not its 2-minute reply timeout`,
      () =>
        Effect.gen(function* () {
          const o = yield* Net.run(graph, wholeGraph(`helper ${what}`, [B.slow, behaviour, B.slow, B.slow]))
          expect(o.missing).toBe(0)
          expect(o.graphSyncedAfterMillis!).toBeLessThanOrEqual(floorMillis(3) + 15_000)
        }),
      60_000
    )
  }
})
