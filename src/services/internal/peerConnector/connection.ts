/**
 * A BOLT 1 peer connection over any duplex byte channel: the BOLT 8 handshake, the `init` exchange, keepalive
 * (ping/pong), `error`/`warning` handling, and the bounded inbound/outbound queues behind the `Peer` interface.
 *
 * Nothing here knows about TCP: `ByteChannel` (Peer.ts) is the whole I/O surface, so the same code runs over node
 * sockets (src/layers/net/TcpPeerConnector.ts) and over in-memory pairs (src/testing/MemoryPeer.ts, tests driven by
 * `TestClock`). The errors it raises are the Peer service's own (Peer.ts).
 *
 * Fibers of one connection (all forked into the scope that established it):
 *   reader    — decrypts frames, answers pings, records pongs, logs error/warning, offers everything else to the
 *               bounded inbound mailbox; while that mailbox is full it does not read the channel (backpressure).
 *   writer    — drains the control queue (pings/pongs, sliding, never blocks the reader) before the bounded outbound
 *               queue, encrypts in batches and writes; a full channel blocks it, a full outbound queue blocks `send`.
 *   keepalive — pings on an interval and ends the connection when a pong is overdue.
 *   watcher   — waits for the disconnect decision, then stops the others and closes the channel.
 */
import { Deferred, Duration, Effect, Either, Fiber, Mailbox, Option, Random, Scope } from "effect"
import * as Chain from "../../../domain/Chain.js"
import { decodeMessage, encodeMessage } from "../../../domain/Codec.js"
import * as Features from "../../../domain/Features.js"
import { toHex } from "../../../domain/Hex.js"
import type { ChainHash, ErrorMessage, Init, Message, PublicKey, Warning } from "../../../domain/Messages.js"
import {
  ACT_ONE_SIZE,
  ACT_THREE_SIZE,
  ACT_TWO_SIZE,
  type CipherState,
  encryptFrameInto,
  FrameDecoder,
  frameSize,
  generatePrivateKey,
  initiatorActOne,
  initiatorActTwo,
  MAX_MESSAGE_SIZE,
  MIN_MESSAGE_SIZE,
  type NoiseError,
  type NoiseSession,
  responderActOne,
  responderActThree
} from "../../../domain/Noise.js"
import {
  type ByteChannel,
  HandshakeTimeout,
  InitRejected,
  InitTimeout,
  NoCommonChain,
  type Peer,
  PeerDisconnected,
  type PeerEstablishError,
  type PeerFailure,
  PongTimeout,
  RemoteSentError,
  TransportIoError,
  UnknownRequiredFeatures
} from "../../Peer.js"

/** Reads exactly `n` bytes (fewer only at EOF), keeping whatever follows for the next read. */
class ExactReader {
  private buffered: Uint8Array = new Uint8Array(0)
  constructor(private readonly channel: ByteChannel) {}

  get leftover(): Uint8Array {
    return this.buffered
  }

