/**
 * Two lnsync nodes over an in-memory connection, every message through the real codec: B holds a signed
 * 1,000-channel graph, A starts empty and runs a historical sync against B's syncer. A's gossip goes through the
 * real validation pipeline (signatures checked), so what lands in A's store is exactly what a real node would keep.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Ref, Stream, TestClock } from "effect"
import * as Features from "../src/domain/Features.js"
import { generateGraph } from "../src/testing/GraphGenerator.js"
import { toHex } from "../src/domain/Hex.js"
import { makePeerPair } from "../src/testing/MemoryPeer.js"
import { makeGossipSyncer, makeShared } from "../src/services/GossipSyncer.js"
import { makeMemory } from "../src/services/GraphStore.js"
import type { GraphStoreService } from "../src/services/GraphStore.js"
import type { Message } from "../src/domain/Messages.js"
import { CHAIN, nodeId } from "./support/gossip.js"
import { servingStore, TEST_NOW, testSettings, validatingPipeline } from "./support/syncerHarness.js"

const graph = generateGraph({ seed: 7, channels: 1000, chainHash: CHAIN, now: TEST_NOW })

const everything = (store: GraphStoreService) =>
  Effect.orDie(
    Effect.gen(function* () {
      const channels = yield* store.channelRange(0, 0xffffff)
      const raw = yield* Stream.runCollect(store.gossipForChannels(channels.map((c) => c.shortChannelId)))
      return { channels, raw: Chunk.toReadonlyArray(raw).map((g) => toHex(g.raw)) }
    })
  )

const fullSync = (extended: boolean) =>
  Effect.gen(function* () {
    yield* TestClock.setTime(TEST_NOW * 1000)
    const settings = testSettings({ bestHeight: Effect.succeed(1_000_000) })
    const features = extended
      ? Features.fromBits([Features.GOSSIP_QUERIES.odd, Features.GOSSIP_QUERIES_EX.odd])
      : Features.fromBits([Features.GOSSIP_QUERIES.odd])

    // B: holds the graph, answers
    const { store: storeB, pipeline: pipelineB } = yield* servingStore(graph)

    // A: empty, the real pipeline in front of its store
    const storeA = yield* makeMemory
    const pipelineA = yield* validatingPipeline(storeA) // built in the test's scope, so it outlives this statement

    const [aSeesB, bSeesA] = yield* makePeerPair({
      local: { nodeId: nodeId(1), features },
      remote: { nodeId: nodeId(2), features },
      queueSize: 16
    })
    // what A puts on the wire, by message type
    const sentByA = yield* Ref.make<ReadonlyArray<string>>([])
    const scidQuerySizes = yield* Ref.make<ReadonlyArray<number>>([])
    const nodeAnnouncementsToA = yield* Ref.make(0)
    const countingA = {
      ...aSeesB,
      send: (m: Message) =>
        Effect.all([
          Ref.update(sentByA, (l) => [...l, m._tag]),
          m._tag === "QueryShortChannelIds"
            ? Ref.update(scidQuerySizes, (l) => [...l, m.shortIds.ids.length])
            : Effect.void,
          aSeesB.send(m)
        ]),
      messages: aSeesB.messages.pipe(
        Stream.tap((
          m
        ) => (m._tag === "NodeAnnouncement" ? Ref.update(nodeAnnouncementsToA, (n) => n + 1) : Effect.void))
      )
    }
    const synced = yield* Ref.make(0)
    const options = { syncType: "PassiveSync" as const, initialState: "chansSynced" as const }
    const a = yield* makeGossipSyncer(
      countingA,
      { ...options, markGraphSynced: Ref.update(synced, (n) => n + 1) },
      { settings, store: storeA, pipeline: pipelineA, shared: yield* makeShared(settings) }
    )
    const b = yield* makeGossipSyncer(
      bSeesA,
      { ...options, markGraphSynced: Effect.void },
      { settings, store: storeB, pipeline: pipelineB.service, shared: yield* makeShared(settings) }
    )
    yield* Effect.forkScoped(Effect.scoped(a.run))
    yield* Effect.forkScoped(Effect.scoped(b.run))

    yield* a.syncer.historicalSync
    const signal = yield* a.syncer.resetSyncedSignal
    yield* signal
    expect(yield* Ref.get(synced)).toBe(1)

    const countsA = yield* Effect.orDie(storeA.counts)
    const countsB = yield* Effect.orDie(storeB.counts)
    expect(countsB.channels).toBe(1000)
    expect(countsA).toEqual(countsB)
    const [ea, eb] = [yield* everything(storeA), yield* everything(storeB)]
    expect(ea.channels).toEqual(eb.channels) // same timestamps and checksums per direction
    expect(ea.raw).toEqual(eb.raw) // byte-identical signed gossip
    const sent = yield* Ref.get(sentByA)
    expect(sent.filter((t) => t === "QueryChannelRange").length).toBe(1)
    const sizes = yield* Ref.get(scidQuerySizes)
    expect(sizes.every((n) => n <= 500)).toBe(true) // GS-21
    const nodesReceived = yield* Ref.get(nodeAnnouncementsToA)
    if (extended) {
      // node announcements are asked for one query late, each node once: every one arrives exactly once
      expect(nodesReceived).toBe(countsB.nodes)
      expect(sizes.reduce((x, y) => x + y, 0)).toBeGreaterThan(1000)
    } else {
      // without query_flags B sends a node's announcement with each batch holding one of its channels
      expect(sizes).toEqual([500, 500]) // 1,000 channels in batches of 500
      expect(nodesReceived).toBeGreaterThan(countsB.nodes)
    }
    return { a, b, sentByA }
  })

describe("GossipSyncer end to end", () => {
  it.scoped("GS-8..22/GS-31..40: a 1,000-channel historical sync between two lnsync syncers over the real codec", () =>
    Effect.asVoid(fullSync(false)))

  it.scoped("extended queries: the same sync with gossip_queries_ex (timestamps, checksums, query_flags)", () =>
    Effect.gen(function* () {
      const { a, sentByA } = yield* fullSync(true)
      // a second historical sync finds nothing newer or different: no SCID query at all
      yield* Ref.set(sentByA, [])
      yield* a.syncer.historicalSync
      const signal = yield* a.syncer.resetSyncedSignal
      yield* signal
      expect(yield* Ref.get(sentByA)).toEqual(["QueryChannelRange"])
    }))
})
