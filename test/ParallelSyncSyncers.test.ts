/**
 * Issue 18's parallel initial sync between real GossipSyncers with extended queries (the simulation's peers speak
 * plain queries): node A, empty, with the real validation pipeline, has two syncers sharing one factory's board —
 * A1 (the initial syncer, with peer B1) and A2 (idle, with peer B2) — and B1 and B2 each hold the whole signed graph.
 * A2 helps A1's sync without leaving `chansSynced`; node announcements are asked once across both peers; a manager
 * request to A2 while it helps is accepted within the transition timeout (GS-27).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Ref, Stream, SubscriptionRef, TestClock } from "effect"
import * as Features from "../src/domain/Features.js"
import { toHex } from "../src/domain/Hex.js"
import type { Message } from "../src/domain/Messages.js"
import type { SyncerState } from "../src/services/GossipSyncer.js"
import { makeGossipSyncer, makeShared } from "../src/services/GossipSyncer.js"
import type { GraphStoreService } from "../src/services/GraphStore.js"
import { makeMemory } from "../src/services/GraphStore.js"
import { generateGraph } from "../src/testing/GraphGenerator.js"
import { makePeerPair } from "../src/testing/MemoryPeer.js"
import { CHAIN, nodeId } from "./support/gossip.js"
import { servingStore, TEST_NOW, testSettings, validatingPipeline } from "./support/syncerHarness.js"

const graph = generateGraph({ seed: 18, channels: 600, chainHash: CHAIN, now: TEST_NOW })
const EXTENDED = Features.fromBits([Features.GOSSIP_QUERIES.odd, Features.GOSSIP_QUERIES_EX.odd])

const everything = (store: GraphStoreService) =>
  Effect.orDie(
    Effect.gen(function* () {
      const channels = yield* store.channelRange(0, 0xffffff)
      const raw = yield* Stream.runCollect(store.gossipForChannels(channels.map((c) => c.shortChannelId)))
      return Chunk.toReadonlyArray(raw).map((g) => toHex(g.raw)).sort()
    })
  )

/** Node A with syncers A1 (peer B1) and A2 (peer B2), B1 and B2 serving at `bytesPerSecond`. */
const setup = (bytesPerSecond: number) =>
  Effect.gen(function* () {
    yield* TestClock.setTime(TEST_NOW * 1000)
    const settingsA = testSettings({ bestHeight: Effect.succeed(1_000_000) })
    const storeA = yield* makeMemory
    const pipelineA = yield* validatingPipeline(storeA)
    const sharedA = yield* makeShared(settingsA) // one factory: one share board
    const graphSynced = yield* Ref.make(false)
    const peer = (i: 1 | 2, bytesPerSecond: number) =>
      Effect.gen(function* () {
        const { store: storeB, pipeline: pipelineB } = yield* servingStore(graph)
        const [aSeesB, bSeesA] = yield* makePeerPair({
          local: { nodeId: nodeId(10), features: EXTENDED },
          remote: { nodeId: nodeId(i), features: EXTENDED },
          queueSize: 16
        })
        const sent = yield* Ref.make<ReadonlyArray<Message>>([])
        const nodesReceived = yield* Ref.make(0)
        const counting = {
          ...aSeesB,
          send: (m: Message) => Effect.zipRight(Ref.update(sent, (l) => [...l, m]), aSeesB.send(m)),
          messages: aSeesB.messages.pipe(
            Stream.tap((m) => (m._tag === "NodeAnnouncement" ? Ref.update(nodesReceived, (n) => n + 1) : Effect.void))
          )
        }
        const settingsB = testSettings({
          bestHeight: Effect.succeed(1_000_000),
          peerBytesPerSecond: bytesPerSecond,
          peerBurstBytes: 70_000
        })
        const b = yield* makeGossipSyncer(
          bSeesA,
          { syncType: "PassiveSync", initialState: "chansSynced", markGraphSynced: Effect.void },
          { settings: settingsB, store: storeB, pipeline: pipelineB.service, shared: yield* makeShared(settingsB) }
        )
        const a = yield* makeGossipSyncer(
          counting,
          {
            syncType: "PassiveSync",
            initialState: "chansSynced",
            markGraphSynced: Ref.set(graphSynced, true),
            isGraphSynced: Ref.get(graphSynced)
          },
          { settings: settingsA, store: storeA, pipeline: pipelineA, shared: sharedA }
        )
        const states = yield* Ref.make<ReadonlyArray<SyncerState>>([])
        yield* Effect.forkScoped(
          Stream.runForEach(a.syncer.state.changes, (s) => Ref.update(states, (l) => [...l, s]))
        )
        yield* Effect.forkScoped(Effect.scoped(b.run))
        yield* Effect.forkScoped(Effect.scoped(a.run))
        return { a, sent, nodesReceived, states, storeB }
      })
    const a1 = yield* peer(1, bytesPerSecond)
    const a2 = yield* peer(2, bytesPerSecond)
    return { storeA, a1, a2 }
  })

