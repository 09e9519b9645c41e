/**
 * Issue 14, one connection under hostile load: everything a peer can make us hold is accounted in bytes (never RSS)
 * and bounded; a peer that does not read is dropped after the send deadline; BOLT 1 pings are answered without pongs
 * piling up, and a ping flood disconnects. Time is TestClock's; the remote is driven by hand over an in-memory
 * channel.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Either, Exit, Fiber, Option, Scope, Stream, TestClock } from "effect"
import * as Chain from "../src/domain/Chain.js"
import { decodeMessage, encodeMessage } from "../src/domain/Codec.js"
import * as Features from "../src/domain/Features.js"
import type { GossipTimestampFilter, Init, Message, QueryShortChannelIds } from "../src/domain/Messages.js"
import { encryptFrame, FrameDecoder, generatePrivateKey, type NoiseSession, publicKeyOf } from "../src/domain/Noise.js"
import type { ShortChannelId } from "../src/domain/ShortChannelId.js"
import type { ByteChannel } from "../src/services/Peer.js"
import {
  chargeOf,
  defaultTransportConfig,
  establishOutbound,
  handshakeInbound,
  HELD_MESSAGE_OVERHEAD,
  type TransportConfig
} from "../src/services/internal/peerConnector/connection.js"
import { makeTransportBudget, type TransportBudget } from "../src/services/internal/peerConnector/budget.js"
import { makeDuplexPair } from "../src/testing/MemoryPeer.js"

const config: TransportConfig = defaultTransportConfig(Chain.BITCOIN_MAINNET)

const filter = (n: number): GossipTimestampFilter => ({
  _tag: "GossipTimestampFilter",
  chainHash: Chain.BITCOIN_MAINNET,
  firstTimestamp: n,
  timestampRange: 0xffffffff
})

/** A 64 KB query_short_channel_ids (8,180 scids), the flood message. */
const bigQuery = (seed: number): QueryShortChannelIds => ({
  _tag: "QueryShortChannelIds",
  chainHash: Chain.BITCOIN_MAINNET,
  shortIds: {
    encoding: 0,
    ids: Array.from({ length: 8_180 }, (_, i) => (BigInt(seed) << 40n) + BigInt(i) as ShortChannelId)
  },
  queryFlags: undefined,
  unknownTlvs: []
})

const init: Init = {
  _tag: "Init",
  globalFeatures: new Uint8Array(0),
  features: Features.fromBits([Features.GOSSIP_QUERIES.odd]),
  networks: [Chain.BITCOIN_MAINNET],
  remoteAddr: undefined,
  unknownTlvs: []
}

interface Remote {
  readonly send: (m: Message) => Effect.Effect<void, unknown>
  readonly next: Effect.Effect<Message | undefined, unknown>
  readonly channel: ByteChannel
}

const remoteOf = (channel: ByteChannel, session: NoiseSession, leftover: Uint8Array): Remote => {
  const decoder = new FrameDecoder(session.receiver)
  decoder.push(leftover)
  return {
    channel,
    send: (m) => channel.write(Either.getOrThrow(encryptFrame(session.sender, encodeMessage(m)))),
    next: Effect.gen(function* () {
      for (;;) {
        const r = decoder.next()
        if (Either.isLeft(r)) return yield* Effect.fail(r.left)
        if (r.right !== undefined) return Either.getOrThrow(decodeMessage(r.right))
        const chunk = yield* channel.read
        if (Option.isNone(chunk)) return undefined
        decoder.push(chunk.value)
      }
    })
  }
}

