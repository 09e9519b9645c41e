import { describe, expect, it } from "@effect/vitest"
import * as noise from "@node-lightning/noise"
import {
  Chunk,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Option,
  Schedule,
  Scope,
  Stream,
  Supervisor,
  TestClock
} from "effect"
import * as Chain from "../src/domain/Chain.js"
import { encodeMessage } from "../src/domain/Codec.js"
import { fromHex, toHex } from "../src/domain/Hex.js"
import type { GossipTimestampFilter, Message } from "../src/domain/Messages.js"
import { encryptFrame, generatePrivateKey, initiatorActOne, initiatorActTwo, publicKeyOf } from "../src/domain/Noise.js"
import type { Peer } from "../src/services/Peer.js"
import { handshakeOutbound } from "../src/services/internal/peerConnector/connection.js"
import type { PeerEvent } from "../src/services/PeerConnector.js"
import * as TcpPeerConnector from "../src/layers/net/TcpPeerConnector.js"
import {
  dialTcp,
  reconnectSchedule,
  type TcpPeerConnectorConfig,
  type TcpPeerConnectorService
} from "../src/layers/net/TcpPeerConnector.js"

const filter = (n: number): GossipTimestampFilter => ({
  _tag: "GossipTimestampFilter",
  chainHash: Chain.BITCOIN_MAINNET,
  firstTimestamp: n,
  timestampRange: 0xffffffff
})
const stamp = (m: Message): number => (m._tag === "GossipTimestampFilter" ? m.firstTimestamp : -1)

const listening = (key = generatePrivateKey(), overrides?: Partial<TcpPeerConnectorConfig>) =>
  TcpPeerConnector.make(
    TcpPeerConnector.makeConfig(key, Chain.BITCOIN_MAINNET, { listen: { host: "127.0.0.1", port: 0 }, ...overrides })
  )
const dialOnly = (key = generatePrivateKey(), overrides?: Partial<TcpPeerConnectorConfig>) =>
  TcpPeerConnector.make(TcpPeerConnector.makeConfig(key, Chain.BITCOIN_MAINNET, overrides))

const addressOf = (c: TcpPeerConnectorService) => {
  const a = Option.getOrThrow(c.listenAddress)
  return { nodeId: c.nodeId, host: a.host, port: a.port }
}

/** Pulls events one at a time from a subscription made before anything happens. */
const eventPuller = (c: TcpPeerConnectorService) =>
  Effect.gen(function* () {
    const pull = yield* Stream.toPull(yield* c.events)
    let buffered: Array<PeerEvent> = []
    return Effect.gen(function* () {
      while (buffered.length === 0) buffered = Chunk.toArray(yield* Effect.orDie(pull))
      return buffered.shift()!
    })
  })

