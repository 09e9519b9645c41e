/**
 * TCP wiring for peers: `node:net` sockets as `ByteChannel`s, the listener, and the `PeerConnector` service
 * (dial, accept, reconnect with capped exponential backoff, bans, connect/disconnect events).
 *
 * Under hostile load (issue 14) it stays bounded: inbound peers are capped in total and per source address, handshake
 * slots are capped per address and a half-open connection (no act one yet) gives its slot to a newer one, refusals
 * are logged as one summary line per interval, every connection's queues are charged to one byte budget, events are
 * lossless (`PeerEventHub`), and the ban map is bounded and swept on a schedule.
 *
 * Ownership: the connector's scope owns the listener, a `FiberSet` of accept/monitor fibers, a `FiberMap` of
 * reconnect supervisors, and one child scope per connection (socket + the peer's fibers). Closing the layer closes
 * all of them.
 */
import * as net from "node:net"
import {
  Clock,
  Context,
  Duration,
  Effect,
  ExecutionStrategy,
  Exit,
  Fiber,
  FiberMap,
  FiberSet,
  Layer,
  Option,
  Schedule,
  Scope
} from "effect"
import { toHex } from "../../domain/Hex.js"
import type { ChainHash, PublicKey } from "../../domain/Messages.js"
import { isPrivateKey, publicKeyOf } from "../../domain/Noise.js"
import type { ByteChannel, Peer, PeerEstablishError } from "../../services/Peer.js"
import { TransportIoError } from "../../services/Peer.js"
import {
  defaultTransportConfig,
  establishInbound,
  establishOutbound,
  NodeIdentity,
  type PeerAddress,
  PeerConnectError,
  PeerConnector,
  type PeerConnectorService,
  PeerEventHub,
  type TransportConfig,
  makeTransportBudget
} from "../../services/PeerConnector.js"

// ---------------------------------------------------------------------------------------------------------------
// Configuration

export interface ReconnectConfig {
  /** First retry delay; doubles per failed attempt (lnd starts at 1 s). */
  readonly base: Duration.DurationInput
  /** Cap on the delay between attempts (5 minutes by default). */
  readonly max: Duration.DurationInput
  /** A connection that lived at least this long resets the backoff; shorter ones count as failed attempts. */
  readonly stableAfter: Duration.DurationInput
}

export interface TcpPeerConnectorConfig {
  /** Our node's static private key (32 bytes): the BOLT 8 identity peers dial. */
  readonly nodePrivateKey: Uint8Array
  /** Accept inbound connections here (port 0 picks a free port); none = dial only. */
  readonly listen: { readonly host: string; readonly port: number } | undefined
  readonly transport: TransportConfig
  /** TCP connect deadline. */
  readonly connectTimeout: Duration.DurationInput
  readonly reconnect: ReconnectConfig
  /**
   * Inbound connections still in handshake/init at once. When all are taken, a new one closes the oldest that has
   * not even sent act one (a half-open connection costs its owner nothing), else it is refused (issue 14).
   */
  readonly maxPendingInbound: number
  /** Of those, from one source address (an IPv4 address, an IPv6 /64): no one address can take every slot. */
  readonly maxPendingInboundPerAddress: number
  /** Established inbound peers at most; more are refused (issue 14). Dialed peers do not count. */
  readonly maxInboundPeers: number
  /** Established inbound peers from one source address. */
  readonly maxInboundPerAddress: number
  /** Refused and failed inbound connections are logged as one summary line per interval, not one per connection. */
  readonly refusalLogInterval: Duration.DurationInput
  /** Bans held at most (the one ending soonest is dropped first) ... */
  readonly maxBans: number
  /** ... and how often ended ones are dropped. */
  readonly banSweepInterval: Duration.DurationInput
  /**
   * Bytes all connections together hold received and not yet consumed, and queued and not yet written (issue 14):
   * beyond their `queueReserveBytes` a connection only queues more while these have room (backpressure).
   */
  readonly inboundBudgetBytes: number
  readonly outboundBudgetBytes: number
}

export const defaultReconnectConfig: ReconnectConfig = {
  base: Duration.seconds(1),
  max: Duration.minutes(5),
  stableAfter: Duration.minutes(1)
}