/** Our peer (dialing) and a hand-driven remote; `budget` shared when given. */
const connected = (options?: {
  readonly ourConfig?: TransportConfig
  readonly budget?: TransportBudget
  readonly channelCapacity?: number
}) =>
  Effect.gen(function* () {
    const remoteKey = generatePrivateKey()
    const [plain, theirs] = yield* makeDuplexPair(options?.channelCapacity ?? 64)
    // counts what our side hands to the channel
    const written = { bytes: 0 }
    const ours: ByteChannel = {
      ...plain,
      write: (b) => Effect.zipRight(Effect.sync(() => (written.bytes += b.length)), plain.write(b))
    }
    const fiber = yield* Effect.fork(
      establishOutbound(ours, publicKeyOf(remoteKey), {
        localPrivateKey: generatePrivateKey(),
        config: options?.ourConfig ?? config,
        ...(options?.budget === undefined ? {} : { budget: options.budget })
      })
    )
    const hs = yield* handshakeInbound(theirs, remoteKey, "10 seconds")
    const remote = remoteOf(theirs, hs.session, hs.leftover)
    expect((yield* remote.next)?._tag).toBe("Init")
    yield* remote.send(init)
    const peer = yield* Fiber.join(fiber)
    return { peer, remote, written }
  })

/** Lets every fiber that can move, move (no clock involved). */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 200; i++) yield* Effect.yieldNow()
})

describe("inbound byte budget", () => {
  it.scoped("a flood of 64 KB queries nobody consumes: held as received bytes, bounded by inboundQueueBytes", () =>
    Effect.gen(function* () {
      const budget = makeTransportBudget({ inboundBytes: 64 * 1024 * 1024, outboundBytes: 64 * 1024 * 1024 })
      const { peer, remote } = yield* connected({ budget })
      const wire = encodeMessage(bigQuery(1))
      expect(wire.length).toBeGreaterThan(65_000)
      // a large message is charged at its received size (it waits undecoded), a small one at a bound of its decoded size
      expect(chargeOf(wire.length)).toBe(wire.length + HELD_MESSAGE_OVERHEAD)
      expect(chargeOf(100)).toBe(4 * 100 + HELD_MESSAGE_OVERHEAD)
      const flood = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 300 }, (_, i) => i), (i) => remote.send(bigQuery(i)))
      )
      yield* settle
      // the reader stopped at the per-peer limit: 1 MiB holds 15 such queries, the 16th is not read
      const perPeer = config.inboundQueueBytes
      expect(budget.inbound.used).toBeGreaterThan(perPeer - chargeOf(wire.length))
      expect(budget.inbound.used).toBeLessThanOrEqual(perPeer)
      expect(Option.isNone(yield* Fiber.poll(flood))).toBe(true)
      // consuming resumes the reader, in order, decoded when taken; the account never passes the limit
      const seen = yield* peer.messages.pipe(
        Stream.take(300),
        Stream.tap(() => Effect.sync(() => expect(budget.inbound.peak).toBeLessThanOrEqual(perPeer))),
        Stream.map((m) => (m._tag === "QueryShortChannelIds" ? Number(m.shortIds.ids[0]! >> 40n) : -1)),
        Stream.runCollect
      )
      expect(Chunk.toReadonlyArray(seen)).toEqual(Array.from({ length: 300 }, (_, i) => i))
      yield* Fiber.join(flood)
      expect(budget.inbound.used).toBe(0)
    }))

  it.scoped("small messages are bounded by bytes too, not only by count", () =>
    Effect.gen(function* () {
      const budget = makeTransportBudget({ inboundBytes: Infinity, outboundBytes: Infinity })
      const tight = { ...config, inboundQueueSize: 100_000, inboundQueueBytes: 10_000, queueReserveBytes: 10_000 }
      const { remote } = yield* connected({ ourConfig: tight, budget })
      const flood = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 1_000 }, (_, i) => i), (i) => remote.send(filter(i)))
      )
      yield* settle
      expect(budget.inbound.used).toBeLessThanOrEqual(10_000)
      const one = chargeOf(encodeMessage(filter(0)).length)
      expect(budget.inbound.used).toBeGreaterThan(10_000 - one)
      yield* Fiber.interrupt(flood)
    }))

  it.scoped("the shared budget: past its reserve a peer waits for room another peer gives back; closing gives it all back", () =>
    Effect.gen(function* () {
      const size = chargeOf(encodeMessage(bigQuery(0)).length)
      // room for 3 queries across peers; each peer may always hold 1 (its reserve)
      const budget = makeTransportBudget({ inboundBytes: 3 * size, outboundBytes: Infinity })
      const ours = { ...config, queueReserveBytes: size }
      const scopeA = yield* Scope.make()
      const a = yield* connected({ ourConfig: ours, budget }).pipe(Scope.extend(scopeA))
      const b = yield* connected({ ourConfig: ours, budget })
      yield* Effect.fork(Effect.forEach(Array.from({ length: 10 }, (_, i) => i), (i) => a.remote.send(bigQuery(i))))
      yield* settle
      expect(budget.inbound.used).toBe(3 * size)
      // b still gets its reserve although the shared budget is spent
      yield* Effect.fork(Effect.forEach(Array.from({ length: 10 }, (_, i) => i), (i) => b.remote.send(bigQuery(i))))
      yield* settle
      expect(budget.inbound.used).toBe(4 * size)
      // a's connection goes away: its bytes come back at once, and b fills the room
      yield* Scope.close(scopeA, Exit.void)
      yield* settle
      expect(budget.inbound.used).toBe(3 * size)
      const first = yield* b.peer.messages.pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.size(first)).toBe(1)
    }))
})