const receive = (peer: Peer, n: number) =>
  peer.messages.pipe(Stream.take(n), Stream.map(stamp), Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

describe("TCP peers over loopback", () => {
  it.scopedLive(
    "BOLT 8 + BOLT 1: our initiator and responder: handshake, init, 10,000 messages both ways, clean close",
    () =>
      Effect.gen(function* () {
        const server = yield* listening()
        const client = yield* dialOnly()
        const serverEvents = yield* eventPuller(server)
        const clientEvents = yield* eventPuller(client)
        const out = yield* client.connect(addressOf(server))
        expect(out.direction).toBe("outbound")
        expect(out.nodeIdHex).toBe(toHex(server.nodeId))
        expect(out.gossipQueries && out.gossipQueriesEx).toBe(true)
        const connected = yield* serverEvents
        expect(connected._tag).toBe("Connected")
        const inbound = connected._tag === "Connected" ? connected.peer : out
        // the listener learned the dialer's id in act three
        expect(inbound.nodeIdHex).toBe(toHex(client.nodeId))
        expect(inbound.direction).toBe("inbound")
        expect((yield* clientEvents)._tag).toBe("Connected")

        const n = Number(process.env.TCP_N ?? 10_000)
        const sendAll = (p: Peer) => Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => p.send(filter(i)))
        const [, , atServer, atClient] = yield* Effect.all(
          [sendAll(out), sendAll(inbound), receive(inbound, n), receive(out, n)],
          { concurrency: 4 }
        )
        const expected = Array.from({ length: n }, (_, i) => i)
        expect(atServer).toEqual(expected)
        expect(atClient).toEqual(expected)

        yield* client.disconnect(out.nodeIdHex, "test done")
        // clean close: the other side's stream simply ends, both sides publish Disconnected
        expect(Chunk.size(yield* Stream.runCollect(inbound.messages))).toBe(0)
        const d = yield* inbound.closed
        expect(d.reason).toBe("remote closed the connection")
        expect(d.failure).toBeUndefined()
        expect(yield* serverEvents).toMatchObject({ _tag: "Disconnected", nodeIdHex: toHex(client.nodeId) })
        expect(yield* clientEvents).toMatchObject({ _tag: "Disconnected", nodeIdHex: toHex(server.nodeId) })
        expect((yield* server.connected).size).toBe(0)
        expect((yield* client.connected).size).toBe(0)
      }),
    60_000
  )

  it.scopedLive("BOLT 8: dialing with the wrong expected node id is rejected in act two", () =>
    Effect.gen(function* () {
      const server = yield* listening()
      const client = yield* dialOnly()
      const wrong = { ...addressOf(server), nodeId: publicKeyOf(generatePrivateKey()) }
      const result = yield* Effect.either(client.connect(wrong))
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left._tag).toBe("PeerConnectError")
        expect(result.left.reason).toMatch(/ACT2_(READ_FAILED|BAD_TAG)/)
        expect(result.left.address).toBe(`${toHex(wrong.nodeId)}@127.0.0.1:${wrong.port}`)
      }
      expect((yield* server.connected).size).toBe(0)
    }))

  it.scopedLive("PeerConnector: dialing a closed port fails with PeerConnectError", () =>
    Effect.gen(function* () {
      const probe = yield* Scope.make()
      const gone = yield* listening().pipe(Scope.extend(probe))
      const address = addressOf(gone)
      yield* Scope.close(probe, Exit.void)
      const client = yield* dialOnly()
      const result = yield* Effect.either(client.connect(address))
      expect(Either.isLeft(result) && result.left.reason).toMatch(/connect 127\.0\.0\.1:\d+/)
    }))

  it.scopedLive(
    "BOLT 8: the remote vanishing mid-message → PeerDisconnected; the connection's fibers end; closing the connector closes everything",
    () =>
      Effect.gen(function* () {
        const supervisor = yield* Supervisor.track
        const connectorScope = yield* Scope.make()
        const server = yield* listening().pipe(Effect.supervised(supervisor), Scope.extend(connectorScope))
        const events = yield* eventPuller(server).pipe(Scope.extend(connectorScope))
        const baseline = (yield* supervisor.value).filter((f) => f.unsafePoll() === null).length

        // a hand-driven remote: real handshake and init, then half a frame and a hang-up
        const remoteKey = generatePrivateKey()
        const rawScope = yield* Scope.make()
        const address = addressOf(server)
        const channel = yield* dialTcp(address.host, address.port, "5 seconds", "1 second").pipe(Scope.extend(rawScope))
        const hs = yield* handshakeOutbound(channel, remoteKey, server.nodeId, "5 seconds")
        // init: no global features, features 0x80 (gossip_queries optional), networks TLV with our chain
        const init = new Uint8Array([...fromHex("00100000000180"), 1, 32, ...Chain.BITCOIN_MAINNET])
        yield* channel.write(Either.getOrThrow(encryptFrame(hs.session.sender, init)))
        const connected = yield* events
        expect(connected._tag).toBe("Connected")
        const peer = connected._tag === "Connected" ? connected.peer : undefined
        expect(peer?.nodeIdHex).toBe(toHex(publicKeyOf(remoteKey)))
        const frame = Either.getOrThrow(encryptFrame(hs.session.sender, encodeMessage(filter(1))))
        yield* channel.write(frame.subarray(0, 25))
        yield* channel.close(true)

        const disconnected = yield* events
        expect(disconnected).toMatchObject({ _tag: "Disconnected", reason: "remote closed mid-message" })
        const d = yield* peer!.closed
        expect(d.failure?._tag).toBe("TransportIoError")
        const streamed = yield* Effect.either(Stream.runDrain(peer!.messages))
        expect(Either.isLeft(streamed) && streamed.left._tag).toBe("PeerDisconnected")
        const sent = yield* Effect.either(peer!.send(filter(2)))
        expect(Either.isLeft(sent) && sent.left._tag).toBe("PeerDisconnected")
        expect((yield* server.connected).size).toBe(0)
        // every fiber the connection started (reader, writer, keepalive, watcher, monitor) ends with it
        const settled = yield* Effect.repeat(
          Effect.zipRight(
            Effect.yieldNow(),
            Effect.map(supervisor.value, (fs) => fs.filter((f) => f.unsafePoll() === null).length)
          ),
          { until: (alive) => alive <= baseline, times: 100_000, schedule: Schedule.forever }
        )
        expect(settled).toBeLessThanOrEqual(baseline)
        yield* Scope.close(rawScope, Exit.void)
        yield* Scope.close(connectorScope, Exit.void)
        expect((yield* supervisor.value).filter((f) => f.unsafePoll() === null)).toEqual([])
      }),
    30_000
  )

  it.scopedLive("PeerConnector: keepConnected redials after a disconnect; events stay ordered per peer", () =>
    Effect.gen(function* () {
      const server = yield* listening()
      const client = yield* dialOnly(generatePrivateKey(), {
        reconnect: { base: Duration.millis(20), max: Duration.millis(100), stableAfter: Duration.seconds(30) }
      })
      const clientEvents = yield* eventPuller(client)
      const serverEvents = yield* eventPuller(server)
      yield* client.keepConnected(addressOf(server))
      yield* client.keepConnected(addressOf(server)) // idempotent: one supervisor per node
      expect((yield* clientEvents)._tag).toBe("Connected")
      expect((yield* serverEvents)._tag).toBe("Connected")
      // the server drops us; the client sees Disconnected, then reconnects
      yield* server.disconnect(toHex(client.nodeId), "go away")
      expect(yield* serverEvents).toMatchObject({ _tag: "Disconnected" })
      expect((yield* clientEvents)._tag).toBe("Disconnected")
      expect((yield* clientEvents)._tag).toBe("Connected")
      expect((yield* serverEvents)._tag).toBe("Connected")
      expect((yield* client.connected).size).toBe(1)
      // disconnect on the dialing side stops the reconnects
      yield* client.disconnect(toHex(server.nodeId), "stop")
      expect((yield* clientEvents)._tag).toBe("Disconnected")
      expect((yield* serverEvents)._tag).toBe("Disconnected")
      expect((yield* client.connected).size).toBe(0)
    }))

  it.scopedLive("PeerConnector: ban disconnects now, refuses the peer's inbound connections and skips dials", () =>
    Effect.gen(function* () {
      const server = yield* listening()
      const client = yield* listening()
      const serverEvents = yield* eventPuller(server)
      const out = yield* client.connect(addressOf(server))
      expect((yield* serverEvents)._tag).toBe("Connected")
      yield* server.ban(toHex(client.nodeId), Date.now() + 60_000, "invalid gossip")
      expect(yield* serverEvents).toMatchObject({ _tag: "Disconnected", reason: "local: banned: invalid gossip" })
      yield* out.closed
      // inbound from the banned node: refused after act three
      const again = yield* Effect.either(client.connect(addressOf(server)))
      expect(Either.isLeft(again)).toBe(true)
      // and we do not dial it
      const dial = yield* Effect.either(server.connect(addressOf(client)))
      expect(Either.isLeft(dial) && dial.left.reason).toMatch(/^banned until/)
      expect((yield* server.connected).size).toBe(0)
    }))
})