export const makeConfig = (
  nodePrivateKey: Uint8Array,
  chain: ChainHash,
  overrides?: Partial<Omit<TcpPeerConnectorConfig, "nodePrivateKey">>
): TcpPeerConnectorConfig => ({
  nodePrivateKey,
  listen: undefined,
  transport: defaultTransportConfig(chain),
  connectTimeout: Duration.seconds(10),
  reconnect: defaultReconnectConfig,
  maxPendingInbound: 64,
  maxPendingInboundPerAddress: 4,
  maxInboundPeers: 100,
  maxInboundPerAddress: 8,
  refusalLogInterval: Duration.seconds(10),
  maxBans: 10_000,
  banSweepInterval: Duration.minutes(1),
  inboundBudgetBytes: 32 * 1024 * 1024,
  outboundBudgetBytes: 32 * 1024 * 1024,
  ...overrides
})

/** Capped, jittered exponential backoff: base, 2×base, 4×base … (each ×0.8–1.2), never more than `max`. */
export const reconnectSchedule = (config: ReconnectConfig): Schedule.Schedule<unknown, unknown> =>
  Schedule.exponential(config.base, 2).pipe(Schedule.jittered, Schedule.union(Schedule.spaced(config.max)))

// ---------------------------------------------------------------------------------------------------------------
// Sockets as byte channels

/**
 * Wraps a socket at once (so an `error` listener is attached before any event can fire). Reads use paused mode:
 * while nobody calls `read`, node stops pulling from the kernel once its buffer is full, so a slow peer consumer
 * pushes back on the remote's TCP window.
 */
export const socketChannel = (
  socket: net.Socket,
  closeTimeout: Duration.DurationInput,
  label?: string
): ByteChannel => {
  let error: Error | undefined = undefined
  let ended = false
  let readWaiter: (() => void) | undefined = undefined
  let drainWaiter: (() => void) | undefined = undefined
  const wakeReader = () => {
    const w = readWaiter
    readWaiter = undefined
    w?.()
  }
  const wakeWriter = () => {
    const w = drainWaiter
    drainWaiter = undefined
    w?.()
  }
  socket.on("error", (e) => {
    error ??= e
    wakeReader()
    wakeWriter()
  })
  socket.on("end", () => {
    ended = true
    wakeReader()
  })
  socket.on("close", () => {
    wakeReader()
    wakeWriter()
  })
  socket.on("readable", wakeReader)
  socket.on("drain", wakeWriter)
  socket.setNoDelay(true)
  const remote = label ?? `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`
  const ioError = (what: string) => new TransportIoError({ reason: error ? `${what}: ${error.message}` : what })

  const read = Effect.async<Option.Option<Uint8Array>, TransportIoError>((resume) => {
    const attempt = (): boolean => {
      const chunk = socket.read() as Buffer | null
      if (chunk !== null) resume(Effect.succeed(Option.some(chunk)))
      else if (error !== undefined) resume(Effect.fail(ioError("socket error")))
      else if (ended || socket.destroyed) resume(Effect.succeed(Option.none()))
      else return false
      return true
    }
    if (attempt()) return
    const onWake = () => {
      if (!attempt()) readWaiter = onWake
    }
    readWaiter = onWake
    return Effect.sync(() => {
      if (readWaiter === onWake) readWaiter = undefined
    })
  })

  const write = (bytes: Uint8Array) =>
    Effect.async<void, TransportIoError>((resume) => {
      if (error !== undefined) return resume(Effect.fail(ioError("socket error")))
      if (socket.destroyed || socket.writableEnded) return resume(Effect.fail(ioError("socket closed")))
      if (socket.write(bytes)) return resume(Effect.void)
      // node buffered it but is over its high-water mark: wait for drain (backpressure on our writer)
      const onWake = () =>
        resume(error !== undefined || socket.destroyed ? Effect.fail(ioError("socket closed")) : Effect.void)
      drainWaiter = onWake
      return Effect.sync(() => {
        if (drainWaiter === onWake) drainWaiter = undefined
      })
    })

  const close = (graceful: boolean) =>
    Effect.suspend(() => {
      if (socket.destroyed) return Effect.void
      if (!graceful) return Effect.sync(() => socket.destroy())
      // FIN after the buffered bytes, then wait (bounded) for the remote to close its side
      return Effect.async<void>((resume) => {
        const onClose = () => resume(Effect.void)
        socket.once("close", onClose)
        // nobody reads any more: discard what still arrives so the remote's FIN is seen and 'close' can fire
        socket.removeListener("readable", wakeReader)
        socket.resume()
        socket.end()
        return Effect.sync(() => socket.off("close", onClose))
      }).pipe(
        // callers close from uninterruptible cleanup; the bounded wait must still be cut off by its timeout
        Effect.interruptible,
        Effect.timeout(closeTimeout),
        Effect.ignore,
        Effect.ensuring(Effect.sync(() => socket.destroy()))
      )
    })

  return { read, write, close, remote }
}