describe("outbound byte budget and the send deadline", () => {
  it.scoped("a peer that does not read: sends wait at outboundQueueBytes, then the deadline disconnects it (TestClock)", () =>
    Effect.gen(function* () {
      const budget = makeTransportBudget({ inboundBytes: Infinity, outboundBytes: Infinity })
      const { peer } = yield* connected({ budget, channelCapacity: 2 })
      const reply = encodeMessage({ _tag: "UnknownMessage", type: 32_769, payload: new Uint8Array(60_000) })
      const sender = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 1_000 }, (_, i) => i), () => peer.sendRaw(reply)).pipe(Effect.either)
      )
      yield* settle
      // queued (plus one batch handed to the stalled channel), never more
      expect(budget.outbound.used).toBeLessThanOrEqual(config.outboundQueueBytes + reply.length)
      expect(budget.outbound.used).toBeGreaterThan(config.outboundQueueBytes - reply.length)
      expect(Option.isNone(yield* Fiber.poll(sender))).toBe(true)
      yield* TestClock.adjust("29 seconds")
      expect(Option.isNone(yield* Fiber.poll(sender))).toBe(true)
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(sender)
      expect(Either.isLeft(result) && result.left._tag).toBe("PeerDisconnected")
      const d = yield* peer.closed
      expect(d.failure).toMatchObject({ _tag: "PeerMisbehaving", rule: "not-reading" })
      expect(d.reason).toMatch(/^peer not reading: \d+ bytes unsent, nothing written for 30000 ms/)
      yield* settle
      expect(budget.outbound.used).toBe(0)
    }))

  it.scoped("a slow but reading peer is never cut off: the deadline runs from the last write that made progress", () =>
    Effect.gen(function* () {
      const { peer, remote } = yield* connected({
        ourConfig: { ...config, pingInterval: Duration.hours(1) },
        channelCapacity: 2
      })
      const reply = encodeMessage({ _tag: "UnknownMessage", type: 32_769, payload: new Uint8Array(60_000) })
      const total = 40
      const sender = yield* Effect.fork(
        Effect.forEach(Array.from({ length: total }, (_, i) => i), () => peer.sendRaw(reply))
      )
      // the remote reads one 60 KB message every 10 s (6 KB/s, with two more in flight on the wire): far slower
      // than we send, but the socket never goes 30 s without taking something
      for (let i = 0; i < total; i++) {
        yield* settle
        expect((yield* remote.next)?._tag).toBe("UnknownMessage")
        yield* TestClock.adjust("10 seconds")
      }
      yield* Fiber.join(sender)
      expect(Option.isNone(yield* Fiber.poll(yield* Effect.fork(peer.closed)))).toBe(true)
    }))
})

