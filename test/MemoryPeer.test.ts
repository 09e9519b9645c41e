import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Exit, Fiber, Scope, Stream } from "effect"
import { encodeMessage } from "../src/domain/Codec.js"
import * as Features from "../src/domain/Features.js"
import { toHex } from "../src/domain/Hex.js"
import type { Message } from "../src/domain/Messages.js"
import { make as scid } from "../src/domain/ShortChannelId.js"
import { makePeerPair } from "../src/testing/MemoryPeer.js"
import { CHAIN, channelUpdate, nodeId } from "./support/gossip.js"

const filter: Message = { _tag: "GossipTimestampFilter", chainHash: CHAIN, firstTimestamp: 1, timestampRange: 2 }

describe("MemoryPeer", () => {
  it.scoped("each side sees the other's key and init; messages cross through the real codec in order", () =>
    Effect.gen(function* () {
      const [local, remote] = yield* makePeerPair({
        local: { nodeId: nodeId(1) },
        remote: { nodeId: nodeId(2), features: Features.fromBits([Features.GOSSIP_QUERIES.odd]) }
      })
      expect(local.nodeIdHex).toBe(toHex(nodeId(2)))
      expect(remote.nodeIdHex).toBe(toHex(nodeId(1)))
      expect([local.direction, remote.direction]).toEqual(["outbound", "inbound"])
      expect([local.gossipQueries, local.gossipQueriesEx]).toEqual([true, false])
      expect([remote.gossipQueries, remote.gossipQueriesEx]).toEqual([true, true])
      const update = channelUpdate(scid(700_000, 1, 0), 1, 1_700_000_000)
      yield* local.send(filter)
      yield* local.sendRaw(update.raw)
      yield* local.send({ _tag: "Ping", numPongBytes: 4, ignored: new Uint8Array(2) }) // handled below `messages`
      const got = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.take(remote.messages, 2)))
      expect(got[0]).toEqual(filter)
      expect(got[1]._tag).toBe("ChannelUpdate")
      expect(toHex(encodeMessage(got[1]))).toBe(toHex(update.raw))
      expect(got[1]._tag === "ChannelUpdate" && toHex(got[1].raw)).toBe(toHex(update.raw))
    }))

  it.scoped("disconnect on one side ends both streams and fails later sends with PeerDisconnected", () =>
    Effect.gen(function* () {
      const [local, remote] = yield* makePeerPair({ local: { nodeId: nodeId(1) }, remote: { nodeId: nodeId(2) } })
      const reading = yield* Effect.fork(Stream.runCollect(remote.messages))
      const readingLocal = yield* Effect.fork(Stream.runCollect(local.messages))
      yield* local.send(filter)
      yield* remote.disconnect("bye")
      expect(Exit.isSuccess(yield* Fiber.await(reading))).toBe(true)
      expect(Exit.isSuccess(yield* Fiber.await(readingLocal))).toBe(true)
      const r = yield* Effect.either(local.send(filter))
      expect(r).toEqual(Either.left(expect.objectContaining({ _tag: "PeerDisconnected", reason: "bye" })))
      expect((yield* remote.closed).reason).toBe("bye")
      expect((yield* local.closed).nodeId).toBe(toHex(nodeId(2)))
    }))

  it.effect("closing the pair's scope disconnects both sides", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const [local, remote] = yield* Scope.extend(
        makePeerPair({ local: { nodeId: nodeId(1) }, remote: { nodeId: nodeId(2) } }),
        scope
      )
      yield* Scope.close(scope, Exit.void)
      expect(Either.isLeft(yield* Effect.either(remote.send(filter)))).toBe(true)
      expect(Chunk.size(yield* Stream.runCollect(local.messages))).toBe(0)
    }))

  it.scoped("the queues are bounded: a sender waits while the reader is behind", () =>
    Effect.gen(function* () {
      const [local, remote] = yield* makePeerPair({
        local: { nodeId: nodeId(1) },
        remote: { nodeId: nodeId(2) },
        queueSize: 2
      })
      yield* local.send(filter)
      yield* local.send(filter)
      const third = yield* Effect.fork(local.send(filter))
      yield* Effect.repeatN(Effect.yieldNow(), 20)
      expect(third.unsafePoll()).toBeNull()
      yield* Stream.runDrain(Stream.take(remote.messages, 1))
      yield* Fiber.join(third)
    }))

  it.scoped("bytes the codec rejects close the connection instead of reaching the other side", () =>
    Effect.gen(function* () {
      const [local, remote] = yield* makePeerPair({ local: { nodeId: nodeId(1) }, remote: { nodeId: nodeId(2) } })
      const r = yield* Effect.either(local.sendRaw(Uint8Array.of(0x01, 0x02, 0x03)))
      expect(Either.isLeft(r)).toBe(true)
      expect((yield* remote.closed).reason).toMatch(/undecodable/)
    }))
})