/** Opens a TCP connection; the socket is destroyed when the current scope closes. */
export const dialTcp = (
  host: string,
  port: number,
  timeout: Duration.DurationInput,
  closeTimeout: Duration.DurationInput
): Effect.Effect<ByteChannel, TransportIoError, Scope.Scope> =>
  Effect.gen(function* () {
    const socket = yield* Effect.acquireRelease(
      Effect.sync(() => new net.Socket()),
      (s) => Effect.sync(() => s.destroy())
    )
    const channel = socketChannel(socket, closeTimeout, `${host}:${port}`)
    yield* Effect.async<void, TransportIoError>((resume) => {
      const onConnect = () => {
        socket.off("error", onError)
        resume(Effect.void)
      }
      const onError = (e: Error) => {
        socket.off("connect", onConnect)
        resume(Effect.fail(new TransportIoError({ reason: `connect ${host}:${port}: ${e.message}` })))
      }
      socket.once("connect", onConnect)
      socket.once("error", onError)
      socket.connect({ host, port })
      return Effect.sync(() => {
        socket.off("connect", onConnect)
        socket.off("error", onError)
        socket.destroy()
      })
    }).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () => new TransportIoError({ reason: `connect ${host}:${port}: timed out` })
      })
    )
    return channel
  })

/**
 * Listens on `host:port`; each accepted socket is handed to `onSocket` (synchronously, inside node's callback).
 * Closing the scope stops listening and destroys any accepted socket the handler has not closed yet.
 */
export const listenTcp = (
  host: string,
  port: number,
  onSocket: (socket: net.Socket) => void
): Effect.Effect<{ readonly host: string; readonly port: number }, TransportIoError, Scope.Scope> =>
  Effect.gen(function* () {
    const open = new Set<net.Socket>()
    const server = yield* Effect.acquireRelease(
      Effect.async<net.Server, TransportIoError>((resume) => {
        const server = net.createServer()
        server.on("connection", (socket) => {
          open.add(socket)
          socket.once("close", () => open.delete(socket))
          onSocket(socket)
        })
        const onError = (e: Error) => resume(Effect.fail(new TransportIoError({ reason: `listen: ${e.message}` })))
        server.once("error", onError)
        server.listen(port, host, () => {
          server.off("error", onError)
          // later server errors (EMFILE on accept …) must not crash the process
          server.on("error", () => undefined)
          resume(Effect.succeed(server))
        })
      }),
      (server) =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          for (const s of open) s.destroy()
        })
    )
    const address = server.address()
    if (address === null || typeof address === "string") {
      return yield* Effect.fail(new TransportIoError({ reason: "listener has no TCP address" }))
    }
    return { host: address.address, port: address.port }
  })

// ---------------------------------------------------------------------------------------------------------------
// The connector

export interface TcpPeerConnectorService extends PeerConnectorService {
  /** Our node id (compressed public key of `nodePrivateKey`). */
  readonly nodeId: PublicKey
  /** Where the listener is bound (port 0 resolved), when listening. */
  readonly listenAddress: Option.Option<{ readonly host: string; readonly port: number }>
  /** What the connector holds now (tests, benches, an operator's status page). */
  readonly stats: Effect.Effect<ConnectorStats>
}