const scidQueries = (sent: ReadonlyArray<Message>) => sent.filter((m) => m._tag === "QueryShortChannelIds")

describe("parallel initial sync between real syncers (issue 18, extended queries)", () => {
  it.scoped("the idle syncer helps the initial one without leaving chansSynced; every node announcement arrives once", () =>
    Effect.gen(function* () {
      const { a1, a2, storeA } = yield* setup(Infinity)
      yield* a1.a.syncer.historicalSync
      yield* yield* a1.a.syncer.resetSyncedSignal
      expect(yield* everything(storeA)).toEqual(yield* everything(a1.storeB))
      const [q1, q2] = [scidQueries(yield* Ref.get(a1.sent)), scidQueries(yield* Ref.get(a2.sent))]
      expect(q1.length).toBeGreaterThan(0)
      expect(q2.length).toBeGreaterThan(0) // A2 fetched a share from B2
      // every channel asked once, across both peers (node-only entries aside)
      const asked = [...q1, ...q2].flatMap((q) =>
        q._tag === "QueryShortChannelIds"
          ? q.shortIds.ids.filter((_, i) => ((q.queryFlags?.flags[i] ?? 0n) & 1n) !== 0n)
          : []
      )
      expect(asked.length).toBe(graph.channelAnnouncements.length)
      expect(new Set(asked).size).toBe(asked.length)
      // extended queries: each node announcement asked once, over both connections together
      expect((yield* Ref.get(a1.nodesReceived)) + (yield* Ref.get(a2.nodesReceived))).toBe(
        graph.nodeAnnouncements.length
      )
      // helping is invisible in A2's GS-2 state; it made no range query of its own
      expect((yield* Ref.get(a2.states)).every((s) => s === "chansSynced")).toBe(true)
      expect((yield* Ref.get(a2.sent)).some((m) => m._tag === "QueryChannelRange")).toBe(false)
      expect(yield* SubscriptionRef.get(a2.a.syncer.state)).toBe("chansSynced")
    }))

  it.scoped("a transition asked of a helper mid-lease is accepted within the transition timeout (GS-27)", () =>
    Effect.gen(function* () {
      // both peers at 50 KiB/s: the sync takes several seconds of virtual time, A2's leases about two each
      const { a1, a2 } = yield* setup(50 * 1024)
      yield* a1.a.syncer.historicalSync
      const signal = yield* a1.a.syncer.resetSyncedSignal
      const done = yield* Effect.fork(signal)
      // until A2 has a query out to B2
      for (let i = 0; i < 100 && scidQueries(yield* Ref.get(a2.sent)).length === 0; i++) {
        yield* TestClock.adjust("10 millis")
      }
      const queriesBefore = scidQueries(yield* Ref.get(a2.sent)).length
      expect(queriesBefore).toBeGreaterThan(0)
      expect((yield* Fiber.poll(done))._tag).toBe("None") // the sync is still going: A2 is helping
      const transition = yield* Effect.fork(Effect.either(a2.a.syncer.processSyncTransition("ActiveSync")))
      for (let i = 0; i < 50; i++) yield* TestClock.adjust("100 millis")
      const outcome = yield* Fiber.join(transition)
      expect(outcome._tag).toBe("Right") // not SyncTransitionTimeout: accepted after the lease, within 5 s
      // the filter went out after the lease A2 had out when it was asked
      const sent = yield* Ref.get(a2.sent)
      const filterAt = sent.findIndex((m) => m._tag === "GossipTimestampFilter")
      expect(filterAt).toBeGreaterThan(-1)
      expect(scidQueries(sent.slice(0, filterAt)).length).toBeGreaterThanOrEqual(queriesBefore)
      for (let i = 0; i < 600 && (yield* Fiber.poll(done))._tag === "None"; i++) yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(done)).toBeUndefined()
    }))
})
