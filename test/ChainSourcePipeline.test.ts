/**
 * Issue 15: the pipeline's asynchronous funding check against the in-suite chain server (Esplora REST over
 * loopback). A slow or failing source parks new announcements (Premature, no blame) while gossip for known
 * channels and nodes goes on; when it answers, the parked announcements and the updates that waited for them land.
 * Time is the TestClock's (timeouts and retry backoffs); waits are on the server's request count and the
 * pipeline's `accepted` stream.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Stream, TestClock } from "effect"
import { toHex } from "../src/domain/Hex.js"
import type { GossipMessage } from "../src/domain/Messages.js"
import * as Esplora from "../src/layers/chain/Esplora.js"
import type { ChainSource } from "../src/services/ChainSource.js"
import type { Verdict } from "../src/services/GossipPipeline.js"
import { GossipPipeline, layer as layerGossipPipeline } from "../src/services/GossipPipeline.js"
import { layerGossipPipelineConfig } from "../src/services/GossipPipelineConfig.js"
import { GraphStore, layerMemory } from "../src/services/GraphStore.js"
import { layerInThread } from "../src/services/SignatureVerifier.js"
import * as ChainServer from "../src/testing/chain/ChainServer.js"
import { SyntheticChain } from "../src/testing/chain/SyntheticChain.js"
import { channel, node, NOW, NOW_MILLIS, nodeAnnouncement, scid, update } from "./pipelineFixtures.js"

const PEER = "02" + "aa".repeat(32)

const harness = (chain: Layer.Layer<ChainSource>) =>
  layerGossipPipeline.pipe(
    Layer.provideMerge(Layer.mergeAll(layerMemory, layerInThread, chain, layerGossipPipelineConfig({})))
  )

const tags = (vs: ReadonlyArray<Verdict>) =>
  vs.map((v) => (v._tag === "Invalid" || v._tag === "Stale" ? `${v._tag}:${v.reason}` : v._tag))

const known = channel(node(1), node(2), scid(700_000))
const fresh = channel(node(3), node(4), scid(700_001, 2, 1))
const unfunded = channel(node(5), node(6), scid(700_002))
const liar = channel(node(7), node(8), scid(700_003))
const TIP = 700_100

const chain = () => {
  const c = SyntheticChain.forAnnouncements([known.ann, fresh.ann, liar.ann], TIP)
  c.breakScript(liar.ann.shortChannelId)
  return c
}

/** The pipeline over an Esplora source on `server` (no inner retries: the pipeline's own backoff is under test). */
const esplora = (server: ChainServer.ChainServer) =>
  Esplora.layer({ url: server.esploraUrl, retries: 0, asyncCheck: { retryBase: "1 second", retryCap: "4 seconds" } })

/** Collects the next `n` accepted messages (subscribed before it returns). */
const nextAccepted = (n: number) =>
  Effect.gen(function* () {
    const stream = yield* (yield* GossipPipeline).accepted
    return yield* Effect.fork(
      Stream.runCollect(Stream.take(stream, n)).pipe(Effect.map((c) => Chunk.toReadonlyArray(c).map((a) => a.message)))
    )
  })

/** Stores `known` with older updates, as if synced earlier. */
const seedKnown = Effect.gen(function* () {
  const store = yield* GraphStore
  yield* store.applyBatch({
    channels: [known.ann],
    updates: [
      update(known.ann.shortChannelId, 0, NOW - 100, known.n1),
      update(known.ann.shortChannelId, 1, NOW - 100, known.n2)
    ],
    nodes: []
  })
})