export interface ConnectorStats {
  readonly pendingInbound: number
  readonly inboundPeers: number
  readonly peers: number
  readonly bans: number
  /** Bytes held across connections: received and unconsumed, queued and unwritten (and the highest seen). */
  readonly inboundBytes: number
  readonly outboundBytes: number
  readonly peakInboundBytes: number
  readonly peakOutboundBytes: number
  /** Untaken peer events per subscriber (bounded by peers, never by events). */
  readonly eventBacklog: ReadonlyArray<number>
}

interface Entry {
  readonly peer: Peer
  readonly scope: Scope.CloseableScope
  /** Inbound: the source address it counts against. */
  readonly source: string | undefined
}

/** An inbound connection in handshake or init. */
interface PendingInbound {
  readonly source: string
  /** Act one arrived: no longer a free half-open connection. */
  actOne: boolean
  fiber: Fiber.RuntimeFiber<void, never> | undefined
}

/**
 * The address limits count per: an IPv4 address, or an IPv6 /64 (one subscriber's usual allocation). IPv4-mapped
 * IPv6 addresses count as IPv4.
 */
export const sourceKey = (address: string | undefined): string => {
  if (address === undefined) return "?"
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]!
  if (!net.isIPv6(address)) return address
  const [head, tail] = address.split("::") as [string, string | undefined]
  const left = head === "" ? [] : head.split(":")
  const right = tail === undefined || tail === "" ? [] : tail.split(":")
  const groups = tail === undefined
    ? left
    : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right]
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, "")).join(":")}::/64`
}

const addressLabel = (a: PeerAddress) => `${toHex(a.nodeId)}@${a.host}:${a.port}`

const describeError = (e: PeerEstablishError): string => {
  switch (e._tag) {
    case "NoiseError":
      return `BOLT 8 ${e.code}: ${e.detail}`
    case "DecodeError":
      return `bad message: ${e.field}: ${e.reason}`
    case "TransportIoError":
    case "InitRejected":
      return e.reason
    case "HandshakeTimeout":
      return `handshake not finished within ${e.timeoutMillis} ms`
    case "InitTimeout":
      return `no init within ${e.timeoutMillis} ms`
    case "NoCommonChain":
      return `no common chain (ours ${e.ours}, theirs ${e.theirs.join(",")})`
    case "UnknownRequiredFeatures":
      return `unknown required features ${e.bits.join(",")}`
    case "RemoteSentError":
      return `remote error: ${e.text}`
  }
}

const compareBytes = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b)

export const make = (
  config: TcpPeerConnectorConfig
): Effect.Effect<TcpPeerConnectorService, TransportIoError, Scope.Scope> =>
  Effect.gen(function* () {
    if (!isPrivateKey(config.nodePrivateKey)) return yield* Effect.dieMessage("nodePrivateKey is not a valid key")
    const ourId = publicKeyOf(config.nodePrivateKey)
    // Connections live in their own child scope, made before the reconnect supervisors: scopes close in reverse,
    // so on shutdown the supervisors stop first and a closing connection is never taken for a dropped one.
    const connectorScope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const peers = new Map<string, Entry>()
    const bans = new Map<string, number>()
    const lock = yield* Effect.makeSemaphore(1)
    const events = yield* Effect.acquireRelease(
      Effect.sync(() => new PeerEventHub()),
      (hub) => Effect.sync(() => hub.close())
    )
    const budget = makeTransportBudget({
      inboundBytes: config.inboundBudgetBytes,
      outboundBytes: config.outboundBudgetBytes
    })
    const background = yield* FiberSet.make()
    const runBackground = yield* FiberSet.runtime(background)<never>()
    const supervisors = yield* FiberMap.make<string>()
    const closeTimeout = config.transport.closeFlushTimeout

    // --- established inbound peers per source address (issue 14)
    let inboundPeers = 0
    const inboundByAddress = new Map<string, number>()
    const countInbound = (source: string | undefined, delta: 1 | -1) => {
      if (source === undefined) return
      inboundPeers += delta
      const n = (inboundByAddress.get(source) ?? 0) + delta
      if (n <= 0) inboundByAddress.delete(source)
      else inboundByAddress.set(source, n)
    }
    const setEntry = (hex: string, entry: Entry) => {
      peers.set(hex, entry)
      countInbound(entry.source, 1)
    }
    const deleteEntry = (hex: string, entry: Entry) => {
      peers.delete(hex)
      countInbound(entry.source, -1)
    }

    // --- refusals: counted by reason, logged as one line per interval
    const refusals = new Map<string, number>()
    const refuse = (reason: string) => {
      refusals.set(reason, (refusals.get(reason) ?? 0) + 1)
    }
    const logRefusals = Effect.suspend(() => {
      if (refusals.size === 0) return Effect.void
      let total = 0
      const parts: Array<string> = []
      for (const [reason, n] of refusals) {
        total += n
        parts.push(`${reason}: ${n}`)
      }
      refusals.clear()
      return Effect.logWarning(
        `inbound connections refused or failed in the last ${Duration.format(config.refusalLogInterval)}: ${total} (${
          parts.join("; ")
        })`
      )
    })
    yield* Effect.forkScoped(Effect.repeat(logRefusals, Schedule.spaced(config.refusalLogInterval)))

    // --- bans: bounded, swept on a schedule (a ban nobody looks up again must not stay forever)
    const bannedUntil = (hex: string) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const until = bans.get(hex)
        if (until === undefined) return Option.none<number>()
        if (until <= now) {
          bans.delete(hex)
          return Option.none<number>()
        }
        return Option.some(until)
      })
    const addBan = (hex: string, untilMillis: number) => {
      if (!bans.has(hex) && bans.size >= config.maxBans) {
        let soonest: string | undefined
        let soonestAt = Infinity
        for (const [h, at] of bans) {
          if (at < soonestAt) {
            soonest = h
            soonestAt = at
          }
        }
        if (soonest !== undefined) bans.delete(soonest)
      }
      bans.set(hex, untilMillis)
    }
    const sweepBans = Effect.map(Clock.currentTimeMillis, (now) => {
      for (const [hex, until] of bans) if (until <= now) bans.delete(hex)
    })
    yield* Effect.forkScoped(Effect.repeat(sweepBans, Schedule.spaced(config.banSweepInterval)))

    /**
     * Duplicate connection to the same node (both sides dialed): both ends must keep the same one, so — as lnd
     * does — keep the connection dialed by the node with the greater id; same direction: the newer one wins.
     */
    const preferIncoming = (existing: Peer, incoming: Peer): boolean => {
      if (existing.direction === incoming.direction) return true
      const preferred = compareBytes(ourId, incoming.nodeId) > 0 ? "outbound" : "inbound"
      return incoming.direction === preferred
    }

    const closeEntry = (entry: Entry, reason: string) =>
      entry.peer.disconnect(reason).pipe(Effect.zipRight(Scope.close(entry.scope, Exit.void)))

    /** Why an inbound peer from `source` cannot be added now, if it cannot (issue 14). */
    const inboundRefusal = (source: string): string | undefined => {
      if (inboundPeers >= config.maxInboundPeers) return "inbound peer limit reached"
      if ((inboundByAddress.get(source) ?? 0) >= config.maxInboundPerAddress) return "too many peers from one address"
      return undefined
    }

    /**
     * Publishes the peer as connected (or drops it), and watches for its end. Events are ordered by `lock`.
     * `source`: an inbound connection's source address, for the inbound limits.
     */
    const register = (
      peer: Peer,
      scope: Scope.CloseableScope,
      source: string | undefined
    ): Effect.Effect<Option.Option<Peer>> =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          const hex = peer.nodeIdHex
          const entry: Entry = { peer, scope, source }
          if (Option.isSome(yield* bannedUntil(hex))) {
            runBackground(closeEntry(entry, "banned"))
            return Option.none()
          }
          const existing = peers.get(hex)
          if (existing !== undefined) {
            if (!preferIncoming(existing.peer, peer)) {
              yield* Effect.logInfo(`duplicate ${peer.direction} connection to ${hex} dropped`)
              runBackground(closeEntry(entry, "duplicate connection"))
              return Option.some(existing.peer)
            }
            deleteEntry(hex, existing)
          }
          const refused = source === undefined ? undefined : inboundRefusal(source)
          if (refused !== undefined) {
            if (existing !== undefined) setEntry(hex, existing)
            refuse(refused)
            runBackground(closeEntry(entry, refused))
            return Option.none()
          }
          if (existing !== undefined) {
            events.publish({ _tag: "Disconnected", nodeIdHex: hex, reason: "replaced by a new connection" })
            runBackground(closeEntry(existing, "replaced by a new connection"))
          }
          setEntry(hex, entry)
          events.publish({ _tag: "Connected", peer })
          runBackground(
            Effect.gen(function* () {
              const d = yield* peer.closed
              yield* lock.withPermits(1)(
                Effect.sync(() => {
                  if (peers.get(hex) !== entry) return
                  deleteEntry(hex, entry)
                  events.publish({ _tag: "Disconnected", nodeIdHex: hex, reason: d.reason })
                })
              )
              yield* Scope.close(scope, Exit.void)
            })
          )
          return Option.some(peer)
        })
      )

    const establishIn = <E>(
      scope: Scope.CloseableScope,
      establish: Effect.Effect<Peer, E, Scope.Scope>,
      source: string | undefined
    ): Effect.Effect<Option.Option<Peer>, E> =>
      Effect.uninterruptibleMask((restore) =>
        restore(Scope.extend(establish, scope)).pipe(
          Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit))),
          Effect.flatMap((peer) => register(peer, scope, source))
        )
      )

    const connect = (address: PeerAddress): Effect.Effect<Peer, PeerConnectError> =>
      Effect.gen(function* () {
        const hex = toHex(address.nodeId)
        const label = addressLabel(address)
        const banned = yield* bannedUntil(hex)
        if (Option.isSome(banned)) {
          return yield* Effect.fail(
            new PeerConnectError({ address: label, reason: `banned until ${new Date(banned.value).toISOString()}` })
          )
        }
        // already connected (either direction): that connection is the one to use
        const existing = peers.get(hex)
        if (existing !== undefined) return existing.peer
        const scope = yield* Scope.fork(connectorScope, ExecutionStrategy.sequential)
        const result = yield* establishIn(
          scope,
          Effect.gen(function* () {
            const channel = yield* dialTcp(address.host, address.port, config.connectTimeout, closeTimeout)
            return yield* establishOutbound(channel, address.nodeId, {
              localPrivateKey: config.nodePrivateKey,
              config: config.transport,
              budget
            })
          }),
          undefined
        ).pipe(Effect.mapError((e) => new PeerConnectError({ address: label, reason: describeError(e) })))
        if (Option.isNone(result)) return yield* Effect.fail(new PeerConnectError({ address: label, reason: "banned" }))
        return result.value
      }).pipe(Effect.annotateLogs({ dial: addressLabel(address) }))

    const admit = (hex: string) =>
      Effect.map(bannedUntil(hex), (b) => (Option.isSome(b) ? Option.some("banned") : Option.none<string>()))

    // --- admission of inbound connections (issue 14)
    const pending = new Map<number, PendingInbound>()
    let nextPendingId = 0
    const pendingFrom = (source: string): number => {
      let n = 0
      for (const p of pending.values()) if (p.source === source) n++
      return n
    }
    /** Closes the oldest connection that has not sent act one, to make room; false when there is none. */
    const evictHalfOpen = (): boolean => {
      for (const [id, p] of pending) {
        if (p.actOne) continue
        pending.delete(id)
        if (p.fiber !== undefined) runBackground(Fiber.interrupt(p.fiber))
        refuse("closed to make room: no act one yet")
        return true
      }
      return false
    }

    const accept = (socket: net.Socket): void => {
      const source = sourceKey(socket.remoteAddress)
      const refusedNow = inboundRefusal(source) ??
        (pendingFrom(source) >= config.maxPendingInboundPerAddress
          ? "too many handshakes from one address"
          : pending.size >= config.maxPendingInbound && !evictHalfOpen()
          ? "too many pending handshakes"
          : undefined)
      if (refusedNow !== undefined) {
        socket.destroy()
        refuse(refusedNow)
        return
      }
      const channel = socketChannel(socket, closeTimeout)
      const id = nextPendingId++
      const slot: PendingInbound = { source, actOne: false, fiber: undefined }
      pending.set(id, slot)
      slot.fiber = runBackground(
        Effect.gen(function* () {
          const scope = yield* Scope.fork(connectorScope, ExecutionStrategy.sequential)
          const result = yield* Effect.either(
            establishIn(
              scope,
              establishInbound(channel, {
                localPrivateKey: config.nodePrivateKey,
                config: config.transport,
                admit,
                budget,
                onActOne: () => {
                  slot.actOne = true
                }
              }),
              source
            )
          )
          if (result._tag === "Left") {
            refuse(`handshake or init failed (${result.left._tag})`)
            yield* Effect.logDebug(`inbound from ${channel.remote} failed: ${describeError(result.left)}`)
          }
        }).pipe(
          Effect.ensuring(
            Effect.sync(() => {
              pending.delete(id)
            })
          ),
          Effect.annotateLogs({ inbound: channel.remote })
        )
      )
    }

    const listenAddress = config.listen === undefined
      ? Option.none()
      : Option.some(yield* listenTcp(config.listen.host, config.listen.port, accept))

    const keepConnected = (address: PeerAddress): Effect.Effect<void> => {
      const hex = toHex(address.nodeId)
      const label = addressLabel(address)
      const stableMillis = Duration.toMillis(Duration.decode(config.reconnect.stableAfter))
      const session = Effect.gen(function* () {
        const banned = yield* bannedUntil(hex)
        const now = yield* Clock.currentTimeMillis
        if (Option.isSome(banned)) yield* Effect.sleep(Duration.millis(banned.value - now))
        const peer = yield* connect(address)
        const start = yield* Clock.currentTimeMillis
        const d = yield* peer.closed
        const lived = (yield* Clock.currentTimeMillis) - start
        if (lived < stableMillis) {
          return yield* Effect.fail(
            new PeerConnectError({ address: label, reason: `connection lasted ${lived} ms (${d.reason})` })
          )
        }
      })
      const supervisor = session.pipe(
        Effect.tapError((e) => Effect.logInfo(`reconnecting to ${label} after backoff: ${e.reason}`)),
        Effect.retry(reconnectSchedule(config.reconnect)),
        Effect.forever
      )
      return Effect.asVoid(FiberMap.run(supervisors, hex, supervisor, { onlyIfMissing: true }))
    }

    const disconnect = (hex: string, reason: string): Effect.Effect<void> =>
      Effect.gen(function* () {
        yield* FiberMap.remove(supervisors, hex)
        const entry = peers.get(hex)
        if (entry !== undefined) yield* entry.peer.disconnect(reason)
      })

    const service: TcpPeerConnectorService = {
      nodeId: ourId,
      listenAddress,
      events: events.subscribe,
      connected: Effect.sync(() => new Map(Array.from(peers, ([hex, e]) => [hex, e.peer] as const))),
      connect,
      keepConnected,
      disconnect,
      ban: (hex, untilMillis, reason) =>
        Effect.gen(function* () {
          addBan(hex, untilMillis)
          yield* Effect.logInfo(`banning ${hex} until ${new Date(untilMillis).toISOString()}: ${reason}`)
          // keep any reconnect supervisor: it waits out the ban before dialing again
          const entry = peers.get(hex)
          if (entry !== undefined) yield* entry.peer.disconnect(`banned: ${reason}`)
        }),
      stats: Effect.sync(() => ({
        pendingInbound: pending.size,
        inboundPeers,
        peers: peers.size,
        bans: bans.size,
        inboundBytes: budget.inbound.used,
        outboundBytes: budget.outbound.used,
        peakInboundBytes: budget.inbound.peak,
        peakOutboundBytes: budget.outbound.peak,
        eventBacklog: events.backlog
      }))
    }
    return service
  }).pipe(Effect.annotateLogs({ component: "PeerConnector" }))

/** The `PeerConnector` over TCP, and the `NodeIdentity` it presents (our node id, the bound listen address). */
export const layer = (config: TcpPeerConnectorConfig): Layer.Layer<PeerConnector | NodeIdentity, TransportIoError> =>
  Layer.scopedContext(
    Effect.map(make(config), (connector) =>
      Context.make(PeerConnector, connector).pipe(
        Context.add(NodeIdentity, { nodeId: connector.nodeId, listenAddress: connector.listenAddress })
      ))
  )
