import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Chunk,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Logger,
  Option,
  Scope,
  Stream,
  Supervisor,
  TestClock
} from "effect"
import * as Chain from "../src/domain/Chain.js"
import { decodeMessage, encodeMessage } from "../src/domain/Codec.js"
import * as Features from "../src/domain/Features.js"
import { toHex } from "../src/domain/Hex.js"
import type { GossipTimestampFilter, Init, Message } from "../src/domain/Messages.js"
import { encryptFrame, FrameDecoder, generatePrivateKey, type NoiseSession, publicKeyOf } from "../src/domain/Noise.js"
import type { ByteChannel, Peer } from "../src/services/Peer.js"
import {
  defaultTransportConfig,
  establishInbound,
  establishOutbound,
  handshakeInbound,
  handshakeOutbound,
  type TransportConfig
} from "../src/services/internal/peerConnector/connection.js"
import { makeDuplexPair, makePeerPairInMemory } from "../src/testing/MemoryPeer.js"

const config: TransportConfig = defaultTransportConfig(Chain.BITCOIN_MAINNET)
const DEFAULT_FOR_TEST_FEATURES = Features.fromBits([Features.GOSSIP_QUERIES.odd, Features.GOSSIP_QUERIES_EX.odd])

const firstFailure = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

const filter = (n: number): GossipTimestampFilter => ({
  _tag: "GossipTimestampFilter",
  chainHash: Chain.BITCOIN_MAINNET,
  firstTimestamp: n,
  timestampRange: 0xffffffff
})

const initOf = (features: Uint8Array, networks: ReadonlyArray<Uint8Array> | undefined): Init => ({
  _tag: "Init",
  globalFeatures: new Uint8Array(0),
  features,
  networks,
  remoteAddr: undefined,
  unknownTlvs: []
})

/**
 * A hand-driven remote: does the BOLT 8 handshake and then lets the test write frames (or raw bytes) and read
 * decoded messages, so each BOLT 1 rule can be provoked exactly.
 */
interface RawRemote {
  readonly nodeId: Uint8Array
  readonly send: (m: Message) => Effect.Effect<void, unknown>
  readonly writeBytes: (b: Uint8Array) => Effect.Effect<void, unknown>
  /** Next decoded message; `undefined` at EOF. */
  readonly next: Effect.Effect<Message | undefined, unknown>
  readonly channel: ByteChannel
  readonly sender: NoiseSession["sender"]
}

const rawRemote = (channel: ByteChannel, session: NoiseSession, leftover: Uint8Array): RawRemote => {
  const decoder = new FrameDecoder(session.receiver)
  decoder.push(leftover)
  const next: Effect.Effect<Message | undefined, unknown> = Effect.gen(function* () {
    for (;;) {
      const r = decoder.next()
      if (Either.isLeft(r)) return yield* Effect.fail(r.left)
      if (r.right !== undefined) return Either.getOrThrow(decodeMessage(r.right))
      const chunk = yield* channel.read
      if (Option.isNone(chunk)) return undefined
      decoder.push(chunk.value)
    }
  })
  const writeBytes = (b: Uint8Array) => channel.write(b)
  return {
    nodeId: session.remoteStatic,
    channel,
    sender: session.sender,
    writeBytes,
    send: (m) => writeBytes(Either.getOrThrow(encryptFrame(session.sender, encodeMessage(m)))),
    next
  }
}

/** Our peer dials a raw remote that answers the handshake and (unless told not to) sends `init`. */
const peerWithRawRemote = (options?: {
  readonly ourConfig?: TransportConfig
  readonly remoteInit?: Init | undefined
  readonly sendInit?: boolean
  readonly channelCapacity?: number
}) =>
  Effect.gen(function* () {
    const ourKey = generatePrivateKey()
    const remoteKey = generatePrivateKey()
    const [ours, theirs] = yield* makeDuplexPair(options?.channelCapacity ?? 64)
    const peerFiber = yield* Effect.fork(
      establishOutbound(ours, publicKeyOf(remoteKey), { localPrivateKey: ourKey, config: options?.ourConfig ?? config })
    )
    const hs = yield* handshakeInbound(theirs, remoteKey, "10 seconds")
    const remote = rawRemote(theirs, hs.session, hs.leftover)
    const ourInit = yield* remote.next
    expect(ourInit?._tag).toBe("Init")
    if (options?.sendInit !== false) {
      yield* remote.send(options?.remoteInit ?? initOf(DEFAULT_FOR_TEST_FEATURES, [Chain.BITCOIN_MAINNET]))
    }
    return { peerFiber, remote, ourInit: ourInit as Init, ourKey }
  })