describe("PeerConnector limits and duplicates", () => {
  it.scopedLive("PeerConnector: inbound connections beyond maxPendingInbound are closed on arrival", () =>
    Effect.gen(function* () {
      const server = yield* listening(generatePrivateKey(), { maxPendingInbound: 1 })
      const address = addressOf(server)
      // the first connection gets act two back (so it was accepted) and then sits in its handshake, holding the
      // only slot
      const first = yield* dialTcp(address.host, address.port, "5 seconds", "1 second")
      const { actOne, state } = initiatorActOne(generatePrivateKey(), server.nodeId)
      yield* first.write(actOne)
      let actTwo = new Uint8Array(0)
      while (actTwo.length < 50) actTwo = Buffer.concat([actTwo, Option.getOrThrow(yield* first.read)])
      const second = yield* dialTcp(address.host, address.port, "5 seconds", "1 second")
      expect(Option.isNone(yield* second.read)).toBe(true)
      // the first is unaffected: its act two is valid
      expect(Either.isRight(initiatorActTwo(state, actTwo))).toBe(true)
    }))

  it.scopedLive("PeerConnector: a second connection from the same node replaces the first, Disconnected before Connected", () =>
    Effect.gen(function* () {
      const server = yield* listening()
      const events = yield* eventPuller(server)
      const sharedKey = generatePrivateKey()
      const c1 = yield* dialOnly(sharedKey)
      const c2 = yield* dialOnly(sharedKey)
      const p1 = yield* c1.connect(addressOf(server))
      const e1 = yield* events
      expect(e1._tag).toBe("Connected")
      yield* c2.connect(addressOf(server))
      expect(yield* events).toMatchObject({ _tag: "Disconnected", reason: "replaced by a new connection" })
      const e3 = yield* events
      expect(e3._tag).toBe("Connected")
      if (e1._tag === "Connected" && e3._tag === "Connected") expect(e3.peer).not.toBe(e1.peer)
      // the replaced connection really is closed, and only one is registered
      yield* p1.closed
      const now = yield* server.connected
      expect([...now.keys()]).toEqual([toHex(publicKeyOf(sharedKey))])
    }))
})

