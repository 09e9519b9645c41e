/**
 * Issue 14, the connector under hostile load: inbound peers capped in total and per address, handshake slots that
 * half-open connections cannot monopolise, refusals logged as one summary line per interval, lossless peer events
 * bounded by peers, and a ban map that is bounded and swept on a schedule.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, ConfigProvider, Duration, Effect, Either, Logger, Option, Schedule, Stream, TestClock } from "effect"
import * as net from "node:net"
import * as Chain from "../src/domain/Chain.js"
import { generatePrivateKey, initiatorActOne } from "../src/domain/Noise.js"
import * as TcpPeerConnector from "../src/layers/net/TcpPeerConnector.js"
import { sourceKey, type TcpPeerConnectorConfig } from "../src/layers/net/TcpPeerConnector.js"
import * as Node from "../src/layers/Node.js"
import type { Peer } from "../src/services/Peer.js"
import { PeerEventHub } from "../src/services/internal/peerConnector/events.js"
import type { PeerEvent } from "../src/services/PeerConnector.js"

const listening = (overrides?: Partial<TcpPeerConnectorConfig>) =>
  TcpPeerConnector.make(
    TcpPeerConnector.makeConfig(generatePrivateKey(), Chain.BITCOIN_MAINNET, {
      listen: { host: "127.0.0.1", port: 0 },
      ...overrides
    })
  )
const dialOnly = (overrides?: Partial<TcpPeerConnectorConfig>) =>
  TcpPeerConnector.make(TcpPeerConnector.makeConfig(generatePrivateKey(), Chain.BITCOIN_MAINNET, overrides))

const addressOf = (c: TcpPeerConnector.TcpPeerConnectorService) => {
  const a = Option.getOrThrow(c.listenAddress)
  return { nodeId: c.nodeId, host: a.host, port: a.port }
}

/** A raw TCP connection from `localAddress` that sends `bytes` and then nothing; resolves once it is closed. */
const halfOpen = (port: number, localAddress: string, bytes: Uint8Array) =>
  Effect.acquireRelease(
    Effect.async<{ readonly socket: net.Socket; readonly closed: Promise<void> }>((resume) => {
      const socket = net.connect({ host: "127.0.0.1", port, localAddress })
      socket.on("error", () => undefined)
      const closed = new Promise<void>((r) => socket.once("close", () => r()))
      socket.once("connect", () => {
        socket.write(bytes)
        resume(Effect.succeed({ socket, closed }))
      })
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

/** Waits for the socket's close event (the test's timeout bounds it): true once it is closed. */
const closedBy = (closed: Promise<void>) => Effect.promise(() => closed.then(() => true))

/** Waits until the server's state satisfies `ok` (polled: over real sockets there is no event to wait on). */
const until = <A>(read: Effect.Effect<A>, ok: (a: A) => boolean) =>
  read.pipe(Effect.repeat({ until: ok, schedule: Schedule.spaced("5 millis") }))

const collectLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    lines.push(`${logLevel.label} ${text}`)
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

const fakePeer = (hex: string, n: number): Peer => ({ nodeIdHex: hex, n }) as unknown as Peer

describe("lossless peer events", () => {
  it.scoped("a subscriber that takes nothing while 100 peers connect and disconnect 10,000 times holds one entry per peer, and loses no live connection", () =>
    Effect.gen(function* () {
      const hub = new PeerEventHub()
      const stream = yield* hub.subscribe
      // the subscriber took the first connection of every peer
      const first: Array<PeerEvent> = []
      for (let p = 0; p < 100; p++) hub.publish({ _tag: "Connected", peer: fakePeer(`p${p}`, 0) })
      first.push(...Chunk.toReadonlyArray(yield* stream.pipe(Stream.take(100), Stream.runCollect)))
      expect(first.every((e) => e._tag === "Connected")).toBe(true)
      // then falls behind: 100 cycles per peer; peers with an even index end connected
      for (let cycle = 1; cycle <= 100; cycle++) {
        for (let p = 0; p < 100; p++) {
          hub.publish({ _tag: "Disconnected", nodeIdHex: `p${p}`, reason: `cycle ${cycle}` })
          if (cycle < 100 || p % 2 === 0) hub.publish({ _tag: "Connected", peer: fakePeer(`p${p}`, cycle) })
        }
      }
      expect(hub.backlog).toEqual([100])
      hub.close()
      const rest = Chunk.toReadonlyArray(yield* Stream.runCollect(stream))
      // per peer: Connected/Disconnected alternate, starting after the Connected already taken
      for (let p = 0; p < 100; p++) {
        const mine = rest.filter((e) => (e._tag === "Connected" ? e.peer.nodeIdHex : e.nodeIdHex) === `p${p}`)
        const tags = mine.map((e) => e._tag)
        if (p % 2 === 0) {
          expect(tags).toEqual(["Disconnected", "Connected"])
          const last = mine[1]!
          expect(last._tag === "Connected" && (last.peer as unknown as { n: number }).n).toBe(100)
        } else {
          // the 99th connection ended before it was taken: it is still reported, then its end
          expect(tags).toEqual(["Disconnected", "Connected", "Disconnected"])
        }
      }
    }))

  it.scopedLive("the connector's stream: a subscriber blocked for a while still sees every live connection", () =>
    Effect.gen(function* () {
      const server = yield* listening()
      const events = yield* server.events
      const clients = yield* Effect.forEach(Array.from({ length: 6 }, () => 0), () => dialOnly())
      // nobody reads the events while the peers connect (SyncNode busy in initSyncState)
      yield* Effect.forEach(clients, (c) => c.connect(addressOf(server)), { concurrency: "unbounded" })
      const got = yield* events.pipe(Stream.take(6), Stream.runCollect)
      const ids = Chunk.toReadonlyArray(got).map((e) => (e._tag === "Connected" ? e.peer.nodeIdHex : "?"))
      expect(new Set(ids).size).toBe(6)
    }))
})

describe("admission control", () => {
  it.scopedLive("established inbound peers are capped; refusals are one summary line per interval", () => {
    const logs = collectLogs()
    return Effect.gen(function* () {
      const server = yield* listening({ maxInboundPeers: 2, refusalLogInterval: Duration.millis(300) })
      const clients = yield* Effect.forEach(Array.from({ length: 6 }, () => 0), () => dialOnly())
      const results = yield* Effect.forEach(clients, (c) => Effect.either(c.connect(addressOf(server))))
      yield* until(server.stats, (st) => st.inboundPeers === 2)
      expect((yield* server.stats).inboundPeers).toBe(2)
      expect(results.filter(Either.isRight).length).toBeGreaterThanOrEqual(2)
      // the refused ones are closed by the server
      for (const [i, r] of results.entries()) {
        if (i >= 2 && Either.isRight(r)) yield* r.right.closed
      }
      yield* until(
        Effect.sync(() => logs.lines.some((l) => l.includes("inbound connections refused or failed"))),
        (x) => x
      )
      const summaries = logs.lines.filter((l) => l.includes("inbound connections refused or failed"))
      expect(summaries.length).toBe(1)
      expect(summaries[0]).toMatch(/: 4 \(inbound peer limit reached: 4\)/)
      expect(logs.lines.filter((l) => l.includes("refused") && !l.includes("in the last")).length).toBe(0)
    }).pipe(Effect.provide(logs.layer))
  })

  it.scopedLive("half-open connections (no act one) cannot hold the handshake slots: a real peer gets in", () =>
    Effect.gen(function* () {
      const server = yield* listening({ maxPendingInbound: 4, maxPendingInboundPerAddress: 100 })
      const port = addressOf(server).port
      // the attack: 3 bytes of act one, on every slot, and more
      const attackers = yield* Effect.forEach(
        Array.from({ length: 8 }, () => 0),
        () => halfOpen(port, "127.0.0.1", new Uint8Array(3))
      )
      yield* until(server.stats, (st) => st.pendingInbound === 4)
      expect((yield* server.stats).pendingInbound).toBe(4)
      const client = yield* dialOnly()
      const peer = yield* client.connect(addressOf(server))
      expect(peer.nodeIdHex).toBe(Buffer.from(server.nodeId).toString("hex"))
      // the oldest half-open ones were closed to make room
      expect(yield* closedBy(attackers[0]!.closed)).toBe(true)
    }))

  it.scopedLive("one address gets only maxPendingInboundPerAddress handshake slots; other addresses are unaffected", () =>
    Effect.gen(function* () {
      const server = yield* listening({ maxPendingInboundPerAddress: 2 })
      const port = addressOf(server).port
      // a complete act one each: these are no longer half-open, so nothing evicts them
      const actOne = () => initiatorActOne(generatePrivateKey(), server.nodeId).actOne
      const a = yield* halfOpen(port, "127.0.0.5", actOne())
      const b = yield* halfOpen(port, "127.0.0.5", actOne())
      yield* until(server.stats, (st) => st.pendingInbound === 2)
      const c = yield* halfOpen(port, "127.0.0.5", actOne())
      expect(yield* closedBy(c.closed)).toBe(true)
      // a and b still hold their slots, their sockets open
      expect((yield* server.stats).pendingInbound).toBe(2)
      expect([a.socket.destroyed, b.socket.destroyed]).toEqual([false, false])
      // from 127.0.0.1 a real peer still gets in
      const client = yield* dialOnly()
      yield* client.connect(addressOf(server))
      expect((yield* server.stats).inboundPeers).toBe(1)
    }))

  it.scopedLive("established inbound peers per source address are capped", () =>
    Effect.gen(function* () {
      const server = yield* listening({ maxInboundPerAddress: 1 })
      const first = yield* dialOnly()
      const second = yield* dialOnly()
      yield* first.connect(addressOf(server))
      // refused after init (or during it): either way the second connection ends, and is never registered
      yield* second.connect(addressOf(server)).pipe(Effect.flatMap((p) => p.closed), Effect.either)
      expect((yield* server.stats).inboundPeers).toBe(1)
    }))

  it("source keys: IPv4 as is, IPv4-mapped as IPv4, IPv6 by /64", () => {
    expect(sourceKey("127.0.0.1")).toBe("127.0.0.1")
    expect(sourceKey("::ffff:10.1.2.3")).toBe("10.1.2.3")
    expect(sourceKey("2001:db8:0:1::5")).toBe("2001:db8:0:1::/64")
    expect(sourceKey("2001:db8:0:1:ffff:1:2:3")).toBe("2001:db8:0:1::/64")
    expect(sourceKey("::1")).toBe("0:0:0:0::/64")
  })

  it.effect("LNSYNC_MAX_INBOUND_PEERS reaches the connector's config", () =>
    Effect.gen(function* () {
      const config = yield* Node.config.pipe(
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["LNSYNC_MAX_INBOUND_PEERS", "7"]]), { pathDelim: "_" })
        )
      )
      expect(config.maxInboundPeers).toBe(7)
      expect(Node.settingsFromConfig(config, new Uint8Array(32).fill(1)).transport?.maxInboundPeers).toBe(7)
    }))
})

