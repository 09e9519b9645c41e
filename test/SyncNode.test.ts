/**
 * The node wiring (SM-13): connector events → SyncManager, syncer-less peers' gossip → pipeline, pipeline bans →
 * connector. Fake syncers, an in-memory connector and a recording pipeline.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Scope } from "effect"
import { Context, Effect, Layer, Option, PubSub, Queue, Random, Ref, Stream, TestClock } from "effect"
import type { Message } from "../src/domain/Messages.js"
import * as SyncNode from "../src/services/SyncNode.js"
import type { BanEvent, GossipPipelineService } from "../src/services/GossipPipeline.js"
import { GossipPipeline } from "../src/services/GossipPipeline.js"
import { GossipSyncerFactory } from "../src/services/GossipSyncer.js"
import type { Peer } from "../src/services/Peer.js"
import { PeerConnector } from "../src/services/PeerConnector.js"
import { SyncManager } from "../src/services/SyncManager.js"
import { layerSyncManagerConfig } from "../src/services/SyncManagerConfig.js"
import { fakeNodeIdHex as hex, fakePeer, makeFakeSyncerFactory } from "./support/FakeSyncer.js"
import { CHAIN, nodeAnnouncement, nodeId } from "./support/gossip.js"
import { makeMemoryPeerConnector } from "./support/MemoryPeerConnector.js"

const settle = TestClock.adjust(0)

/** A peer whose inbound messages the test pushes; `disconnect` ends its stream. */
const queuePeer = (n: number, gossipQueries: boolean) =>
  Effect.gen(function* () {
    const inbox = yield* Queue.bounded<Message>(16)
    const peer: Peer = {
      ...fakePeer(n, { gossipQueries }),
      messages: Stream.fromQueue(inbox),
      disconnect: () => Queue.shutdown(inbox)
    }
    return { peer, inbox }
  })

const recordingPipeline = Effect.gen(function* () {
  const submitted = yield* Ref.make<ReadonlyArray<{ readonly from: string; readonly tag: string }>>([])
  const banHub = yield* PubSub.unbounded<BanEvent>()
  const service: GossipPipelineService = {
    submit: (from, messages) => Ref.update(submitted, (l) => [...l, ...messages.map((m) => ({ from, tag: m._tag }))]),
    process: (_from, messages) => Effect.succeed(messages.map(() => ({ _tag: "Accepted" as const }))),
    flush: Effect.void,
    accepted: Effect.succeed(Stream.empty),
    bans: Effect.map(PubSub.subscribe(banHub), (q) => Stream.fromQueue(q)),
    isBanned: () => Effect.succeed(false)
  }
  return { service, submitted, banHub }
})

/** Manager with fake syncers plus connector and pipeline; `wire` starts SyncNode (so tests can connect peers first). */
const start = (): Effect.Effect<
  {
    readonly manager: SyncManager["Type"]
    readonly fakes: Effect.Effect.Success<typeof makeFakeSyncerFactory>
    readonly connector: Effect.Effect.Success<typeof makeMemoryPeerConnector>
    readonly pipeline: Effect.Effect.Success<typeof recordingPipeline>
    readonly wire: Effect.Effect<void, never, Scope.Scope>
  },
  never,
  Scope.Scope
> =>
  Effect.gen(function* () {
    const fakes = yield* makeFakeSyncerFactory
    const connector = yield* makeMemoryPeerConnector
    const pipeline = yield* recordingPipeline
    const managerContext = yield* Layer.build(
      SyncManager.layer.pipe(
        Layer.provide(Layer.succeed(GossipSyncerFactory, fakes.factory)),
        Layer.provide(layerSyncManagerConfig({}))
      )
    ).pipe(Effect.orDie, Effect.withRandom(Random.make("wiring")))
    const manager = Context.get(managerContext, SyncManager)
    const services = Layer.mergeAll(
      Layer.succeed(SyncManager, manager),
      Layer.succeed(PeerConnector, connector.service),
      Layer.succeed(GossipPipeline, pipeline.service)
    )
    const wire = Layer.build(SyncNode.layer.pipe(Layer.provide(services))).pipe(Effect.zipRight(settle))
    return { manager, fakes, connector, pipeline, wire }
  })