describe("reconnect backoff", () => {
  it.effect("PeerConnector: backoff doubles from the base, is jittered ×0.8–1.2, and is capped", () =>
    Effect.gen(function* () {
      const schedule = Schedule.delays(
        reconnectSchedule({ base: Duration.seconds(1), max: Duration.minutes(5), stableAfter: Duration.minutes(1) })
      )
      const now = yield* TestClock.currentTimeMillis
      const delays = Chunk.toReadonlyArray(
        yield* Schedule.run(schedule, now, Array.from({ length: 14 }, () => undefined))
      ).map(Duration.toMillis)
      expect(delays.length).toBe(14)
      delays.forEach((d, i) => {
        const nominal = 1000 * 2 ** i
        if (nominal * 0.8 >= 300_000) expect(d).toBe(300_000)
        else {
          expect(d).toBeGreaterThanOrEqual(Math.min(nominal * 0.8, 300_000))
          expect(d).toBeLessThanOrEqual(Math.min(nominal * 1.2, 300_000))
        }
      })
      expect(delays[13]).toBe(300_000)
    }))
})

// ---------------------------------------------------------------------------------------------------------------
// Interop with @node-lightning/noise 0.26.1 (an implementation we did not write). Its socket delivers one
// decrypted message per `data` event. Its key rotation shares one chaining key between directions, so these
// exchanges stay well under 500 messages per direction.

const theirInit = Buffer.concat([
  Buffer.from("0010" + "0000" + "0001" + "80", "hex"), // gf none, features: gossip_queries (bit 7)
  Buffer.from([1, 32]),
  Buffer.from(Chain.BITCOIN_MAINNET)
])

/** Their side of BOLT 1, by hand: collects messages, answers pings with pongs of the requested size. */
class TheirSide {
  readonly received: Array<Buffer> = []
  private waiters: Array<() => void> = []
  constructor(readonly socket: noise.NoiseSocket) {
    socket.on("data", (m: Buffer) => {
      if (m.readUInt16BE(0) === 18) {
        const n = m.readUInt16BE(2)
        socket.write(Buffer.concat([Buffer.from([0, 19]), Buffer.from([n >> 8, n & 0xff]), Buffer.alloc(n)]))
      }
      this.received.push(m)
      for (const w of this.waiters.splice(0)) w()
    })
    socket.on("error", () => undefined)
  }
  /** Waits until `count` messages of `type` have arrived (no timers: resolves on the data events). */
  waitFor(type: number, count: number): Effect.Effect<ReadonlyArray<Buffer>> {
    const matching = () => this.received.filter((m) => m.readUInt16BE(0) === type)
    return Effect.async<ReadonlyArray<Buffer>>((resume) => {
      const check = () => {
        if (matching().length >= count) resume(Effect.succeed(matching()))
        else this.waiters.push(check)
      }
      check()
    })
  }
}

const interopConfig = {
  transport: {
    ...TcpPeerConnector.makeConfig(generatePrivateKey(), Chain.BITCOIN_MAINNET).transport,
    pingInterval: Duration.millis(300),
    pongTimeout: Duration.seconds(1)
  }
}

