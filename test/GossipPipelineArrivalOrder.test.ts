/**
 * Equal timestamps are settled in arrival order (batch.ts `newestIndex`): an update taken back out of the premature
 * cache was received before the batch that announces its channel, so it is checked first. The verdicts, and so a
 * forger's offences (SM-33), must not depend on how gossip was cut into batches (issue 18: the router now submits a
 * whole SCID reply at once, where a slow peer's gossip used to go one message at a time).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric, TestClock } from "effect"
import type { Verdict } from "../src/services/GossipPipeline.js"
import { GossipPipeline, GossipPipelineMetrics, layer as layerGossipPipeline } from "../src/services/GossipPipeline.js"
import { layerNone } from "../src/services/ChainSource.js"
import { layerGossipPipelineConfig } from "../src/services/GossipPipelineConfig.js"
import { GraphStore, layerMemory } from "../src/services/GraphStore.js"
import { SignatureVerifier } from "../src/services/SignatureVerifier.js"
import { channel, corrupt, countingVerifier, node, NOW, NOW_MILLIS, scid, update } from "./pipelineFixtures.js"

const HONEST = "02" + "aa".repeat(32)
const FORGER = "03" + "bb".repeat(32)

const counting = countingVerifier

const harness = (verifier: Layer.Layer<SignatureVerifier>) =>
  layerGossipPipeline.pipe(
    Layer.provideMerge(Layer.mergeAll(layerMemory, verifier, layerNone, layerGossipPipelineConfig({})))
  )

const tags = (vs: ReadonlyArray<Verdict>) => vs.map((v) => (v._tag === "Invalid" ? `Invalid:${v.reason}` : v._tag))

const badSignatures = Metric.tagged(GossipPipelineMetrics.invalid, "reason", "BadSignature")

describe("GossipPipeline: equal timestamps in arrival order", () => {
  it.effect("a forged update held as premature is checked before the valid one of the batch announcing its channel", () => {
    const v = counting()
    return Effect.gen(function* () {
      yield* TestClock.setTime(NOW_MILLIS)
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const { ann, n1 } = channel(node(31), node(32), scid(830_000))
      const valid = update(ann.shortChannelId, 0, NOW - 10, n1)
      const forged = corrupt(valid)
      const bad0 = (yield* Metric.value(badSignatures)).count
      expect(tags(yield* p.process(FORGER, [forged]))).toEqual(["Premature"])
      // one batch: the announcement and the same update, validly signed, from another peer
      expect(tags(yield* p.process(HONEST, [ann, valid]))).toEqual(["Accepted", "Accepted"])
      // the forgery was checked (an offence of its sender), not passed over as a Duplicate of the valid copy
      expect((yield* Metric.value(badSignatures)).count).toBe(bad0 + 1)
      expect((yield* store.channels([ann.shortChannelId])).get(ann.shortChannelId)?.timestamp1).toBe(NOW - 10)
      // 4 for the announcement, the forgery, the valid update
      expect(v.state.checked).toBe(6)
    }).pipe(Effect.provide(harness(v.layer)))
  })

  it.effect("a premature twin of the batch's own update (the same bytes) costs no second check", () => {
    const v = counting()
    return Effect.gen(function* () {
      yield* TestClock.setTime(NOW_MILLIS)
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const { ann, n1 } = channel(node(33), node(34), scid(830_001))
      const u = update(ann.shortChannelId, 0, NOW - 10, n1)
      const bad0 = (yield* Metric.value(badSignatures)).count
      expect(tags(yield* p.process(FORGER, [u]))).toEqual(["Premature"])
      expect(tags(yield* p.process(HONEST, [ann, u]))).toEqual(["Accepted", "Accepted"])
      expect((yield* store.channels([ann.shortChannelId])).get(ann.shortChannelId)?.timestamp1).toBe(NOW - 10)
      // the batch's own copy was checked with the announcement (early check); its twin got the same verdict
      expect(v.state.checked).toBe(5)
      expect((yield* Metric.value(badSignatures)).count).toBe(bad0)
    }).pipe(Effect.provide(harness(v.layer)))
  })
})
