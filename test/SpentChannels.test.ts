/**
 * Issue 15: spent channels, over the in-suite chain server (Esplora REST on loopback) and both stores. The
 * ChainWatcher follows the tip; a block spending a channel's funding output marks it spent: it is no longer served
 * (range replies, scid replies, timestamp backlogs) and its updates are not accepted (so not forwarded); 72 blocks
 * on it is forgotten (BOLT 7) and kept as a zombie. A splice re-announces under a new scid and is accepted as any
 * new channel. Polls are driven by calling `poll` (the watcher's own fiber waits on the TestClock).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Layer, Option, Stream, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import type { GossipMessage } from "../src/domain/Messages.js"
import * as Esplora from "../src/layers/chain/Esplora.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import type { ChainSource } from "../src/services/ChainSource.js"
import * as ChainWatcher from "../src/services/ChainWatcher.js"
import { GossipPipeline, layer as layerGossipPipeline } from "../src/services/GossipPipeline.js"
import { layerGossipPipelineConfig } from "../src/services/GossipPipelineConfig.js"
import { GraphStore, layerMemory } from "../src/services/GraphStore.js"
import { layerInThread } from "../src/services/SignatureVerifier.js"
import * as ChainServer from "../src/testing/chain/ChainServer.js"
import { SyntheticChain } from "../src/testing/chain/SyntheticChain.js"
import { channel, node, NOW, NOW_MILLIS, scid, update } from "./pipelineFixtures.js"

const PEER = "02" + "aa".repeat(32)
const TIP = 800_000
const a = channel(node(1), node(2), scid(790_000))
const b = channel(node(3), node(4), scid(790_001))

const stores: ReadonlyArray<readonly [string, () => Layer.Layer<GraphStore>]> = [
  ["memory", () => layerMemory],
  [
    "sqlite",
    () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-spent-"))
      return Layer.orDie(GraphStoreSqlite.layer({ filename: path.join(dir, "graph.db"), chain: BITCOIN_MAINNET }))
    }
  ]
]

const harness = (store: Layer.Layer<GraphStore>, chain: Layer.Layer<ChainSource>) =>
  Layer.mergeAll(layerGossipPipeline, ChainWatcher.layer({ pruneFirstAfter: "100 days" })).pipe(
    Layer.provideMerge(Layer.mergeAll(store, layerInThread, chain, layerGossipPipelineConfig({})))
  )

/** Processes `messages` and waits until `landing` accepted messages have been written. */
const processAndLand = (messages: ReadonlyArray<GossipMessage>, landing: number) =>
  Effect.gen(function* () {
    const pipeline = yield* GossipPipeline
    const stream = yield* pipeline.accepted
    const fiber = yield* Effect.fork(Stream.runCollect(Stream.take(stream, landing)))
    yield* pipeline.process(PEER, messages)
    const got = yield* Fiber.join(fiber)
    yield* pipeline.flush
    return Chunk.toReadonlyArray(got)
  })

describe("Spent channels (ChainWatcher)", () => {
  for (const [name, store] of stores) {
    it.scoped(
      `${name}: spent → not relayed; a splice re-announced under a new scid is accepted; forgotten 72 blocks after the spend`,
      () =>
        Effect.gen(function* () {
          yield* TestClock.setTime(NOW_MILLIS)
          const chain = SyntheticChain.forAnnouncements([a.ann, b.ann], TIP)
          const server = yield* ChainServer.make(chain)
          return yield* Effect.gen(function* () {
            const s = yield* GraphStore
            const pipeline = yield* GossipPipeline
            const watcher = yield* ChainWatcher.ChainWatcher
            const aId = a.ann.shortChannelId
            yield* processAndLand(
              [a.ann, b.ann, update(aId, 0, NOW - 50, a.n1), update(b.ann.shortChannelId, 0, NOW - 50, b.n1)],
              4
            )
            yield* watcher.poll
            expect(yield* watcher.height).toEqual(Option.some(TIP))

            // the block closing `a` (its funding output spent)
            const closed = chain.mine([aId])
            yield* watcher.poll
            expect(yield* watcher.height).toEqual(Option.some(closed))
            const held = yield* s.channels([aId])
            expect(held.get(aId)?.spent).toBe(true)
            const range = yield* s.channelRange(0, 0xffffff)
            expect(range.map((c) => c.shortChannelId)).toEqual([b.ann.shortChannelId])
            expect(Chunk.size(yield* Stream.runCollect(s.gossipForChannels([aId])))).toBe(0)
            const horizon = Chunk.toReadonlyArray(yield* Stream.runCollect(s.gossipInHorizon(0, 2 ** 32 - 1)))
            expect(horizon.filter((g) => g.kind === "ChannelUpdate")).toHaveLength(1)
            // its updates are no longer accepted (so never forwarded); its announcement is a Duplicate (not re-fetched)
            const late = yield* pipeline.process(PEER, [update(aId, 1, NOW - 10, a.n2), a.ann])
            expect(late.map((v) => v._tag)).toEqual(["Duplicate", "Duplicate"])

            // a splice: the same nodes re-announce under a new scid, funded in a later block
            const spliced = channel(node(1), node(2), scid(closed, 1, 0))
            chain.fund(spliced.ann, 50_000n)
            const landed = yield* processAndLand([
              spliced.ann,
              update(spliced.ann.shortChannelId, 0, NOW - 5, spliced.n1)
            ], 2)
            expect(landed.map((g) => g.message._tag)).toEqual(["ChannelAnnouncement", "ChannelUpdate"])

            // 71 blocks after the spend: still held (marked); the 72nd: forgotten, a zombie
            for (let i = 0; i < 71; i++) chain.mine()
            yield* watcher.poll
            expect((yield* s.channels([aId])).size).toBe(1)
            chain.mine()
            yield* watcher.poll
            expect((yield* s.channels([aId])).size).toBe(0)
            expect([...(yield* s.zombies([aId]))]).toEqual([aId])
            expect((yield* s.channels([spliced.ann.shortChannelId, b.ann.shortChannelId])).size).toBe(2)
          }).pipe(Effect.provide(harness(store(), Esplora.layer({ url: server.esploraUrl, retries: 0 }))))
        }),
      60_000
    )
  }
})