describe("BOLT 1 pings under load", () => {
  it.scoped("a ping flood (pongs never read) disconnects with a reason; pongs never pile up", () =>
    Effect.gen(function* () {
      const budget = makeTransportBudget({ inboundBytes: Infinity, outboundBytes: Infinity })
      const { peer, remote, written } = yield* connected({ budget, channelCapacity: 2 })
      const before = written.bytes
      const pings = yield* Effect.fork(
        Effect.forEach(
          Array.from({ length: 2_000 }, (_, i) => i),
          () => remote.send({ _tag: "Ping", numPongBytes: 65_531, ignored: new Uint8Array(0) })
        ).pipe(Effect.either)
      )
      const d = yield* peer.closed
      expect(d.failure).toMatchObject({ _tag: "PeerMisbehaving", rule: "ping-flood" })
      expect(d.reason).toMatch(/^ping flood: 11 pings in \d+ s/)
      yield* Fiber.interrupt(pings)
      // pongs are control messages, never charged to the data budget; the remote read nothing, so at most the
      // channel's two chunks and one blocked write were handed over: the other pongs were never made
      expect(budget.outbound.peak).toBe(0)
      const pong = 2 + 2 + 65_531 + 16 + 18
      expect(written.bytes - before).toBeGreaterThanOrEqual(pong)
      expect(written.bytes - before).toBeLessThanOrEqual(3 * pong)
    }))

  it.scoped("LDK-style flow-control pings (one after every 32 gossip messages, pong read) never count as a flood", () =>
    Effect.gen(function* () {
      const { peer, remote } = yield* connected()
      const consumer = yield* Effect.fork(Stream.runDrain(peer.messages))
      for (let round = 0; round < 100; round++) {
        for (let i = 0; i < 32; i++) yield* remote.send(filter(i))
        yield* remote.send({ _tag: "Ping", numPongBytes: 0, ignored: new Uint8Array(64) })
        expect((yield* remote.next)?._tag).toBe("Pong")
      }
      expect(Option.isNone(yield* Fiber.poll(consumer))).toBe(true)
      expect(Option.isNone(yield* Fiber.poll(yield* Effect.fork(peer.closed)))).toBe(true)
    }))

  it.scoped("keepalive-rate pings answered every time; the excess count restarts each window", () =>
    Effect.gen(function* () {
      // our own keepalive far away, so only the remote's pings are on the wire
      const { peer, remote } = yield* connected({ ourConfig: { ...config, pingInterval: Duration.hours(1) } })
      // 10 back-to-back pings per 30 s window is the limit, forever
      for (let w = 0; w < 5; w++) {
        for (let i = 0; i < 10; i++) {
          yield* remote.send({ _tag: "Ping", numPongBytes: 1, ignored: new Uint8Array(0) })
          expect((yield* remote.next)?._tag).toBe("Pong")
        }
        yield* TestClock.adjust("30 seconds")
      }
      expect(Option.isNone(yield* Fiber.poll(yield* Effect.fork(peer.closed)))).toBe(true)
    }))

  it.scoped("act one must arrive within actOneTimeout (TestClock): a silent half-open connection is dropped early", () =>
    Effect.gen(function* () {
      const [ours, theirs] = yield* makeDuplexPair(8)
      const fiber = yield* Effect.fork(
        handshakeInbound(ours, generatePrivateKey(), "10 seconds", generatePrivateKey(), { actOneTimeout: "5 seconds" })
          .pipe(Effect.either)
      )
      yield* theirs.write(new Uint8Array(3))
      yield* TestClock.adjust("5 seconds")
      const r = yield* Fiber.join(fiber)
      expect(Either.isLeft(r) && r.left).toMatchObject({ _tag: "HandshakeTimeout", timeoutMillis: 5000 })
    }))
})
