/**
 * Issue 15: stale channels. The ChainWatcher's pruner runs BOLT 7's two-week rule first a minute after start, then
 * hourly (TestClock); pruned scids become zombies. lnd's resurrection rule in the pipeline: a zombie's announcement
 * is taken back only with a fresh update whose signature verifies against the announcement's key for its
 * direction. (That a zombie is not fetched again from a range reply is GossipSyncer.test's "GS-20" case.) A channel
 * with no update yet is pruned too but is not a zombie (its updates may still be on their way): it is taken again.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { layerNone } from "../src/services/ChainSource.js"
import * as ChainWatcher from "../src/services/ChainWatcher.js"
import type { Verdict } from "../src/services/GossipPipeline.js"
import { GossipPipeline, layer as layerGossipPipeline } from "../src/services/GossipPipeline.js"
import { layerGossipPipelineConfig } from "../src/services/GossipPipelineConfig.js"
import { GraphStore, layerMemory } from "../src/services/GraphStore.js"
import { layerInThread } from "../src/services/SignatureVerifier.js"
import { channel, DAY, node, NOW, NOW_MILLIS, scid, update } from "./pipelineFixtures.js"

const PEER = "02" + "aa".repeat(32)
const harness = Layer.mergeAll(layerGossipPipeline, ChainWatcher.layer()).pipe(
  Layer.provideMerge(Layer.mergeAll(layerMemory, layerInThread, layerNone, layerGossipPipelineConfig({})))
)
const tags = (vs: ReadonlyArray<Verdict>) =>
  vs.map((v) => (v._tag === "Invalid" || v._tag === "Stale" ? `${v._tag}:${v.reason}` : v._tag))

const stale = channel(node(1), node(2), scid(600_000))
const soon = channel(node(3), node(4), scid(600_001))
const fresh = channel(node(5), node(6), scid(600_002))

describe("Stale channels (prune, zombies, resurrection)", () => {
  it.scoped("pruned a minute after start, then hourly, by the two-week rule; a zombie returns only with a fresh update signed by the right key", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW_MILLIS)
      return yield* Effect.gen(function* () {
        const store = yield* GraphStore
        const pipeline = yield* GossipPipeline
        const staleId = stale.ann.shortChannelId
        yield* store.applyBatch({
          channels: [stale.ann, soon.ann, fresh.ann],
          updates: [
            update(staleId, 0, NOW - 15 * DAY, stale.n1),
            update(soon.ann.shortChannelId, 0, NOW - 14 * DAY + 1800, soon.n1),
            update(fresh.ann.shortChannelId, 0, NOW - DAY, fresh.n1)
          ],
          nodes: []
        })
        yield* TestClock.adjust("59 seconds")
        expect((yield* store.counts).channels).toBe(3)
        yield* TestClock.adjust("1 second")
        expect(yield* store.counts).toMatchObject({ channels: 2, zombies: 1 })
        expect([...(yield* store.zombies([staleId]))]).toEqual([staleId])
        // an hour on, the channel whose update was 30 minutes short of two weeks has gone stale too
        yield* TestClock.adjust("1 hour")
        expect(yield* store.counts).toMatchObject({ channels: 1, zombies: 2 })

        // resurrection: the announcement alone stays dead
        expect(tags(yield* pipeline.process(PEER, [stale.ann]))).toEqual(["Stale:TooOld"])
        // with a fresh update signed by the wrong key (direction 0 is node_id_1's): still dead, no blame
        const forged = update(staleId, 0, NOW, stale.n2)
        const v1 = yield* pipeline.process(PEER, [stale.ann, forged])
        expect(tags(v1)[0]).toBe("Stale:TooOld")
        expect((yield* store.channels([staleId])).size).toBe(0)
        expect(yield* pipeline.isBanned(PEER)).toBe(false)
        // with a fresh update signed by node_id_1: back, and no longer a zombie
        const v2 = yield* pipeline.process(PEER, [stale.ann, update(staleId, 0, NOW + 1, stale.n1)])
        expect(tags(v2)).toEqual(["Accepted", "Accepted"])
        expect((yield* store.channels([staleId])).size).toBe(1)
        expect((yield* store.zombies([staleId])).size).toBe(0)
      }).pipe(Effect.provide(harness))
    }))

  it.scoped("an announcement-only channel stays two weeks from its receipt (its updates may be on their way), then is pruned without becoming a zombie; its announcement is taken again as new", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW_MILLIS)
      return yield* Effect.gen(function* () {
        const store = yield* GraphStore
        const pipeline = yield* GossipPipeline
        const bareId = stale.ann.shortChannelId
        // the announcement arrived, its updates not yet (mid-sync, or a peer that stalled after it)
        expect(
          tags(
            yield* pipeline.process(PEER, [
              stale.ann,
              fresh.ann,
              update(fresh.ann.shortChannelId, 0, NOW - DAY, fresh.n1)
            ])
          )
        )
          .toEqual(["Accepted", "Accepted", "Accepted"])
        // BOLT 7: two weeks from receipt for a first update; the first prune (a minute after start) keeps it
        yield* TestClock.adjust("1 minute")
        expect(yield* store.counts).toMatchObject({ channels: 2, zombies: 0 })
        // two weeks on: the bare one goes without a zombie mark (the other one's update is stale by now: a zombie)
        yield* TestClock.adjust("14 days")
        expect(yield* store.counts).toMatchObject({ channels: 0, zombies: 1 })
        expect((yield* store.zombies([bareId])).size).toBe(0)
        // fetched again (a later range reply lists it): the announcement alone is new, not Stale:TooOld, then its update
        expect(tags(yield* pipeline.process(PEER, [stale.ann]))).toEqual(["Accepted"])
        const later = NOW + 14 * DAY + 60
        expect(tags(yield* pipeline.process(PEER, [update(bareId, 0, later, stale.n1)]))).toEqual(["Accepted"])
        expect(yield* store.counts).toMatchObject({ channels: 1, updates: 1, zombies: 1 })
        expect(yield* pipeline.isBanned(PEER)).toBe(false)
      }).pipe(Effect.provide(harness))
    }))
})