describe("ChainSource in the pipeline (asynchronous funding check)", () => {
  it.scoped("a slow source: known channels' updates and node announcements are stored meanwhile; then the parked announcement and its updates land", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW_MILLIS)
      const server = yield* ChainServer.make(chain())
      server.hold = true
      return yield* Effect.gen(function* () {
        yield* seedKnown
        const pipeline = yield* GossipPipeline
        const store = yield* GraphStore
        const freshId = fresh.ann.shortChannelId
        const batch: ReadonlyArray<GossipMessage> = [
          fresh.ann,
          update(freshId, 0, NOW - 10, fresh.n1),
          update(freshId, 1, NOW - 10, fresh.n2),
          update(known.ann.shortChannelId, 0, NOW - 5, known.n1),
          nodeAnnouncement(known.n1, NOW - 5)
        ]
        const verdicts = yield* pipeline.process(PEER, batch)
        expect(tags(verdicts)).toEqual(["Premature", "Premature", "Premature", "Accepted", "Accepted"])
        yield* server.untilRequests(1) // the worker is waiting on the held source
        const meanwhile = yield* store.channels([known.ann.shortChannelId, freshId])
        expect(meanwhile.get(known.ann.shortChannelId)?.timestamp1).toBe(NOW - 5)
        expect(meanwhile.has(freshId)).toBe(false)
        expect((yield* store.nodes([known.n1.pub])).get(toHex(known.n1.pub))?.timestamp).toBe(NOW - 5)
        // the same bytes again while parked: not queued twice, no blame
        expect(tags(yield* pipeline.process(PEER, [fresh.ann]))).toEqual(["Premature"])

        const landing = yield* nextAccepted(3)
        server.hold = false
        server.release()
        const landed = yield* Fiber.join(landing)
        expect(landed.map((m) => m._tag)).toEqual(["ChannelAnnouncement", "ChannelUpdate", "ChannelUpdate"])
        yield* pipeline.flush
        const after = (yield* store.channels([freshId])).get(freshId)
        expect([after?.timestamp1, after?.timestamp2]).toEqual([NOW - 10, NOW - 10])
        expect(yield* pipeline.isBanned(PEER)).toBe(false)
      }).pipe(Effect.provide(harness(esplora(server))))
    }))

  it.scoped("a source that is down: retried with backoff until it answers (ChainSourceUnavailable is no one's fault); gossip goes on", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW_MILLIS)
      const server = yield* ChainServer.make(chain())
      server.down = true
      return yield* Effect.gen(function* () {
        yield* seedKnown
        const pipeline = yield* GossipPipeline
        const store = yield* GraphStore
        expect(tags(yield* pipeline.process(PEER, [fresh.ann]))).toEqual(["Premature"])
        yield* server.untilRequests(1)
        yield* TestClock.adjust("1 second")
        yield* server.untilRequests(2)
        yield* TestClock.adjust("2 seconds")
        yield* server.untilRequests(3)
        // meanwhile a known channel's update is stored
        expect(tags(yield* pipeline.process(PEER, [update(known.ann.shortChannelId, 1, NOW - 3, known.n2)]))).toEqual([
          "Accepted"
        ])
        const landing = yield* nextAccepted(1)
        server.down = false
        yield* TestClock.adjust("4 seconds")
        const landed = yield* Fiber.join(landing)
        expect(landed[0]._tag).toBe("ChannelAnnouncement")
        yield* pipeline.flush
        expect((yield* store.channels([fresh.ann.shortChannelId])).size).toBe(1)
      }).pipe(Effect.provide(harness(esplora(server))))
    }))

  it.scoped("output missing or not the 2-of-2 of the announced keys: refused after the lookup, remembered (no second lookup)", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(NOW_MILLIS)
      const server = yield* ChainServer.make(chain())
      return yield* Effect.gen(function* () {
        const pipeline = yield* GossipPipeline
        const store = yield* GraphStore
        expect(tags(yield* pipeline.process(PEER, [unfunded.ann, liar.ann, fresh.ann]))).toEqual([
          "Premature",
          "Premature",
          "Premature"
        ])
        const landing = yield* nextAccepted(1)
        expect((yield* Fiber.join(landing))[0]).toMatchObject({ shortChannelId: fresh.ann.shortChannelId })
        yield* pipeline.flush
        const requests = server.received()
        expect(tags(yield* pipeline.process(PEER, [unfunded.ann, liar.ann]))).toEqual([
          "Invalid:FundingOutputInvalid",
          "Invalid:FundingOutputInvalid"
        ])
        expect(server.received()).toBe(requests)
        expect((yield* store.channels([unfunded.ann.shortChannelId, liar.ann.shortChannelId])).size).toBe(0)
        // the cache expires: asked again
        yield* TestClock.adjust("11 minutes")
        expect(tags(yield* pipeline.process(PEER, [unfunded.ann]))).toEqual(["Premature"])
        yield* server.untilRequests(requests + 1)
      }).pipe(Effect.provide(harness(esplora(server))))
    }))
})