  readExactly(n: number): Effect.Effect<Uint8Array, TransportIoError> {
    return Effect.gen(this, function* () {
      while (this.buffered.length < n) {
        const chunk = yield* this.channel.read
        if (Option.isNone(chunk)) break
        this.buffered = Buffer.concat([this.buffered, chunk.value])
      }
      const out = this.buffered.subarray(0, Math.min(n, this.buffered.length))
      this.buffered = this.buffered.subarray(out.length)
      return out
    })
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration

export interface TransportConfig {
  /** Our chain; sent in `networks` and required in the remote's `networks` when it sends one (BOLT 1). */
  readonly chain: ChainHash
  /** Our `init` features. */
  readonly localFeatures: Uint8Array
  /** Even feature bits we accept from a remote on top of the BOLT 9 names in `Features.NAMED`. */
  readonly extraKnownFeatureBits: ReadonlyArray<number>
  /** BOLT 8 handshake deadline (all three acts). */
  readonly handshakeTimeout: Duration.DurationInput
  /** Deadline for the remote's `init` after the handshake. */
  readonly initTimeout: Duration.DurationInput
  /** Send a `ping` this often (lnd: 1 minute). */
  readonly pingInterval: Duration.DurationInput
  /** Disconnect when the `pong` is this late (lnd: 30 seconds). */
  readonly pongTimeout: Duration.DurationInput
  /** Inbound messages held for a slow consumer before we stop reading the socket. */
  readonly inboundQueueSize: number
  /** Outbound messages held before `send` waits. */
  readonly outboundQueueSize: number
  /** How long a graceful `disconnect` may spend flushing queued messages. */
  readonly closeFlushTimeout: Duration.DurationInput
}

/**
 * Our default `init` features: we serve and query gossip (gossip_queries, gossip_queries_ex, optional bits) and
 * set the optional bits real nodes expect of any peer (lnd refuses peers without data_loss_protect; var_onion_optin
 * and static_remotekey are assumed by current BOLT 9). lnsync never opens channels, so none is required.
 */
export const DEFAULT_LOCAL_FEATURES: Uint8Array = Features.fromBits([
  Features.OPTION_DATA_LOSS_PROTECT.odd,
  Features.GOSSIP_QUERIES.odd,
  Features.VAR_ONION_OPTIN.odd,
  Features.GOSSIP_QUERIES_EX.odd,
  Features.OPTION_STATIC_REMOTEKEY.odd
])

export const defaultTransportConfig = (chain: ChainHash): TransportConfig => ({
  chain,
  localFeatures: DEFAULT_LOCAL_FEATURES,
  extraKnownFeatureBits: [],
  handshakeTimeout: Duration.seconds(10),
  initTimeout: Duration.seconds(10),
  pingInterval: Duration.minutes(1),
  pongTimeout: Duration.seconds(30),
  inboundQueueSize: 512,
  outboundQueueSize: 512,
  closeFlushTimeout: Duration.seconds(2)
})

const millis = (d: Duration.DurationInput): number => Duration.toMillis(Duration.decode(d))

// ---------------------------------------------------------------------------------------------------------------
// Handshake

export interface HandshakeResult {
  readonly session: NoiseSession
  /** Bytes read past act three (an eager initiator may send its first frame right behind it). */
  readonly leftover: Uint8Array
}

const noiseResult = <A>(r: Either.Either<A, NoiseError>): Effect.Effect<A, NoiseError> =>
  Either.isRight(r) ? Effect.succeed(r.right) : Effect.fail(r.left)

const withHandshakeTimeout = <A, E, R>(effect: Effect.Effect<A, E, R>, timeout: Duration.DurationInput) =>
  Effect.timeoutFail(effect, {
    duration: timeout,
    onTimeout: () => new HandshakeTimeout({ timeoutMillis: millis(timeout) })
  })

/**
 * BOLT 8 as initiator: we know the remote's static key; a remote holding a different key cannot answer act one,
 * so the failure surfaces while reading act two (EOF → ACT2_READ_FAILED, or ACT2_BAD_TAG).
 */
export const handshakeOutbound = (
  channel: ByteChannel,
  localPrivate: Uint8Array,
  remoteStatic: PublicKey,
  timeout: Duration.DurationInput,
  ephemeralPrivate: Uint8Array = generatePrivateKey()
): Effect.Effect<HandshakeResult, NoiseError | TransportIoError | HandshakeTimeout> =>
  withHandshakeTimeout(
    Effect.gen(function* () {
      const reader = new ExactReader(channel)
      const { actOne, state } = initiatorActOne(localPrivate, remoteStatic, ephemeralPrivate)
      yield* channel.write(actOne)
      const actTwo = yield* reader.readExactly(ACT_TWO_SIZE)
      const { actThree, session } = yield* noiseResult(initiatorActTwo(state, actTwo))
      yield* channel.write(actThree)
      return { session, leftover: reader.leftover }
    }),
    timeout
  )

/** BOLT 8 as responder: the remote's static key is learned from act three. */
export const handshakeInbound = (
  channel: ByteChannel,
  localPrivate: Uint8Array,
  timeout: Duration.DurationInput,
  ephemeralPrivate: Uint8Array = generatePrivateKey()
): Effect.Effect<HandshakeResult, NoiseError | TransportIoError | HandshakeTimeout> =>
  withHandshakeTimeout(
    Effect.gen(function* () {
      const reader = new ExactReader(channel)
      const actOne = yield* reader.readExactly(ACT_ONE_SIZE)
      const { actTwo, state } = yield* noiseResult(responderActOne(localPrivate, actOne, ephemeralPrivate))
      yield* channel.write(actTwo)
      const actThree = yield* reader.readExactly(ACT_THREE_SIZE)
      const session = yield* noiseResult(responderActThree(state, actThree))
      return { session, leftover: reader.leftover }
    }),
    timeout
  )

// ---------------------------------------------------------------------------------------------------------------
// BOLT 1 helpers

/** BOLT 1: pings asking for this many pong bytes or more are ignored (they would not fit a message). */
export const MAX_PONG_BYTES_ANSWERED = 65531

/** Printable ASCII only, bounded: `error`/`warning` data is remote-controlled text that ends up in our logs. */
export const sanitizeRemoteText = (data: Uint8Array, limit = 300): string => {
  let out = ""
  for (let i = 0; i < data.length && out.length < limit; i++) {
    const c = data[i]
    out += c >= 0x20 && c <= 0x7e ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, "0")}`
  }
  return data.length > 0 && out.length >= limit ? `${out.slice(0, limit)}…` : out
}

const isAllZero = (bytes: Uint8Array): boolean => bytes.every((b) => b === 0)

const makeInit = (config: TransportConfig): Init => ({
  _tag: "Init",
  globalFeatures: new Uint8Array(0),
  features: config.localFeatures,
  networks: [config.chain],
  remoteAddr: undefined,
  unknownTlvs: []
})

/** BOLT 1 `init` receive rules: required features we know, and a chain in common. */
export const checkRemoteInit = (
  remote: Init,
  config: TransportConfig
): Either.Either<Init, NoCommonChain | UnknownRequiredFeatures> => {
  // BOLT 9: the effective feature set is globalfeatures | features
  const features = Features.union(remote.globalFeatures, remote.features)
  const unknown = Features.unknownEvenBits(features, [...Features.NAMED, ...config.extraKnownFeatureBits])
  if (unknown.length > 0) return Either.left(new UnknownRequiredFeatures({ bits: unknown }))
  // BOLT 1: networks absent = any chain; present without ours = no common chain
  if (remote.networks !== undefined && !remote.networks.some((c) => Chain.sameChain(c, config.chain))) {
    return Either.left(
      new NoCommonChain({ ours: Chain.describe(config.chain), theirs: remote.networks.map(Chain.describe) })
    )
  }
  return Either.right(remote)
}

// ---------------------------------------------------------------------------------------------------------------
// Establishing a peer

export interface EstablishOptions {
  readonly localPrivateKey: Uint8Array
  readonly config: TransportConfig
  /**
   * Called once the remote's node id is known (after act three inbound, before `init`); `Some(reason)` refuses the
   * connection with `InitRejected` (bans).
   */
  readonly admit?: (nodeIdHex: string) => Effect.Effect<Option.Option<string>>
  /** Deterministic ephemeral key (tests only). */
  readonly ephemeralPrivateKey?: Uint8Array
}

/**
 * Dials over `channel`: handshake expecting `remoteNodeId`, then `init`. The returned `Peer` lives in the current
 * `Scope`; closing it closes the channel.
 */
export const establishOutbound = (
  channel: ByteChannel,
  remoteNodeId: PublicKey,
  options: EstablishOptions
): Effect.Effect<Peer, PeerEstablishError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* Effect.addFinalizer(() => channel.close(false))
    const hs = yield* handshakeOutbound(
      channel,
      options.localPrivateKey,
      remoteNodeId,
      options.config.handshakeTimeout,
      options.ephemeralPrivateKey
    )
    return yield* startPeer(channel, hs, "outbound", options)
  }).pipe(Effect.onError(() => channel.close(false)))

/** Accepts over `channel`: handshake as responder (learning the remote id), admission check, then `init`. */
export const establishInbound = (
  channel: ByteChannel,
  options: EstablishOptions
): Effect.Effect<Peer, PeerEstablishError, Scope.Scope> =>
  Effect.gen(function* () {
    yield* Effect.addFinalizer(() => channel.close(false))
    const hs = yield* handshakeInbound(
      channel,
      options.localPrivateKey,
      options.config.handshakeTimeout,
      options.ephemeralPrivateKey
    )
    return yield* startPeer(channel, hs, "inbound", options)
  }).pipe(Effect.onError(() => channel.close(false)))

/** Result of pulling one frame during `init`. */
const readMessage = (
  channel: ByteChannel,
  decoder: FrameDecoder
): Effect.Effect<Uint8Array, NoiseError | TransportIoError> =>
  Effect.gen(function* () {
    for (;;) {
      const next = decoder.next()
      if (Either.isLeft(next)) return yield* Effect.fail(next.left)
      if (next.right !== undefined) return next.right
      const chunk = yield* channel.read
      if (Option.isNone(chunk)) {
        return yield* Effect.fail(new TransportIoError({ reason: "connection closed before init" }))
      }
      decoder.push(chunk.value)
    }
  })

const writeFrames = (channel: ByteChannel, sender: CipherState, messages: ReadonlyArray<Uint8Array>) => {
  let total = 0
  for (const m of messages) total += frameSize(m.length)
  const out = new Uint8Array(total)
  let offset = 0
  for (const m of messages) {
    // lengths were checked when the message was queued, so encryption cannot fail here
    offset += Either.getOrThrow(encryptFrameInto(sender, m, out, offset))
  }
  return channel.write(out)
}

const startPeer = (
  channel: ByteChannel,
  hs: HandshakeResult,
  direction: "outbound" | "inbound",
  options: EstablishOptions
): Effect.Effect<Peer, PeerEstablishError, Scope.Scope> =>
  Effect.gen(function* () {
    const { config } = options
    const { session } = hs
    const nodeId = session.remoteStatic
    const nodeIdHex = toHex(nodeId)
    if (options.admit !== undefined) {
      const refused = yield* options.admit(nodeIdHex)
      if (Option.isSome(refused)) return yield* Effect.fail(new InitRejected({ reason: refused.value }))
    }
    const decoder = new FrameDecoder(session.receiver)
    decoder.push(hs.leftover)
    const localInit = makeInit(config)

    // BOLT 1: init is the first message each way; we send ours, then wait for theirs
    const remoteInit = yield* Effect.gen(function* () {
      yield* writeFrames(channel, session.sender, [encodeMessage(localInit)])
      for (;;) {
        const decoded = decodeMessage(yield* readMessage(channel, decoder))
        if (Either.isLeft(decoded)) return yield* Effect.fail(decoded.left)
        const message = decoded.right
        if (message._tag === "Init") return message
        if (message._tag === "Warning") {
          yield* Effect.logWarning(`peer warning before init: ${describeRemote(message)}`)
          continue
        }
        if (message._tag === "Error") {
          const text = sanitizeRemoteText(message.data)
          yield* Effect.logWarning(`peer error before init: ${describeRemote(message)}`)
          return yield* Effect.fail(new RemoteSentError({ channelId: toHex(message.channelId), text }))
        }
        return yield* Effect.fail(new InitRejected({ reason: `first message was ${message._tag}, not init` }))
      }
    }).pipe(
      Effect.timeoutFail({
        duration: config.initTimeout,
        onTimeout: () => new InitTimeout({ timeoutMillis: millis(config.initTimeout) })
      })
    )
    yield* Either.match(checkRemoteInit(remoteInit, config), { onLeft: Effect.fail, onRight: () => Effect.void })

    return yield* runPeer({ channel, session, decoder, direction, nodeId, nodeIdHex, localInit, remoteInit, config })
  }).pipe(Effect.annotateLogs({ peer: toHex(hs.session.remoteStatic).slice(0, 16), remote: channel.remote }))

// ---------------------------------------------------------------------------------------------------------------
// Running peer

interface RunArgs {
  readonly channel: ByteChannel
  readonly session: NoiseSession
  readonly decoder: FrameDecoder
  readonly direction: "outbound" | "inbound"
  readonly nodeId: PublicKey
  readonly nodeIdHex: string
  readonly localInit: Init
  readonly remoteInit: Init
  readonly config: TransportConfig
}

const pingWire = (numPongBytes: number): Uint8Array =>
  encodeMessage({ _tag: "Ping", numPongBytes, ignored: new Uint8Array(0) })
const pongWire = (bytes: number): Uint8Array => encodeMessage({ _tag: "Pong", ignored: new Uint8Array(bytes) })

const runPeer = (args: RunArgs): Effect.Effect<Peer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { channel, session, decoder, config, nodeIdHex } = args
    const scope = yield* Effect.scope
    const closed = yield* Deferred.make<PeerDisconnected>()
    const closeDone = yield* Deferred.make<void>()
    const inbound = yield* Mailbox.make<Message, PeerDisconnected>({
      capacity: config.inboundQueueSize,
      strategy: "suspend"
    })
    const outbound = yield* Mailbox.make<Uint8Array>({ capacity: config.outboundQueueSize, strategy: "suspend" })
    // pings/pongs: never block the reader; a remote flooding pings gets only the latest few answered
    const control = yield* Mailbox.make<Uint8Array>({ capacity: 8, strategy: "sliding" })
    const wake = yield* Mailbox.make<void>({ capacity: 1, strategy: "sliding" })
    let graceful = false
    let isClosed = false
    let readerPaused = false
    let awaitingPong: number | undefined = undefined

    /** Decide the disconnect once; the watcher does the closing. Safe to call from any fiber, including ours. */
    const shutdown = (reason: string, failure: PeerFailure | undefined, flush: boolean) =>
      Effect.gen(function* () {
        const d = new PeerDisconnected({ nodeId: nodeIdHex, reason, failure })
        if (!(yield* Deferred.succeed(closed, d))) return
        isClosed = true
        graceful = flush
        if (failure === undefined) {
          yield* Effect.logInfo(`peer disconnected: ${reason}`)
          yield* inbound.end
        } else {
          yield* Effect.logWarning(`peer disconnected: ${reason}`)
          yield* inbound.fail(d)
        }
        if (flush) yield* outbound.end
        else yield* outbound.shutdown
        wake.unsafeOffer(undefined)
      }).pipe(Effect.uninterruptible)

    const queueControl = (wire: Uint8Array) => {
      control.unsafeOffer(wire)
      wake.unsafeOffer(undefined)
    }

    // --- reader
    /** What to do with one decoded message: `undefined` when it was dealt with on the spot (the common case). */
    const handle = (message: Message): Effect.Effect<void> | undefined => {
      switch (message._tag) {
        case "Ping":
          // BOLT 1: answer with num_pong_bytes zero bytes unless it asks for 65532 or more
          if (message.numPongBytes <= MAX_PONG_BYTES_ANSWERED) queueControl(pongWire(message.numPongBytes))
          return undefined
        case "Pong":
          // BOLT 1: a pong answers our ping only with exactly the byteslen we asked for
          if (awaitingPong === undefined || message.ignored.length !== awaitingPong) {
            return Effect.logDebug(`unsolicited or mis-sized pong (${message.ignored.length} bytes) ignored`)
          }
          awaitingPong = undefined
          return undefined
        case "Error":
          return onError(message)
        case "Warning":
          // BOLT 1: a warning is informational; log it and carry on
          return Effect.logWarning(`peer warning: ${describeRemote(message)}`)
        case "Init":
          return Effect.logDebug("second init ignored")
        default:
          if (inbound.unsafeOffer(message)) return undefined
          // full: stop reading the channel until the consumer makes room (backpressure to the socket)
          readerPaused = true
          return inbound.offer(message).pipe(
            Effect.ensuring(
              Effect.sync(() => {
                readerPaused = false
              })
            )
          )
      }
    }

    const onError = (message: ErrorMessage): Effect.Effect<void> => {
      const text = describeRemote(message)
      // BOLT 1: all-zero channel_id means every channel, i.e. the connection; we have no channels, so an error
      // naming one is about something we do not have and is only logged
      if (isAllZero(message.channelId)) {
        const failure = new RemoteSentError({ channelId: toHex(message.channelId), text: sanitizeRemoteText(message.data) })
        return shutdown(`peer sent error: ${text}`, failure, false)
      }
      return Effect.logWarning(`peer error for unknown channel ignored: ${text}`)
    }

    /**
     * Decrypts, decodes and delivers the whole frames already received, in a plain loop: a socket chunk holds
     * hundreds of gossip messages, and a fiber step per message was most of the reader's cost. Returns the first
     * thing that needs an effect (a full inbound queue, a log line, a disconnect), or `undefined` once the decoder
     * needs more bytes.
     */
    const pump = (): Effect.Effect<void> | undefined => {
      for (;;) {
        const next = decoder.next()
        if (Either.isLeft(next)) return shutdown(`transport: ${next.left.detail}`, next.left, false)
        if (next.right === undefined) return undefined
        const decoded = decodeMessage(next.right)
        if (Either.isLeft(decoded)) {
          const e = decoded.left
          // BOLT 1: unknown even type / malformed message — warn the peer, then fail the connection
          queueControl(encodeMessage(warningFor(`${e.field}: ${e.reason}`)))
          return shutdown(`bad message (type ${e.messageType}): ${e.field}: ${e.reason}`, e, true)
        }
        const effect = handle(decoded.right)
        if (effect !== undefined) return effect
      }
    }

    const reader: Effect.Effect<void> = Effect.gen(function* () {
      for (;;) {
        for (;;) {
          const effect = pump()
          if (effect === undefined) break
          yield* effect
          // a decode failure, a remote error or a local disconnect ended the connection
          if (isClosed) return
        }
        const chunk = yield* Effect.either(channel.read)
        if (Either.isLeft(chunk)) return yield* shutdown(chunk.left.reason, chunk.left, false)
        if (Option.isNone(chunk.right)) {
          return decoder.midFrame
            ? yield* shutdown(
                "remote closed mid-message",
                new TransportIoError({ reason: `connection closed with ${decoder.buffered} bytes of a frame` }),
                false
              )
            : yield* shutdown("remote closed the connection", undefined, false)
        }
        decoder.push(chunk.right.value)
      }
    })

    // --- writer
    const writer: Effect.Effect<void> = Effect.gen(function* () {
      for (;;) {
        const woke = yield* Effect.either(wake.take)
        if (Either.isLeft(woke)) return
        for (;;) {
          const ctrl = yield* control.clear
          const data = yield* outbound.clear
          if (ctrl.length === 0 && data.length === 0) break
          const batch: Array<Uint8Array> = [...ctrl, ...data]
          // bounded batches keep one write (and its buffer) small
          for (let i = 0; i < batch.length; ) {
            let bytes = 0
            let j = i
            while (j < batch.length && (j === i || bytes + batch[j].length < 65536)) bytes += batch[j++].length
            const result = yield* Effect.either(writeFrames(channel, session.sender, batch.slice(i, j)))
            if (Either.isLeft(result)) return yield* shutdown(result.left.reason, result.left, false)
            i = j
          }
        }
        // a graceful disconnect ends `outbound`; once it is drained the writer is done
        if (Option.isNone(outbound.unsafeSize())) return
      }
    })

    // --- keepalive: a ping every `pingInterval` (or every `pongTimeout`, if that is longer)
    const pongTimeoutMillis = millis(config.pongTimeout)
    const afterCheckMillis = millis(config.pingInterval) - pongTimeoutMillis
    const keepalive: Effect.Effect<void> = Effect.gen(function* () {
      yield* Effect.sleep(config.pingInterval)
      for (;;) {
        const numPongBytes = yield* Random.nextIntBetween(0, 64)
        awaitingPong = numPongBytes
        queueControl(pingWire(numPongBytes))
        yield* Effect.sleep(config.pongTimeout)
        // a reader parked on our own full inbound queue cannot see the pong: that lateness is ours, not theirs
        while (awaitingPong !== undefined && readerPaused) yield* Effect.sleep(config.pongTimeout)
        if (awaitingPong !== undefined) {
          return yield* shutdown(
            `no pong within ${pongTimeoutMillis} ms`,
            new PongTimeout({ timeoutMillis: pongTimeoutMillis }),
            false
          )
        }
        if (afterCheckMillis > 0) yield* Effect.sleep(Duration.millis(afterCheckMillis))
      }
    })

    const readerFiber = yield* Effect.forkIn(reader, scope)
    const writerFiber = yield* Effect.forkIn(writer, scope)
    const keepaliveFiber = yield* Effect.forkIn(keepalive, scope)
    /** Stop the fibers and close the channel, once; later callers wait for the first. */
    let closing = false
    const closeOnce = Effect.suspend(() => {
      if (closing) return Deferred.await(closeDone)
      closing = true
      return Effect.gen(function* () {
        yield* Fiber.interruptAll([readerFiber, writerFiber, keepaliveFiber])
        yield* control.shutdown
        yield* wake.shutdown
        yield* channel.close(graceful)
        yield* Deferred.succeed(closeDone, undefined)
      })
    }).pipe(Effect.uninterruptible)
    const watcher = Effect.gen(function* () {
      yield* Deferred.await(closed)
      if (graceful) {
        yield* Fiber.await(writerFiber).pipe(Effect.timeout(config.closeFlushTimeout), Effect.ignore)
      }
      yield* closeOnce
    })
    yield* Effect.forkIn(watcher, scope)
    // runs before the scope interrupts the fibers above: close like a local disconnect, without a flush
    yield* Effect.addFinalizer(() =>
      shutdown("connection scope closed", undefined, false).pipe(Effect.zipRight(closeOnce))
    )

    const sendRaw = (wire: Uint8Array): Effect.Effect<void, PeerDisconnected> =>
      Effect.suspend(() => {
        if (wire.length < MIN_MESSAGE_SIZE || wire.length > MAX_MESSAGE_SIZE) {
          return Effect.dieMessage(`cannot send a ${wire.length}-byte message (BOLT 8 allows 2..65535)`)
        }
        // room in the queue (the common case): no suspension, no fiber step
        if (outbound.unsafeOffer(wire)) {
          wake.unsafeOffer(undefined)
          return Effect.void
        }
        return Effect.flatMap(outbound.offer(wire), (accepted) => {
          if (accepted) {
            wake.unsafeOffer(undefined)
            return Effect.void
          }
          return Effect.flatMap(Deferred.await(closed), Effect.fail)
        })
      })

    /** What fits goes into the queue at once (one wake-up for the writer); a full queue is waited out one message at a time. */
    const sendRawAll = (wires: ReadonlyArray<Uint8Array>): Effect.Effect<void, PeerDisconnected> => {
      const from = (start: number): Effect.Effect<void, PeerDisconnected> =>
        Effect.suspend(() => {
          let i = start
          while (i < wires.length) {
            const wire = wires[i]
            if (wire.length < MIN_MESSAGE_SIZE || wire.length > MAX_MESSAGE_SIZE) break // sendRaw dies on it
            if (!outbound.unsafeOffer(wire)) break
            i++
          }
          if (i > start) wake.unsafeOffer(undefined)
          if (i === wires.length) return Effect.void
          return Effect.zipRight(sendRaw(wires[i]), from(i + 1))
        })
      return from(0)
    }

    const send = (message: Message): Effect.Effect<void, PeerDisconnected> =>
      Effect.flatMap(
        Effect.try({ try: () => encodeMessage(message), catch: (e) => e }).pipe(Effect.orDie),
        sendRaw
      )

    const features = Features.union(args.remoteInit.globalFeatures, args.remoteInit.features)
    const peer: Peer = {
      nodeId: args.nodeId,
      nodeIdHex,
      direction: args.direction,
      localInit: args.localInit,
      remoteInit: args.remoteInit,
      gossipQueries: Features.supports(features, Features.GOSSIP_QUERIES),
      gossipQueriesEx: Features.supports(features, Features.GOSSIP_QUERIES_EX),
      send,
      sendRaw,
      sendRawAll,
      messages: Mailbox.toStream(inbound),
      disconnect: (reason) =>
        shutdown(`local: ${reason}`, undefined, true).pipe(Effect.zipRight(Deferred.await(closeDone))),
      closed: Deferred.await(closed)
    }
    yield* Effect.logInfo(
      `peer connected (${args.direction}); gossip_queries=${peer.gossipQueries} gossip_queries_ex=${peer.gossipQueriesEx}`
    )
    return peer
  })

const describeRemote = (m: ErrorMessage | Warning): string => {
  const channel = isAllZero(m.channelId) ? "connection" : `channel ${toHex(m.channelId)}`
  return `[${channel}] ${sanitizeRemoteText(m.data)}`
}

const warningFor = (text: string): Warning => ({
  _tag: "Warning",
  channelId: new Uint8Array(32),
  data: new TextEncoder().encode(text.slice(0, 200)),
  unknownTlvs: []
})
