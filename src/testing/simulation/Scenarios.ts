/**
 * The simulation's scenarios and what is known not to hold yet. `test/Simulation.test.ts` runs every scenario and
 * asserts, for each, that no fiber outlives the node and that nothing forged reached the graph, plus each property
 * below unless `KNOWN_FAILING` lists it for that scenario. Fixing an item of issue 13 = deleting its line here.
 *
 * - `converges`: within the scenario's bound of virtual time, the local graph holds the union of the well-behaved
 *   peers' graphs (byte for byte; a Core-Lightning-like peer's graph without its announcement-only channels).
 * - `exits`: within the bound, `lnsync sync --exit-when-synced` would have returned (`src/bin/run.ts`: graph
 *   synced, Reconciler idle, pipeline flushed).
 *
 * "Before" figures (issue 13 item 5), 300-channel graph, every peer alone, default settings: an LDK-like peer
 * (20 ms round trip) is synced after 130.5 s of virtual time (120 s waiting for a reply_short_channel_ids_end that
 * never comes, 0.6 s of dump, 10 s of quiet before the dump is deemed over); a Core-Lightning-like peer (1 MB/s)
 * after 0.1 s; an honest peer at 50 KiB/s after 4.3 s.
 */
import * as B from "./Behaviour.js"
import type { Scenario } from "./Network.js"
import { scenario } from "./Network.js"

export type Property = "converges" | "exits"

export const PROPERTIES: ReadonlyArray<Property> = ["converges", "exits"]

export const SCENARIOS: ReadonlyArray<Scenario> = [
  scenario("three honest peers", [B.honest, B.honest, B.honest]),
  scenario("a slow peer alone", [B.slow]),
  scenario("an LDK-like peer alone", [B.ldkLike]),
  scenario("a Core-Lightning-like peer alone", [B.clnLike]),
  scenario("Core-Lightning-like, then honest (the announcement-only channels come from the honest one)", [
    B.clnLike,
    B.honest
  ]),
  scenario("silent first, then two honest", [B.silent, B.honest, B.honest]),
  scenario("honest, silent, honest", [B.honest, B.silent, B.honest]),
  scenario("stalls mid-reply first, then two honest", [B.stallMidReply, B.honest, B.honest]),
  scenario("range gap first, then two honest", [B.liesInRange("gap"), B.honest, B.honest]),
  scenario("range overlap first, then two honest", [B.liesInRange("overlap"), B.honest, B.honest]),
  scenario("range outside first, then two honest", [B.liesInRange("outside"), B.honest, B.honest]),
  scenario("endless range replies first, then two honest", [B.liesInRange("endless"), B.honest, B.honest]),
  scenario("invalid signatures first, then two honest", [B.invalidSignatures, B.honest, B.honest]),
  scenario("disconnects mid-sync first, then two honest", [B.disconnectMidSync, B.honest, B.honest]),
  scenario("silent and stalling peers, then an LDK-like one (its graph is the union)", [
    B.silent,
    B.stallMidReply,
    B.ldkLike
  ]),
  scenario("every behaviour at once", [
    B.silent,
    B.stallMidReply,
    B.liesInRange("gap"),
    B.invalidSignatures,
    B.disconnectMidSync,
    B.ldkLike,
    B.clnLike,
    B.slow,
    B.honest
  ]),
  // issue 13 item 4: a lone bad peer; the union is empty, but --exit-when-synced must still end (with a failure)
  scenario("a silent peer alone", [B.silent]),
  scenario("a peer that stalls mid-reply, alone", [B.stallMidReply]),
  scenario("a peer with invalid signatures, alone", [B.invalidSignatures]),
  // issue 13 item 5: the goal is seconds, not minutes
  scenario("an LDK-like peer alone, within 30 s", [B.ldkLike], { bound: "30 seconds" })
]

export interface KnownFailure {
  readonly scenario: string
  readonly property: Property
  /** What happens today and which item of issue 13 it is. */
  readonly why: string
}

/** Issue 13 work: each entry fails today; delete it when its fix lands (the test then asserts it). */
export const KNOWN_FAILING: ReadonlyArray<KnownFailure> = [
  {
    scenario: "silent and stalling peers, then an LDK-like one (its graph is the union)",
    property: "exits",
    why: "items 4/5: converged at 240.4 s (silent 120 s + LDK 120 s), synced at 250.3 s, but the Reconciler spends " +
      "4 min on the stalling peer (120 s reply timeout, then 120 s waiting for a dump it ignores): exit at 610.3 s"
  },
  {
    scenario: "every behaviour at once",
    property: "converges",
    why: "items 4/5: the Reconciler visits the bad peers one at a time before the good ones (stall 4 min, LDK 2 min " +
      "10 s...): the Core-Lightning-like and slow peers' channels arrive at 610.1 s"
  },
  { scenario: "every behaviour at once", property: "exits", why: "as for converges: exit at 610.1 s" },
  {
    scenario: "a silent peer alone",
    property: "exits",
    why: "item 4: the initial sync is retried with backoff (0, 125, 255, 395, 555, 755 s..., then every 420 s), each " +
      "attempt in waitingQueryRangeReply until its 2-minute timeout; the graph is never synced, nothing ends the run"
  },
  {
    scenario: "a peer that stalls mid-reply, alone",
    property: "exits",
    why: "item 4: after the stall, 120 s to the dump fallback and 120 s more to fail (240 s); the retries (245, 375, " +
      "515 s..., then every 420 s) get no range reply; the graph is never synced"
  },
  {
    scenario: "a peer with invalid signatures, alone",
    property: "exits",
    why: "item 4: banned (SM-33) and disconnected at once: no syncer left, the graph never synced, nothing ends the run"
  },
  {
    scenario: "an LDK-like peer alone, within 30 s",
    property: "converges",
    why: "item 5: at 30 s still in waitingQueryChanReply (no reply_short_channel_ids_end); the dump is asked for at " +
      "120 s and has arrived at 120.6 s"
  },
  {
    scenario: "an LDK-like peer alone, within 30 s",
    property: "exits",
    why: "item 5: synced at 130.5 s (10 s dump quiet period after the 120 s timeout)"
  }
]

export const isKnownFailing = (name: string, property: Property): boolean =>
  KNOWN_FAILING.some((k) => k.scenario === name && k.property === property)