describe("SyncNode wiring", () => {
  it.scoped("SM-13: Connected with gossip_queries → initSyncState; Disconnected → pruneSyncState", () =>
    Effect.gen(function* () {
      const t = yield* start()
      yield* t.wire
      yield* t.connector.attach(fakePeer(1))
      yield* settle
      const fake = yield* t.fakes.latest(hex(1))
      expect(Option.getOrThrow(yield* t.manager.syncer(hex(1)))).toBe(fake.syncer)
      expect(yield* Ref.get(fake.historicalRequests)).toBe(1)
      yield* t.connector.detach(hex(1), "gone")
      yield* settle
      expect(Option.isNone(yield* t.manager.syncer(hex(1)))).toBe(true)
      expect(yield* Ref.get(fake.runInterrupted)).toBe(true)
    }))

  it.scoped("SM-13: a peer without gossip_queries gets no syncer; its gossip is drained into the pipeline", () =>
    Effect.gen(function* () {
      const t = yield* start()
      yield* t.wire
      const { inbox, peer } = yield* queuePeer(2, false)
      yield* t.connector.attach(peer)
      const filter: Message = { _tag: "GossipTimestampFilter", chainHash: CHAIN, firstTimestamp: 0, timestampRange: 1 }
      yield* Queue.offerAll(inbox, [nodeAnnouncement(nodeId(7), 100), filter, nodeAnnouncement(nodeId(8), 200)])
      yield* settle
      expect(yield* Ref.get(t.pipeline.submitted)).toEqual([
        { from: hex(2), tag: "NodeAnnouncement" },
        { from: hex(2), tag: "NodeAnnouncement" }
      ])
      expect(Option.isNone(yield* t.manager.syncer(hex(2)))).toBe(true)
      expect((yield* Ref.get(t.fakes.made)).length).toBe(0)
      // after the disconnect nothing more is read
      yield* t.connector.detach(hex(2), "gone")
      yield* settle
      expect(yield* Queue.isShutdown(inbox)).toBe(true)
    }))

  it.scoped("SM-33: the pipeline's bans reach PeerConnector.ban, whose disconnect prunes the syncer", () =>
    Effect.gen(function* () {
      const t = yield* start()
      yield* t.wire
      yield* t.connector.attach(fakePeer(1))
      yield* settle
      yield* PubSub.publish(t.pipeline.banHub, { nodeIdHex: hex(1), untilMillis: 1234, reason: "score 100" })
      yield* settle
      expect(yield* Ref.get(t.connector.bans)).toEqual([{ nodeIdHex: hex(1), untilMillis: 1234, reason: "score 100" }])
      expect(Option.isNone(yield* t.manager.syncer(hex(1)))).toBe(true)
    }))

  it.scoped("SM-13: peers connected before the wiring started get syncers; a late Disconnected of an older connection is ignored", () =>
    Effect.gen(function* () {
      const t = yield* start()
      yield* t.connector.attach(fakePeer(1)) // nobody listening yet
      yield* t.wire
      const fake = yield* t.fakes.latest(hex(1))
      expect(Option.getOrThrow(yield* t.manager.syncer(hex(1)))).toBe(fake.syncer)
      // the end of a connection older than the one still up
      yield* t.connector.publish({ _tag: "Disconnected", nodeIdHex: hex(1), reason: "older connection" })
      yield* settle
      expect(Option.getOrThrow(yield* t.manager.syncer(hex(1)))).toBe(fake.syncer)
      yield* t.connector.detach(hex(1), "gone")
      yield* settle
      expect(Option.isNone(yield* t.manager.syncer(hex(1)))).toBe(true)
    }))

  it.scoped("SM-12: a new connection replacing one we started from the snapshot gets a fresh syncer", () =>
    Effect.gen(function* () {
      const t = yield* start()
      yield* t.connector.attach(fakePeer(1))
      yield* t.wire
      const first = yield* t.fakes.latest(hex(1))
      yield* t.connector.attach(fakePeer(1)) // a new Peer object for the same node, no Disconnected seen
      yield* settle
      const second = yield* t.fakes.latest(hex(1))
      expect(second).not.toBe(first)
      expect(yield* Ref.get(first.runInterrupted)).toBe(true)
      expect(Option.getOrThrow(yield* t.manager.syncer(hex(1)))).toBe(second.syncer)
    }))
})
