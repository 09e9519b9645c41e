/**
 * Issue 18, bench:resync's path: the same node syncs again from the same peer with its store up to date. Each sync
 * is a fresh connection with fresh syncers on both sides (as a restarted node would have) over the same stores: A
 * with the real validation pipeline (signatures checked) in front of its store, B a real syncer answering from a
 * signed graph, every message through the real codec (`MemoryPeer.makePeerPair`), extended queries on both sides.
 *
 * With timestamps and checksums in the range replies (BOLT 7 extended queries), the second sync asks for nothing;
 * once B holds newer channel_updates for some channels, exactly those channels are asked for, with query_flags for
 * the newer direction(s) only (no announcement, no node announcement), and A ends up with the newer updates.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Option, Ref, Stream, TestClock } from "effect"
import * as Features from "../src/domain/Features.js"
import { toHex } from "../src/domain/Hex.js"
import type { ChannelUpdate, Message } from "../src/domain/Messages.js"
import type { ShortChannelId } from "../src/domain/ShortChannelId.js"
import { signChannelUpdate } from "../src/domain/Signatures.js"
import { makeGossipSyncer, makeShared } from "../src/services/GossipSyncer.js"
import { makeMemory } from "../src/services/GraphStore.js"
import type { GraphStoreService } from "../src/services/GraphStore.js"
import { QUERY_FLAG_UPDATE_1, QUERY_FLAG_UPDATE_2 } from "../src/services/internal/gossipSyncer/rules.js"
import { generateGraph } from "../src/testing/GraphGenerator.js"
import { makePeerPair } from "../src/testing/MemoryPeer.js"
import { CHAIN, nodeId } from "./support/gossip.js"
import { makePassThroughPipeline } from "./support/PassThroughPipeline.js"
import { seed, TEST_NOW, testSettings, validatingPipeline } from "./support/syncerHarness.js"

const graph = generateGraph({ seed: 18, channels: 150, chainHash: CHAIN, now: TEST_NOW })
const keyOf = new Map(graph.nodes.map((n) => [toHex(n.nodeId), n.privateKey]))
const extended = Features.fromBits([Features.GOSSIP_QUERIES.odd, Features.GOSSIP_QUERIES_EX.odd])
const settings = testSettings({ bestHeight: Effect.succeed(1_000_000) })

/** What A sent and received on one connection. */
interface Wire {
  readonly sent: ReadonlyArray<Message>
  readonly received: ReadonlyArray<Message["_tag"]>
}

/**
 * One historical sync of A from B on a new connection (new syncers, A's pipeline new too), closed afterwards;
 * returns what A's syncer says it fetched (`lastCompleted`) and what crossed the wire.
 */