const joinPeer = <A, E>(fiber: Fiber.Fiber<A, E>) => Fiber.join(fiber)

const collectLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push(`${logLevel.label} ${text}`)
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

describe("BOLT 1 init", () => {
  it.scoped("BOLT 1: both sides record each other's features; gossip_queries flags follow the remote's bits", () =>
    Effect.gen(function* () {
      const plain = { ...config, localFeatures: Features.fromBits([Features.OPTION_DATA_LOSS_PROTECT.odd]) }
      const keyA = generatePrivateKey()
      const keyB = generatePrivateKey()
      const [a, b] = yield* makePeerPairInMemory({ configA: config, configB: plain, keyA, keyB })
      expect(a.direction).toBe("outbound")
      expect(b.direction).toBe("inbound")
      // the dialer knew b's id; b learned a's id from act three
      expect(a.nodeIdHex).toBe(toHex(publicKeyOf(keyB)))
      expect(b.nodeIdHex).toBe(toHex(publicKeyOf(keyA)))
      expect(Buffer.from(a.remoteInit.features).toString("hex")).toBe(Buffer.from(plain.localFeatures).toString("hex"))
      expect(Buffer.from(b.remoteInit.features).toString("hex")).toBe(
        Buffer.from(config.localFeatures).toString("hex")
      )
      // a's remote (b) does not signal gossip_queries; b's remote (a) signals both
      expect(a.gossipQueries).toBe(false)
      expect(a.gossipQueriesEx).toBe(false)
      expect(b.gossipQueries).toBe(true)
      expect(b.gossipQueriesEx).toBe(true)
      expect(a.localInit.networks?.map(Chain.describe)).toEqual(["mainnet"])
    }))

  it.scoped("BOLT 1: gossip_queries signalled only in the legacy globalfeatures still counts (features are OR-ed)", () =>
    Effect.gen(function* () {
      const { peerFiber } = yield* peerWithRawRemote({
        remoteInit: {
          ...initOf(new Uint8Array(0), undefined),
          globalFeatures: Features.fromBits([Features.GOSSIP_QUERIES.odd])
        }
      })
      const peer = yield* joinPeer(peerFiber)
      expect(peer.gossipQueries).toBe(true)
      expect(peer.gossipQueriesEx).toBe(false)
    }))

  it.scoped("BOLT 1: a networks TLV without our chain fails with NoCommonChain (both directions)", () =>
    Effect.gen(function* () {
      const regtest = { ...config, chain: Chain.BITCOIN_REGTEST }
      const keyA = generatePrivateKey()
      const keyB = generatePrivateKey()
      const [ca, cb] = yield* makeDuplexPair()
      const [ra, rb] = yield* Effect.all(
        [
          Effect.either(establishOutbound(ca, publicKeyOf(keyB), { localPrivateKey: keyA, config })),
          Effect.either(establishInbound(cb, { localPrivateKey: keyB, config: regtest }))
        ],
        { concurrency: 2 }
      )
      expect(Either.isLeft(ra) && ra.left._tag).toBe("NoCommonChain")
      expect(Either.isLeft(rb) && rb.left._tag).toBe("NoCommonChain")
      if (Either.isLeft(ra) && ra.left._tag === "NoCommonChain") {
        expect(ra.left.ours).toBe("mainnet")
        expect(ra.left.theirs).toEqual(["regtest"])
      }
    }))

  it.scoped("BOLT 1: an init without networks is accepted on any chain", () =>
    Effect.gen(function* () {
      const { peerFiber } = yield* peerWithRawRemote({ remoteInit: initOf(DEFAULT_FOR_TEST_FEATURES, undefined) })
      const peer = yield* joinPeer(peerFiber)
      expect(peer.remoteInit.networks).toBeUndefined()
    }))

  it.scoped("BOLT 1: unknown even (required) feature bits fail with UnknownRequiredFeatures", () =>
    Effect.gen(function* () {
      const { peerFiber } = yield* peerWithRawRemote({
        remoteInit: initOf(Features.fromBits([Features.GOSSIP_QUERIES.odd, 100]), [Chain.BITCOIN_MAINNET])
      })
      const exit = yield* Fiber.await(peerFiber)
      expect(firstFailure(exit)).toMatchObject({ _tag: "UnknownRequiredFeatures", bits: [100] })
    }))

  it.scoped("BOLT 1: unknown odd feature bits are fine", () =>
    Effect.gen(function* () {
      const { peerFiber } = yield* peerWithRawRemote({
        remoteInit: initOf(Features.fromBits([Features.GOSSIP_QUERIES.odd, 101]), [Chain.BITCOIN_MAINNET])
      })
      const peer = yield* joinPeer(peerFiber)
      expect(peer.gossipQueries).toBe(true)
    }))

  it.scoped("BOLT 1: a first message other than init fails with InitRejected", () =>
    Effect.gen(function* () {
      const { peerFiber, remote } = yield* peerWithRawRemote({ sendInit: false })
      yield* remote.send(filter(1))
      const exit = yield* Fiber.await(peerFiber)
      expect(firstFailure(exit)).toMatchObject({ _tag: "InitRejected" })
    }))

  it.scoped("BOLT 1: init not received within initTimeout (TestClock) fails with InitTimeout", () =>
    Effect.gen(function* () {
      const ourConfig = { ...config, initTimeout: Duration.seconds(5) }
      const { peerFiber } = yield* peerWithRawRemote({ sendInit: false, ourConfig })
      yield* TestClock.adjust("4999 millis")
      expect(Option.isNone(yield* Fiber.poll(peerFiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect(firstFailure(yield* Fiber.await(peerFiber))).toMatchObject({ _tag: "InitTimeout", timeoutMillis: 5000 })
    }))
})

describe("BOLT 8 handshake over a channel", () => {
  it.scoped("BOLT 8: a handshake not finished within 10 s (default, TestClock) fails with HandshakeTimeout", () =>
    Effect.gen(function* () {
      const [ours, theirs] = yield* makeDuplexPair()
      const remoteKey = generatePrivateKey()
      const fiber = yield* Effect.fork(
        establishOutbound(ours, publicKeyOf(remoteKey), { localPrivateKey: generatePrivateKey(), config })
      )
      // the remote reads act one and never answers
      const actOne = yield* theirs.read
      expect(Option.getOrThrow(actOne).length).toBe(50)
      yield* TestClock.adjust("9999 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect(firstFailure(yield* Fiber.await(fiber))).toMatchObject({ _tag: "HandshakeTimeout", timeoutMillis: 10000 })
      // and the channel was closed: the remote sees EOF
      expect(Option.isNone(yield* theirs.read)).toBe(true)
    }))

  it.scoped("BOLT 8: the handshake timeout is configurable", () =>
    Effect.gen(function* () {
      const [ours] = yield* makeDuplexPair()
      const fiber = yield* Effect.fork(handshakeInbound(ours, generatePrivateKey(), "3 seconds"))
      yield* TestClock.adjust("3 seconds")
      expect(firstFailure(yield* Fiber.await(fiber))).toMatchObject({ _tag: "HandshakeTimeout", timeoutMillis: 3000 })
    }))

  it.scoped("BOLT 8: dialing with the wrong expected node id fails in act two", () =>
    Effect.gen(function* () {
      const [ours, theirs] = yield* makeDuplexPair()
      const remoteKey = generatePrivateKey()
      const wrong = publicKeyOf(generatePrivateKey())
      const [dial, accept] = yield* Effect.all(
        [
          Effect.either(handshakeOutbound(ours, generatePrivateKey(), wrong, "10 seconds")),
          // a responder that fails hangs up (what establishInbound and the TCP listener do)
          Effect.either(
            handshakeInbound(theirs, remoteKey, "10 seconds").pipe(Effect.onError(() => theirs.close(false)))
          )
        ],
        { concurrency: 2 }
      )
      // the responder cannot decrypt act one (ACT1_BAD_TAG) and hangs up; the initiator fails reading act two
      expect(Either.isLeft(accept) && accept.left).toMatchObject({ _tag: "NoiseError", code: "ACT1_BAD_TAG" })
      expect(Either.isLeft(dial) && dial.left).toMatchObject({ _tag: "NoiseError", code: "ACT2_READ_FAILED" })
    }))

  it.scoped("BOLT 8: a wrong act version from the remote fails with ACT2_BAD_VERSION", () =>
    Effect.gen(function* () {
      const [ours, theirs] = yield* makeDuplexPair()
      const fiber = yield* Effect.fork(
        handshakeOutbound(ours, generatePrivateKey(), publicKeyOf(generatePrivateKey()), "10 seconds")
      )
      yield* theirs.read
      const bad = new Uint8Array(50)
      bad[0] = 1
      yield* theirs.write(bad)
      expect(firstFailure(yield* Fiber.await(fiber))).toMatchObject({ _tag: "NoiseError", code: "ACT2_BAD_VERSION" })
    }))
})

describe("BOLT 1 messages and keepalive", () => {
  it.scoped("BOLT 8: 1,200 messages each way over the in-memory pair arrive in order (rotation crossed)", () =>
    Effect.gen(function* () {
      const [a, b] = yield* makePeerPairInMemory()
      const n = 1200
      const sendAll = (p: Peer) => Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => p.send(filter(i)))
      const receiveAll = (p: Peer) =>
        p.messages.pipe(
          Stream.take(n),
          Stream.map((m) => (m._tag === "GossipTimestampFilter" ? m.firstTimestamp : -1)),
          Stream.runCollect,
          Effect.map(Chunk.toReadonlyArray)
        )
      const [, , gotA, gotB] = yield* Effect.all([sendAll(a), sendAll(b), receiveAll(a), receiveAll(b)], {
        concurrency: 4
      })
      const expected = Array.from({ length: n }, (_, i) => i)
      expect(gotA).toEqual(expected)
      expect(gotB).toEqual(expected)
    }))

  it.scoped("BOLT 1: a ping is answered with a pong of exactly num_pong_bytes; ping/pong never reach `messages`", () =>
    Effect.gen(function* () {
      const { peerFiber, remote } = yield* peerWithRawRemote()
      const peer = yield* joinPeer(peerFiber)
      yield* remote.send({ _tag: "Ping", numPongBytes: 100, ignored: new Uint8Array(7) })
      const pong = yield* remote.next
      expect(pong?._tag).toBe("Pong")
      expect(pong?._tag === "Pong" && pong.ignored.length).toBe(100)
      yield* remote.send(filter(42))
      const first = yield* peer.messages.pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.toReadonlyArray(first).map((m) => m._tag)).toEqual(["GossipTimestampFilter"])
    }))

  it.scoped("BOLT 1: a ping asking for 65532 or more bytes is ignored", () =>
    Effect.gen(function* () {
      const { peerFiber, remote } = yield* peerWithRawRemote()
      yield* joinPeer(peerFiber)
      yield* remote.send({ _tag: "Ping", numPongBytes: 65532, ignored: new Uint8Array(0) })
      yield* remote.send({ _tag: "Ping", numPongBytes: 65531, ignored: new Uint8Array(0) })
      yield* remote.send({ _tag: "Ping", numPongBytes: 3, ignored: new Uint8Array(0) })
      const a = yield* remote.next
      const b = yield* remote.next
      expect([a, b].map((m) => (m?._tag === "Pong" ? m.ignored.length : -1))).toEqual([65531, 3])
    }))

  it.scoped("BOLT 1: pings are answered while the consumer of `messages` is not reading", () =>
    Effect.gen(function* () {
      const small = { ...config, inboundQueueSize: 4 }
      const { peerFiber, remote } = yield* peerWithRawRemote({ ourConfig: small })
      yield* joinPeer(peerFiber)
      // fill the inbound queue to capacity; nobody consumes
      for (let i = 0; i < 4; i++) yield* remote.send(filter(i))
      yield* remote.send({ _tag: "Ping", numPongBytes: 9, ignored: new Uint8Array(0) })
      const pong = yield* remote.next
      expect(pong?._tag === "Pong" && pong.ignored.length).toBe(9)
    }))

  it.scoped("BOLT 1 keepalive: ping every interval; no pong within the timeout (TestClock) disconnects with PongTimeout", () =>
    Effect.gen(function* () {
      const { peerFiber, remote } = yield* peerWithRawRemote()
      const peer = yield* joinPeer(peerFiber)
      const closed = yield* Effect.fork(peer.closed)
      yield* TestClock.adjust("59 seconds")
      yield* TestClock.adjust("1 second")
      const ping = yield* remote.next
      expect(ping?._tag).toBe("Ping")
      yield* TestClock.adjust("29 seconds")
      expect(Option.isNone(yield* Fiber.poll(closed))).toBe(true)
      yield* TestClock.adjust("1 second")
      const d = yield* Fiber.join(closed)
      expect(d.failure).toMatchObject({ _tag: "PongTimeout", timeoutMillis: 30000 })
      // the messages stream fails with that disconnect, and sends fail too
      const streamed = yield* Effect.either(Stream.runDrain(peer.messages))
      expect(Either.isLeft(streamed) && streamed.left._tag).toBe("PeerDisconnected")
      const sent = yield* Effect.either(peer.send(filter(1)))
      expect(Either.isLeft(sent) && sent.left._tag).toBe("PeerDisconnected")
      // the channel is closed
      expect(yield* remote.next).toBeUndefined()
    }))

  it.scoped("BOLT 1 keepalive: pongs of the right size keep the connection up across many intervals", () =>
    Effect.gen(function* () {
      const quick = { ...config, pingInterval: Duration.seconds(10), pongTimeout: Duration.seconds(5) }
      const { peerFiber, remote } = yield* peerWithRawRemote({ ourConfig: quick })
      const peer = yield* joinPeer(peerFiber)
      const received = peer.messages.pipe(Stream.toPull)
      const pull = yield* received
      // pings at 10 s, 20 s, 30 s …; each pong is checked 5 s after its ping
      yield* TestClock.adjust("10 seconds")
      for (let round = 0; round < 5; round++) {
        const ping = yield* remote.next
        expect(ping?._tag).toBe("Ping")
        const n = ping?._tag === "Ping" ? ping.numPongBytes : 0
        yield* remote.send({ _tag: "Pong", ignored: new Uint8Array(n) })
        // a marker behind the pong: once it is delivered, the pong has been processed
        yield* remote.send(filter(round))
        const got = yield* pull
        expect(Chunk.toReadonlyArray(got).map((m) => (m._tag === "GossipTimestampFilter" ? m.firstTimestamp : -1)))
          .toEqual([
            round
          ])
        yield* TestClock.adjust("5 seconds")
        yield* TestClock.adjust("5 seconds")
      }
      const closed = yield* Effect.fork(peer.closed)
      expect(Option.isNone(yield* Fiber.poll(closed))).toBe(true)
    }))

  it.scoped("BOLT 1 keepalive: a pong of the wrong size does not count", () =>
    Effect.gen(function* () {
      const { peerFiber, remote } = yield* peerWithRawRemote()
      const peer = yield* joinPeer(peerFiber)
      yield* TestClock.adjust("60 seconds")
      const ping = yield* remote.next
      const n = ping?._tag === "Ping" ? ping.numPongBytes : 0
      yield* remote.send({ _tag: "Pong", ignored: new Uint8Array(n + 1) })
      yield* TestClock.adjust("30 seconds")
      const d = yield* peer.closed
      expect(d.failure?._tag).toBe("PongTimeout")
    }))

  it.scoped("BOLT 1: an error with an all-zero channel id disconnects with RemoteSentError; the text is sanitised in logs", () => {
    const logs = collectLogs()
    return Effect.gen(function* () {
      const { peerFiber, remote } = yield* peerWithRawRemote()
      const peer = yield* joinPeer(peerFiber)
      yield* remote.send({
        _tag: "Error",
        channelId: new Uint8Array(32),
        data: new Uint8Array([...Buffer.from("bad\nthing"), 0x1b, 0x5b]),
        unknownTlvs: []
      })
      const d = yield* peer.closed
      expect(d.failure).toMatchObject({ _tag: "RemoteSentError", text: "bad\\x0athing\\x1b[" })
      expect(logs.lines.some((l) => l.includes("bad\\x0athing\\x1b["))).toBe(true)
      expect(logs.lines.some((l) => l.includes("\n"))).toBe(false)
      expect(yield* remote.next).toBeUndefined()
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("BOLT 1: an error for a channel we do not have and a warning are logged only", () => {
    const logs = collectLogs()
    return Effect.gen(function* () {
      const { peerFiber, remote } = yield* peerWithRawRemote()
      const peer = yield* joinPeer(peerFiber)
      yield* remote.send({
        _tag: "Error",
        channelId: new Uint8Array(32).fill(1),
        data: Buffer.from("x"),
        unknownTlvs: []
      })
      yield* remote.send({
        _tag: "Warning",
        channelId: new Uint8Array(32),
        data: Buffer.from("careful"),
        unknownTlvs: []
      })
      yield* remote.send({ _tag: "Ping", numPongBytes: 1, ignored: new Uint8Array(0) })
      // still alive: the ping behind them is answered
      expect((yield* remote.next)?._tag).toBe("Pong")
      expect(logs.lines.some((l) => l.startsWith("WARN") && l.includes("careful"))).toBe(true)
      expect(logs.lines.some((l) => l.startsWith("WARN") && l.includes("[channel 0101"))).toBe(true)
      const closed = yield* Effect.fork(peer.closed)
      expect(Option.isNone(yield* Fiber.poll(closed))).toBe(true)
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("BOLT 8: garbage after the handshake ends the connection with a NoiseError", () =>
    Effect.gen(function* () {
      const { peerFiber, remote } = yield* peerWithRawRemote()
      const peer = yield* joinPeer(peerFiber)
      yield* remote.writeBytes(new Uint8Array(40).fill(0xab))
      const d = yield* peer.closed
      expect(d.failure).toMatchObject({ _tag: "NoiseError", code: "LENGTH_BAD_TAG" })
      expect(yield* remote.next).toBeUndefined()
    }))

  it.scoped("BOLT 1: an unknown even message type ends the connection with a DecodeError (after a warning)", () =>
    Effect.gen(function* () {
      const { peerFiber, remote } = yield* peerWithRawRemote()
      const peer = yield* joinPeer(peerFiber)
      yield* remote.send({ _tag: "UnknownMessage", type: 33, payload: new Uint8Array(2) })
      yield* remote.writeBytes(
        Either.getOrThrow(encryptFrame(remote.sender, new Uint8Array([0x00, 0x22, 1, 2])))
      )
      const d = yield* peer.closed
      expect(d.failure?._tag).toBe("DecodeError")
      const warning = yield* remote.next
      expect(warning?._tag).toBe("Warning")
      const got = yield* Stream.runCollect(peer.messages).pipe(Effect.either)
      // the odd unknown message before it was delivered, then the stream failed
      expect(Either.isLeft(got)).toBe(true)
    }))
})

describe("connection lifecycle", () => {
  it.scoped("BOLT 1: the remote closing cleanly ends `messages` after the queued messages; later sends fail", () =>
    Effect.gen(function* () {
      const { peerFiber, remote } = yield* peerWithRawRemote()
      const peer = yield* joinPeer(peerFiber)
      yield* remote.send(filter(1))
      yield* remote.send(filter(2))
      yield* remote.channel.close(true)
      const got = yield* Stream.runCollect(peer.messages)
      expect(Chunk.toReadonlyArray(got).map((m) => m._tag)).toEqual(["GossipTimestampFilter", "GossipTimestampFilter"])
      const d = yield* peer.closed
      expect(d.reason).toContain("remote closed")
      expect(d.failure).toBeUndefined()
      const sent = yield* Effect.either(peer.send(filter(3)))
      expect(Either.isLeft(sent) && sent.left).toMatchObject({ _tag: "PeerDisconnected", nodeId: peer.nodeIdHex })
    }))

  it.scoped("BOLT 8: the remote vanishing mid-message → PeerDisconnected; pending sends fail; no fiber left running", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor.track
      const scope = yield* Scope.make()
      // a tiny outbound queue and channel so sends pile up while the remote does not read
      const tight = { ...config, outboundQueueSize: 2 }
      const { peerFiber, remote } = yield* peerWithRawRemote({ ourConfig: tight, channelCapacity: 2 }).pipe(
        Effect.supervised(supervisor),
        Scope.extend(scope)
      )
      const peer = yield* joinPeer(peerFiber)
      const sends = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 50 }, (_, i) => i), (i) => peer.send(filter(i))).pipe(Effect.either)
      )
      const frame = Either.getOrThrow(encryptFrame(remote.sender, encodeMessage(filter(7))))
      yield* remote.writeBytes(frame.subarray(0, 30))
      // EOF right behind the partial frame
      yield* remote.channel.close(true)
      const d = yield* peer.closed
      expect(d.reason).toBe("remote closed mid-message")
      expect(d.failure?._tag).toBe("TransportIoError")
      const sendResult = yield* Fiber.join(sends)
      expect(Either.isLeft(sendResult) && sendResult.left._tag).toBe("PeerDisconnected")
      const streamed = yield* Effect.either(Stream.runDrain(peer.messages))
      expect(Either.isLeft(streamed) && streamed.left._tag).toBe("PeerDisconnected")
      yield* Scope.close(scope, Exit.void)
      const alive = (yield* supervisor.value).filter((f) => f.unsafePoll() === null)
      expect(alive).toEqual([])
    }))

  it.scoped("closing the peer's scope closes the channel and ends `messages`", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { peerFiber, remote } = yield* peerWithRawRemote().pipe(Scope.extend(scope))
      const peer = yield* joinPeer(peerFiber)
      yield* Scope.close(scope, Exit.void)
      expect(yield* remote.next).toBeUndefined()
      const d = yield* peer.closed
      expect(d.reason).toBe("connection scope closed")
      expect(Chunk.size(yield* Stream.runCollect(peer.messages))).toBe(0)
    }))

  it.scoped("disconnect flushes queued messages first, then closes; it is idempotent", () =>
    Effect.gen(function* () {
      const { peerFiber, remote } = yield* peerWithRawRemote()
      const peer = yield* joinPeer(peerFiber)
      yield* peer.send(filter(1))
      yield* peer.send(filter(2))
      yield* peer.disconnect("done")
      yield* peer.disconnect("again")
      const got: Array<string> = []
      for (;;) {
        const m = yield* remote.next
        if (m === undefined) break
        got.push(m._tag)
      }
      expect(got).toEqual(["GossipTimestampFilter", "GossipTimestampFilter"])
      expect((yield* peer.closed).reason).toBe("local: done")
    }))

  it.scoped("backpressure: a full inbound queue stops reading the channel; consuming resumes it", () =>
    Effect.gen(function* () {
      const small = { ...config, inboundQueueSize: 4 }
      const { peerFiber, remote } = yield* peerWithRawRemote({ ourConfig: small, channelCapacity: 2 })
      const peer = yield* joinPeer(peerFiber)
      const total = 40
      const writer = yield* Effect.fork(
        Effect.forEach(Array.from({ length: total }, (_, i) => i), (i) => remote.send(filter(i)))
      )
      // let everything that can move, move
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      // 4 queued + 1 parked in the reader + 2 chunks in the channel: the writer cannot have finished
      expect(Option.isNone(yield* Fiber.poll(writer))).toBe(true)
      const got = yield* peer.messages.pipe(
        Stream.take(total),
        Stream.map((m) => (m._tag === "GossipTimestampFilter" ? m.firstTimestamp : -1)),
        Stream.runCollect
      )
      expect(Chunk.toReadonlyArray(got)).toEqual(Array.from({ length: total }, (_, i) => i))
      yield* Fiber.join(writer)
    }))

  it.scoped("sendRawAll: many messages through a small outbound queue arrive complete and in order", () =>
    Effect.gen(function* () {
      const tight = { ...config, outboundQueueSize: 3 }
      const [a, b] = yield* makePeerPairInMemory({ configA: tight, configB: config, channelCapacity: 2 })
      const total = 40
      const wires = Array.from({ length: total }, (_, i) => encodeMessage(filter(i)))
      const sending = yield* Effect.fork(a.sendRawAll!(wires))
      const got = yield* b.messages.pipe(
        Stream.take(total),
        Stream.map((m) => (m._tag === "GossipTimestampFilter" ? m.firstTimestamp : -1)),
        Stream.runCollect
      )
      expect(Chunk.toReadonlyArray(got)).toEqual(Array.from({ length: total }, (_, i) => i))
      yield* Fiber.join(sending)
      // after a disconnect it fails like sendRaw
      yield* a.disconnect("done")
      const late = yield* Effect.either(a.sendRawAll!(wires.slice(0, 2)))
      expect(Either.isLeft(late) && late.left._tag).toBe("PeerDisconnected")
    }))

  it.scoped("makePeerPairInMemory: two real peers; closing one side ends the other's stream", () =>
    Effect.gen(function* () {
      const [a, b] = yield* makePeerPairInMemory()
      yield* a.send(filter(5))
      yield* a.disconnect("bye")
      const got = yield* Stream.runCollect(b.messages)
      expect(Chunk.toReadonlyArray(got).map((m) => m._tag)).toEqual(["GossipTimestampFilter"])
      expect((yield* b.closed).reason).toContain("remote closed")
    }))
})