/** Exchange on an established pair: init already done; messages, their ping, our pings. */
const exchange = (peer: Peer, theirs: TheirSide) =>
  Effect.gen(function* () {
    expect(peer.gossipQueries).toBe(true)
    expect(peer.gossipQueriesEx).toBe(false)
    // 200 messages each way
    for (let i = 0; i < 200; i++) {
      theirs.socket.write(Buffer.from(encodeMessage(filter(i))))
      yield* peer.send(filter(1000 + i))
    }
    expect(yield* receive(peer, 200)).toEqual(Array.from({ length: 200 }, (_, i) => i))
    const got = yield* theirs.waitFor(265, 200)
    expect(got.map((m) => m.readUInt32BE(2 + 32))).toEqual(Array.from({ length: 200 }, (_, i) => 1000 + i))
    // their ping → our pong of the requested size
    theirs.socket.write(Buffer.from("0012" + "0021" + "0000", "hex"))
    const [pong] = yield* theirs.waitFor(19, 1)
    expect(pong.readUInt16BE(2)).toBe(0x21)
    // our keepalive pings them; two pings means the first pong was accepted (no PongTimeout in between)
    const pings = yield* theirs.waitFor(18, 2)
    expect(pings.length).toBeGreaterThanOrEqual(2)
    expect(Option.isNone(yield* Fiber.poll(yield* Effect.fork(peer.closed)))).toBe(true)
  })

describe("interop with @node-lightning/noise", () => {
  it.scopedLive(
    "BOLT 8 interop: @node-lightning/noise dials our listener; handshake, init, messages and ping/pong both ways",
    () =>
      Effect.gen(function* () {
        const server = yield* listening(generatePrivateKey(), interopConfig)
        const events = yield* eventPuller(server)
        const theirKey = generatePrivateKey()
        const address = addressOf(server)
        const socket = yield* Effect.acquireRelease(
          Effect.sync(() =>
            noise.connect({
              ls: Buffer.from(theirKey),
              rpk: Buffer.from(server.nodeId),
              host: address.host,
              port: address.port
            })
          ),
          (s) => Effect.sync(() => s.destroy())
        )
        const theirs = new TheirSide(socket)
        yield* Effect.async<void>((resume) => {
          socket.once("ready", () => resume(Effect.void))
        })
        socket.write(theirInit)
        const [ourInit] = yield* theirs.waitFor(16, 1)
        expect(ourInit.readUInt16BE(2)).toBe(0) // no globalfeatures
        const connected = yield* events
        expect(connected._tag).toBe("Connected")
        if (connected._tag !== "Connected") return
        expect(connected.peer.nodeIdHex).toBe(toHex(publicKeyOf(theirKey)))
        yield* exchange(connected.peer, theirs)
      }),
    30_000
  )

  it.scopedLive(
    "BOLT 8 interop: we dial a @node-lightning/noise server; handshake, init, messages and ping/pong both ways",
    () =>
      Effect.gen(function* () {
        const theirKey = generatePrivateKey()
        let theirs: TheirSide | undefined
        const accepted: Array<noise.NoiseSocket> = []
        const srv = yield* Effect.acquireRelease(
          Effect.async<noise.NoiseServer>((resume) => {
            const s = noise.createServer({ ls: Buffer.from(theirKey) }, (socket) => {
              accepted.push(socket)
              theirs = new TheirSide(socket)
              socket.on("ready", () => socket.write(theirInit))
            })
            s.listen({ host: "127.0.0.1", port: 0 }, () => resume(Effect.succeed(s)))
          }),
          (s) =>
            Effect.async<void>((resume) => {
              for (const a of accepted) a.destroy()
              s.close(() => resume(Effect.void))
            })
        )
        const port = (srv.address() as { port: number }).port
        const client = yield* dialOnly(generatePrivateKey(), interopConfig)
        const peer = yield* client.connect({ nodeId: publicKeyOf(theirKey), host: "127.0.0.1", port })
        expect(peer.nodeIdHex).toBe(toHex(publicKeyOf(theirKey)))
        expect(theirs).toBeDefined()
        const [ourInit] = yield* theirs!.waitFor(16, 1)
        expect(ourInit.readUInt16BE(0)).toBe(16)
        yield* exchange(peer, theirs!)
        yield* client.disconnect(peer.nodeIdHex, "done")
      }),
    30_000
  )
})