const syncOnce = (storeA: GraphStoreService, storeB: GraphStoreService) =>
  Effect.scoped(
    Effect.gen(function* () {
      const pipelineA = yield* validatingPipeline(storeA)
      const pipelineB = yield* makePassThroughPipeline(storeB)
      const [aSeesB, bSeesA] = yield* makePeerPair({
        local: { nodeId: nodeId(1), features: extended },
        remote: { nodeId: nodeId(2), features: extended },
        queueSize: 16
      })
      const sent = yield* Ref.make<ReadonlyArray<Message>>([])
      const received = yield* Ref.make<ReadonlyArray<Message["_tag"]>>([])
      const wiredA = {
        ...aSeesB,
        send: (m: Message) => Effect.zipRight(Ref.update(sent, (l) => [...l, m]), aSeesB.send(m)),
        messages: aSeesB.messages.pipe(Stream.tap((m) => Ref.update(received, (l) => [...l, m._tag])))
      }
      const options = { syncType: "PassiveSync" as const, initialState: "chansSynced" as const }
      const a = yield* makeGossipSyncer(
        wiredA,
        { ...options, markGraphSynced: Effect.void },
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
      yield* yield* a.syncer.resetSyncedSignal
      const fetched = Option.getOrThrow(yield* a.syncer.lastCompleted)
      const wire: Wire = { sent: yield* Ref.get(sent), received: yield* Ref.get(received) }
      return { fetched, wire }
    })
  )

const scidQueries = (w: Wire) =>
  w.sent.flatMap((m) => m._tag === "QueryShortChannelIds" ? [{ ids: m.shortIds.ids, flags: m.queryFlags?.flags }] : [])

/** A's stored raw gossip for `ids`, hex. */
const storedRaw = (store: GraphStoreService, ids: ReadonlyArray<ShortChannelId>) =>
  Effect.orDie(
    Effect.map(
      Stream.runCollect(store.gossipForChannels(ids)),
      (c) => Chunk.toReadonlyArray(c).map((g) => toHex(g.raw))
    )
  )

/**
 * A newer update of `u` signed by its direction's node. `changed`: different fees (a new checksum); otherwise a
 * keep-alive (same content, new timestamp: the same checksum, BOLT 7).
 */
const newer = (u: ChannelUpdate, timestamp: number, changed: boolean): ChannelUpdate => {
  const channel = graph.channelAnnouncements.find((c) => c.shortChannelId === u.shortChannelId)!
  const signer = (u.channelFlags & 1) === 0 ? channel.nodeId1 : channel.nodeId2
  const { _tag, signature, raw, ...fields } = u
  return signChannelUpdate(
    { ...fields, timestamp, feeBaseMsat: changed ? u.feeBaseMsat + 1 : u.feeBaseMsat },
    keyOf.get(toHex(signer))!
  )
}

const updateOf = (scid: ShortChannelId, direction: 0 | 1) =>
  graph.channelUpdates.find((u) => u.shortChannelId === scid && (u.channelFlags & 1) === direction)!

const setUp = Effect.gen(function* () {
  yield* TestClock.setTime(TEST_NOW * 1000)
  const storeB = yield* makeMemory
  yield* seed(storeB, {
    channels: graph.channelAnnouncements,
    updates: graph.channelUpdates,
    nodes: graph.nodeAnnouncements
  })
  const storeA = yield* makeMemory
  const first = yield* syncOnce(storeA, storeB)
  // the first sync fetched the whole graph (the baseline the second is compared with)
  expect(first.fetched.channelsRequested).toBe(150)
  expect(yield* Effect.orDie(storeA.counts)).toEqual(yield* Effect.orDie(storeB.counts))
  return { storeA, storeB }
})

describe("issue 18: resync against the same peer with an up-to-date store", () => {
  it.scoped("extended queries: the second sync requests no channel and no node announcement, only the range", () =>
    Effect.gen(function* () {
      const { storeA, storeB } = yield* setUp
      const before = yield* Effect.orDie(storeA.counts)
      yield* TestClock.adjust("1 hour")
      const second = yield* syncOnce(storeA, storeB)
      expect(second.fetched).toEqual({
        channelsRequested: 0,
        channelsReceived: 0,
        updatesReceived: 0,
        nodesRequested: 0,
        nodesReceived: 0
      })
      expect(scidQueries(second.wire)).toEqual([])
      const range = second.wire.sent.filter((m) => m._tag === "QueryChannelRange")
      expect(range.map((m) => m._tag === "QueryChannelRange" && m.queryOption)).toEqual([3n]) // timestamps | checksums
      // nothing but range replies came back: no gossip at all
      expect(new Set(second.wire.received)).toEqual(new Set(["ReplyChannelRange"]))
      expect(yield* Effect.orDie(storeA.counts)).toEqual(before)
    }))

  it.scoped("newer updates at the peer: exactly those channels, query_flags for the newer direction(s) only; A stores them", () =>
    Effect.gen(function* () {
      const { storeA, storeB } = yield* setUp
      yield* TestClock.adjust("1 hour")
      const at = TEST_NOW + 1800
      const [x, y, z, k] = [10, 20, 30, 40].map((i) => graph.channelAnnouncements[i]!.shortChannelId)
      const fresh = [
        newer(updateOf(x!, 0), at, true),
        newer(updateOf(y!, 1), at, true),
        newer(updateOf(z!, 0), at, true),
        newer(updateOf(z!, 1), at, true)
      ]
      // k: re-signed with the same content (a keep-alive): same checksum, so not worth a query (BOLT 7 checksums)
      const keepAlive = newer(updateOf(k!, 0), at, false)
      yield* seed(storeB, { updates: [...fresh, keepAlive] })

      const second = yield* syncOnce(storeA, storeB)
      expect(scidQueries(second.wire)).toEqual([{
        ids: [x, y, z],
        flags: [QUERY_FLAG_UPDATE_1, QUERY_FLAG_UPDATE_2, QUERY_FLAG_UPDATE_1 | QUERY_FLAG_UPDATE_2]
      }])
      expect(second.fetched).toEqual({
        channelsRequested: 3,
        channelsReceived: 0,
        updatesReceived: 4,
        nodesRequested: 0,
        nodesReceived: 0
      })
      // only the four updates crossed the wire: no announcement, no node announcement
      expect(second.wire.received.filter((t) => t === "ChannelUpdate").length).toBe(4)
      expect(second.wire.received.filter((t) => t === "ChannelAnnouncement" || t === "NodeAnnouncement")).toEqual([])

      // A holds the newer updates (timestamps and bytes), the keep-alive channel as it was
      const ours = yield* Effect.orDie(storeA.channels([x!, y!, z!, k!]))
      expect([x, y, z, k].map((s) => [ours.get(s!)!.timestamp1, ours.get(s!)!.timestamp2])).toEqual([
        [at, updateOf(x!, 1).timestamp],
        [updateOf(y!, 0).timestamp, at],
        [at, at],
        [updateOf(k!, 0).timestamp, updateOf(k!, 1).timestamp]
      ])
      const raw = yield* storedRaw(storeA, [x!, y!, z!])
      for (const u of fresh) expect(raw).toContain(toHex(u.raw))
      // and a third sync finds A up to date again (the keep-alive still not asked for)
      const third = yield* syncOnce(storeA, storeB)
      expect(scidQueries(third.wire)).toEqual([])
      expect(third.fetched.channelsRequested).toBe(0)
    }))
})
