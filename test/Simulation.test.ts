/**
 * The deterministic whole-network simulation (issue 13): one real lnsync node (SyncNode, SyncManager, real
 * GossipSyncers, the real pipeline with signature checks, the memory store, the Reconciler) against scripted peers
 * (src/testing/simulation), all under TestClock with a seeded Random.
 *
 * For every scenario: no fiber outlives the node (SM-10), nothing forged or corrupted reaches the graph, and each
 * property of `Scenarios.PROPERTIES` holds within the scenario's bound unless `KNOWN_FAILING` lists it:
 * - converges: the local graph holds the union of the well-behaved peers' graphs;
 * - exits: `--exit-when-synced` returns (`Reconciler.account`, as src/bin/run.ts calls it, then a flush) with the
 *   graph synced exactly when a well-behaved peer took part, every well-behaved peer Completed, every other outcome
 *   with its reason, the union already stored, and the account `EXPECTED_ACCOUNTS` gives where it gives one.
 * Then: the same scenario twice gives the same run, message for message; and a fast-check property over random
 * mixes of behaviours (fixed seed).
 *
 * 120 channels keep the file fast (signature checks dominate the run time) while every peer still gets several
 * range replies and SCID batches; the closing note's figures were measured at 300 (see Scenarios.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestContext } from "effect"
import fc from "fast-check"
import * as B from "../src/testing/simulation/Behaviour.js"
import * as Net from "../src/testing/simulation/Network.js"
import {
  describeOutcome,
  EXPECTED_ACCOUNTS,
  isKnownFailing,
  KNOWN_FAILING,
  PROPERTIES,
  SCENARIOS
} from "../src/testing/simulation/Scenarios.js"

/** Validly signed channels (a tenth announcement-only), signed once for the file. */
const graph = Net.makeGraph({ seed: 13, channels: 120 })

/** The node is never left with live fibers, and only validly signed gossip of the graph is ever stored. */
const expectClean = (o: Net.Outcome) => {
  expect(o.liveFibersAfterClose).toBe(0)
  expect(o.foreign).toBe(0)
}

const expectProperty = (s: Net.Scenario, o: Net.Outcome, property: (typeof PROPERTIES)[number]) => {
  switch (property) {
    case "converges":
      expect({ missing: o.missingByKind, converged: o.convergedAfterMillis !== undefined }).toEqual({
        missing: {},
        converged: true
      })
      break
    case "exits": {
      expect(o.exitAfterMillis).toBeDefined()
      const account = o.account!
      const outcomes = new Map(account.peers.map((p) => [p.nodeIdHex, describeOutcome(p)]))
      const labels = s.peers.map((b, i) => `p${i}:${B.label(b)}`)
      expect([...outcomes.keys()].sort()).toEqual([...labels].sort())
      const wellBehaved = labels.filter((_, i) => B.isWellBehaved(s.peers[i]!))
      // exit 0 exactly when a complete sync reached the store; the graph is there when it says so
      expect(account.graphSynced).toBe(wellBehaved.length > 0)
      for (const l of wellBehaved) expect(outcomes.get(l)).toMatch(/^Completed: /)
      for (const o of outcomes.values()) expect(o).toMatch(/^\w+: \S/)
      if (wellBehaved.length > 0) expect(o.convergedAfterMillis).toBeLessThanOrEqual(o.exitAfterMillis!)
      const expected = EXPECTED_ACCOUNTS[s.name]
      if (expected !== undefined) {
        expect(account.ended).toBe(expected.ended)
        for (const [peer, outcome] of Object.entries(expected.peers)) expect(outcomes.get(peer)).toMatch(outcome)
      } else {
        expect(account.ended).toBe("settled")
      }
      break
    }
  }
}

describe("Simulation: scenarios", () => {
  it("KNOWN_FAILING and EXPECTED_ACCOUNTS name existing scenarios; every behaviour is in a scenario", () => {
    const names = SCENARIOS.map((s) => s.name)
    for (const k of KNOWN_FAILING) expect(names).toContain(k.scenario)
    for (const name of Object.keys(EXPECTED_ACCOUNTS)) expect(names).toContain(name)
    const used = new Set(SCENARIOS.flatMap((s) => s.peers.map(B.label)))
    for (const b of B.all) expect(used).toContain(B.label(b))
  })

  for (const s of SCENARIOS) {
    const holding = PROPERTIES.filter((p) => !isKnownFailing(s.name, p))
    it.effect(`${s.name} [${s.peers.map(B.label).join(", ")}]: ${["clean", ...holding].join(", ")}`, () =>
      Effect.gen(function* () {
        const o = yield* Net.run(graph, s)
        expectClean(o)
        for (const p of holding) expectProperty(s, o, p)
      }))
  }
})

describe("Simulation: the LDK-like peer against the floor (issue 13 item 5)", () => {
  it.effect("alone, synced within 1.25 s of a client that only receives its dump (1 s probe, 250 ms quiet)", () =>
    Effect.gen(function* () {
      const floor = yield* Net.receiveDump(graph, B.ldkLike)
      const o = yield* Net.run(graph, Net.scenario("ldk vs floor", [B.ldkLike]))
      expect(floor).toBeGreaterThan(0)
      expect(o.graphSyncedAfterMillis! - floor!).toBeLessThanOrEqual(1_250)
    }))
})

describe("Simulation: runs are reproducible", () => {
  it.effect("the same scenario and seed give the same run: every message the peers received, when, and the outcome", () =>
    Effect.gen(function* () {
      const s = Net.scenario("reproducible", [B.invalidSignatures, B.ldkLike, B.disconnectMidSync, B.clnLike, B.slow])
      const first = yield* Net.run(graph, s)
      const second = yield* Net.run(graph, s)
      expect(second).toEqual(first)
      // and the run did something worth comparing: a ban, an LDK dump, the graph synced
      expect(first.banned).toEqual(["p0:invalidsignatures"])
      const ldk = first.traces.find((t) => t.peer.startsWith("p1:ldk"))
      expect(ldk?.received.some((r) => r.endsWith("gossip_timestamp_filter 0+4294967295"))).toBe(true)
      expect(first.missing).toBe(0)
      expect(first.account?.graphSynced).toBe(true)
    }))
})

describe("Simulation: random mixes of behaviours (fast-check, fixed seed)", () => {
  /** Every behaviour; a mix has 2 to 4 peers, at least one of them well-behaved, in any order. */
  const mix = fc
    .array(fc.constantFrom(...B.all), { minLength: 2, maxLength: 4 })
    .filter((peers) => peers.some(B.isWellBehaved))
  /**
   * A bad peer costs at most 4 minutes (a stall: the 2-minute reply timeout, then 2 minutes waiting for a dump);
   * the Reconciler now visits up to 8 peers at once, but 20 minutes would cover four of them one at a time.
   */
  const BOUND = "20 minutes"

  it(
    "the graph converges to the well-behaved peers' union, --exit-when-synced returns, no fiber outlives the node",
    async () => {
      await fc.assert(
        fc.asyncProperty(mix, fc.integer({ min: 0, max: 1_000_000 }), (peers, seed) =>
          Effect.runPromise(
            Effect.gen(function* () {
              const s = Net.scenario(`mix ${seed}`, peers, { bound: BOUND })
              const o = yield* Net.run(graph, s)
              expectClean(o)
              for (const p of PROPERTIES) expectProperty(s, o, p)
            }).pipe(Effect.provide(TestContext.TestContext))
          )),
        { seed: 13013, numRuns: 3, endOnFailure: true }
      )
    },
    120_000
  )
})