describe("the ban map", () => {
  it.scoped("ended bans are swept on a schedule (TestClock), without anyone looking them up", () =>
    Effect.gen(function* () {
      const connector = yield* dialOnly({ banSweepInterval: Duration.minutes(1) })
      for (let i = 0; i < 50; i++) yield* connector.ban(`${i}`.padStart(66, "0"), 30_000 + i, "test")
      expect((yield* connector.stats).bans).toBe(50)
      yield* TestClock.adjust("1 minute")
      expect((yield* connector.stats).bans).toBe(0)
    }))

  it.scoped("the ban map is bounded: the ban ending soonest gives way", () =>
    Effect.gen(function* () {
      const connector = yield* dialOnly({ maxBans: 3 })
      const ids = ["a", "b", "c", "d"].map((x) => x.repeat(66))
      yield* connector.ban(ids[0]!, 5_000_000, "t")
      yield* connector.ban(ids[1]!, 1_000_000, "t") // ends soonest
      yield* connector.ban(ids[2]!, 9_000_000, "t")
      yield* connector.ban(ids[3]!, 7_000_000, "t")
      expect((yield* connector.stats).bans).toBe(3)
      const dial = (hex: string) =>
        Effect.either(connector.connect({ nodeId: Buffer.from(hex, "hex"), host: "127.0.0.1", port: 1 }))
      const b = yield* dial(ids[1]!)
      expect(Either.isLeft(b) && b.left.reason).not.toMatch(/banned/)
      const c = yield* dial(ids[2]!)
      expect(Either.isLeft(c) && c.left.reason).toMatch(/^banned until/)
    }))
})
