/**
 * A BOLT 1 peer connection over any duplex byte channel: the BOLT 8 handshake, the `init` exchange, keepalive
 * (ping/pong), `error`/`warning` handling, and the bounded inbound/outbound queues behind the `Peer` interface.
 *
 * Nothing here knows about TCP: `ByteChannel` (Peer.ts) is the whole I/O surface, so the same code runs over node
 * sockets (src/layers/net/TcpPeerConnector.ts) and over in-memory pairs (src/testing/MemoryPeer.ts, tests driven by
 * `TestClock`). The errors it raises are the Peer service's own (Peer.ts).
 *
 * Fibers of one connection (all forked into the scope that established it):
 *   reader    — decrypts frames, answers pings (at most one pong queued; a ping flood disconnects), records pongs,
 *               logs error/warning, queues everything else in the inbound queue, bounded in bytes and charged to the
 *               connector's shared budget (budget.ts); while it is full the channel is not read (backpressure).
 *   writer    — drains the control queue (pings/pongs, never blocks the reader) before the outbound queue (bounded
 *               in bytes too), encrypts in batches and writes; a full channel blocks it, a full outbound queue blocks
 *               `send`, and a `send` blocked past `sendTimeout` with nothing written disconnects the peer.
 *   keepalive — pings on an interval and ends the connection when a pong is overdue.
 *   watcher   — waits for the disconnect decision, then stops the others and closes the channel.
 */
import { Chunk, Deferred, Duration, Effect, Either, Fiber, Mailbox, Option, Random, Scope, Stream } from "effect"
import { u16 } from "../../../domain/Bytes.js"
import * as Chain from "../../../domain/Chain.js"
import { DecodeError, decodeOwnedBare, decodeOwnedMessage, encodeMessage } from "../../../domain/Codec.js"
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
  NoiseError,
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
  PeerMisbehaving,
  PongTimeout,
  RemoteSentError,
  TransportIoError,
  UnknownRequiredFeatures
} from "../../Peer.js"
import { ByteQueue, makeTransportBudget, type TransportBudget, waitAny } from "./budget.js"

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
  /**
   * Inbound bytes held for a slow consumer before we stop reading the socket (issue 14). Small messages are held
   * decoded and charged at a bound of their decoded size, large ones as received bytes (see `chargeOf`).
   */
  readonly inboundQueueBytes: number
  /** Outbound messages held before `send` waits. */
  readonly outboundQueueSize: number
  /** Outbound bytes held (queued, or handed to the socket and not yet taken by it) before `send` waits. */
  readonly outboundQueueBytes: number
  /** Bytes each queue may hold whatever the connector's shared budget says (so no peer starves the others). */
  readonly queueReserveBytes: number
  /**
   * A `send` that has waited this long with nothing written to the peer meanwhile disconnects it: a peer that does
   * not read our answers must not keep them, or the fibers producing them, forever.
   */
  readonly sendTimeout: Duration.DurationInput
  /** BOLT 8 inbound: act one (50 bytes, sent at once by any initiator) must arrive within this. */
  readonly actOneTimeout: Duration.DurationInput
  /**
   * BOLT 1 ("significantly in excess of one ping per 30 seconds"): pings that follow another ping with nothing in
   * between, or arrive while our pong to the previous one is still unsent, allowed per `pingFloodWindow`; one more
   * disconnects. A flow-control ping after a run of gossip (LDK) never counts.
   */
  readonly pingFloodLimit: number
  readonly pingFloodWindow: Duration.DurationInput
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
  inboundQueueBytes: 1024 * 1024,
  outboundQueueSize: 512,
  outboundQueueBytes: 256 * 1024,
  queueReserveBytes: 128 * 1024,
  sendTimeout: Duration.seconds(30),
  actOneTimeout: Duration.seconds(5),
  pingFloodLimit: 10,
  pingFloodWindow: Duration.seconds(30),
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

/** Inbound handshake extras (issue 14). */
export interface InboundHandshakeOptions {
  /** Act one (50 bytes, sent at once by any initiator) must arrive within this; default: the handshake timeout. */
  readonly actOneTimeout?: Duration.DurationInput | undefined
  /** Called once act one has arrived: the connection is no longer a half-open one that costs nothing to keep. */
  readonly onActOne?: (() => void) | undefined
}

/**
 * BOLT 8 as responder: the remote's static key is learned from act three. A short act-one deadline (issue 14): a
 * connection that opens and sends nothing, or a few bytes, gives its handshake slot back quickly.
 */
export const handshakeInbound = (
  channel: ByteChannel,
  localPrivate: Uint8Array,
  timeout: Duration.DurationInput,
  ephemeralPrivate: Uint8Array = generatePrivateKey(),
  options: InboundHandshakeOptions = {}
): Effect.Effect<HandshakeResult, NoiseError | TransportIoError | HandshakeTimeout> =>
  withHandshakeTimeout(
    Effect.gen(function* () {
      const reader = new ExactReader(channel)
      const actOne = yield* withHandshakeTimeout(reader.readExactly(ACT_ONE_SIZE), options.actOneTimeout ?? timeout)
      options.onActOne?.()
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
  /**
   * The connector's shared byte budgets (issue 14); without one the connection gets budgets of its own, so only its
   * per-connection limits apply.
   */
  readonly budget?: TransportBudget
  /** Inbound: called once act one has arrived (see `handshakeInbound`). */
  readonly onActOne?: () => void
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
      options.ephemeralPrivateKey,
      { actOneTimeout: options.config.actOneTimeout, onActOne: options.onActOne }
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
        const decoded = decodeOwnedMessage(yield* readMessage(channel, decoder))
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

    return yield* runPeer(
      { channel, session, decoder, direction, nodeId, nodeIdHex, localInit, remoteInit, config },
      options.budget
    )
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

/** Pongs written at most ahead of the socket: one of the largest size and a few small ones. */
const MAX_QUEUED_PONGS = 4
const MAX_QUEUED_PONG_BYTES = 66_000
const PONG_TYPE = 19

/** Messages up to this size wait in the inbound queue decoded; larger ones wait as the bytes received. */
export const HOLD_DECODED_MAX_BYTES = 512
/** Object overhead charged per held message, whatever its size (a flood of tiny messages is not free). */
export const HELD_MESSAGE_OVERHEAD = 256
/** How much of the inbound queue one pull of `messages` decodes at most (plus one message). */
const TAKE_BYTES = 64 * 1024

/**
 * What a received message costs while it waits in the inbound queue (issue 14). A small message is held decoded;
 * its object graph is bounded by a small multiple of its size (an address or scid list of a 512-byte message).
 * A large one (a 64 KB `query_short_channel_ids`, a `reply_channel_range`, which decode to several times their
 * size, or more with zlib) is held as its bytes and decoded only when the consumer takes it.
 */
export const chargeOf = (wireLength: number): number =>
  wireLength <= HOLD_DECODED_MAX_BYTES ? 4 * wireLength + HELD_MESSAGE_OVERHEAD : wireLength + HELD_MESSAGE_OVERHEAD

/** A queued inbound message: decoded, or its bytes (decoded again when taken; they decoded once already). */
type Held = Message | Uint8Array

const runPeer = (args: RunArgs, sharedBudget: TransportBudget | undefined): Effect.Effect<Peer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { channel, session, decoder, config, nodeIdHex } = args
    const scope = yield* Effect.scope
    const clock = yield* Effect.clock
    const now = () => clock.unsafeCurrentTimeMillis()
    const budget = sharedBudget ?? makeTransportBudget({ inboundBytes: Infinity, outboundBytes: Infinity })
    const closed = yield* Deferred.make<PeerDisconnected>()
    const closeDone = yield* Deferred.make<void>()
    const inbound = new ByteQueue<Held>(
      { maxItems: config.inboundQueueSize, maxBytes: config.inboundQueueBytes, reserveBytes: config.queueReserveBytes },
      budget.inbound
    )
    const outbound = new ByteQueue<Uint8Array>(
      {
        maxItems: config.outboundQueueSize,
        maxBytes: config.outboundQueueBytes,
        reserveBytes: config.queueReserveBytes
      },
      budget.outbound
    )
    // pings/pongs/warnings: never block the reader; at most one pong is ever queued (see `onPing`)
    const control = yield* Mailbox.make<Uint8Array>({ capacity: 8, strategy: "sliding" })
    const wake = yield* Mailbox.make<void>({ capacity: 1, strategy: "sliding" })
    let graceful = false
    let isClosed = false
    /** How `messages` ends once the queue is drained: undefined while open. */
    let ending: PeerDisconnected | undefined = undefined
    let endedWithFailure = false
    let outboundEnded = false
    let readerPaused = false
    let awaitingPong: number | undefined = undefined
    // BOLT 1 ping accounting (see TransportConfig.pingFloodLimit)
    /** Pongs queued and not yet written, and their bytes: bounded, so pongs never pile up. */
    let pongsQueued = 0
    let pongBytesQueued = 0
    let lastWasPing = false
    let pingWindowStart = now()
    let excessPings = 0
    const pingWindowMillis = millis(config.pingFloodWindow)
    // the send deadline runs from the last write that made progress, or from when the queue last became non-empty
    let lastWriteProgress = now()
    const sendTimeoutMillis = millis(config.sendTimeout)

    /** Decide the disconnect once; the watcher does the closing. Safe to call from any fiber, including ours. */
    const shutdown = (reason: string, failure: PeerFailure | undefined, flush: boolean) =>
      Effect.gen(function* () {
        const d = new PeerDisconnected({ nodeId: nodeIdHex, reason, failure })
        if (!(yield* Deferred.succeed(closed, d))) return
        isClosed = true
        graceful = flush
        ending = d
        endedWithFailure = failure !== undefined
        if (failure === undefined) yield* Effect.logInfo(`peer disconnected: ${reason}`)
        else yield* Effect.logWarning(`peer disconnected: ${reason}`)
        inbound.filled.wakeAll()
        inbound.space.wakeAll()
        outboundEnded = true
        if (!flush) outbound.clear()
        outbound.space.wakeAll()
        wake.unsafeOffer(undefined)
      }).pipe(Effect.uninterruptible)

    const queueControl = (wire: Uint8Array) => {
      control.unsafeOffer(wire)
      wake.unsafeOffer(undefined)
    }

    /**
     * BOLT 1: answer with num_pong_bytes zero bytes unless it asks for 65532 or more. Pongs not yet written are
     * bounded (MAX_QUEUED_PONGS, MAX_QUEUED_PONG_BYTES): beyond that a ping goes unanswered, so pongs never pile up.
     * A ping right behind another one, or while a pong is still unsent, is "in excess"; more than
     * `pingFloodLimit` of them in a window disconnect.
     */
    const onPing = (numPongBytes: number): Effect.Effect<void> | undefined => {
      const t = now()
      if (t - pingWindowStart >= pingWindowMillis) {
        pingWindowStart = t
        excessPings = 0
      }
      const excess = lastWasPing || pongsQueued > 0
      lastWasPing = true
      if (excess && ++excessPings > config.pingFloodLimit) {
        const detail = `${excessPings} pings in ${
          Math.round((t - pingWindowStart) / 1000)
        } s with no other traffic between them or while our pong was unsent`
        return shutdown(`ping flood: ${detail}`, new PeerMisbehaving({ rule: "ping-flood", detail }), false)
      }
      const wire = numPongBytes <= MAX_PONG_BYTES_ANSWERED ? pongWire(numPongBytes) : undefined
      if (
        wire !== undefined && pongsQueued < MAX_QUEUED_PONGS && pongBytesQueued + wire.length <= MAX_QUEUED_PONG_BYTES
      ) {
        pongsQueued++
        pongBytesQueued += wire.length
        queueControl(wire)
      }
      return undefined
    }

    /** Waits until the inbound queue takes `held` (the reader does not read the channel meanwhile). */
    const offerWaiting = (held: Held, charge: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (isClosed) return Effect.void
        if (inbound.fits(charge)) {
          inbound.push(held, charge)
          return Effect.void
        }
        return Effect.zipRight(
          waitAny([inbound.space, budget.inbound.freed], () => isClosed || inbound.fits(charge)),
          offerWaiting(held, charge)
        )
      })

    // --- reader
    /** What to do with one decoded message: `undefined` when it was dealt with on the spot (the common case). */
    const handle = (message: Message, wire: Uint8Array): Effect.Effect<void> | undefined => {
      if (message._tag === "Ping") return onPing(message.numPongBytes)
      lastWasPing = false
      switch (message._tag) {
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
        default: {
          const charge = chargeOf(wire.length)
          const held: Held = wire.length <= HOLD_DECODED_MAX_BYTES ? message : wire
          if (inbound.fits(charge)) {
            inbound.push(held, charge)
            return undefined
          }
          // full: stop reading the channel until the consumer makes room (backpressure to the socket)
          readerPaused = true
          return offerWaiting(held, charge).pipe(
            Effect.ensuring(
              Effect.sync(() => {
                readerPaused = false
              })
            )
          )
        }
      }
    }

    const onError = (message: ErrorMessage): Effect.Effect<void> => {
      const text = describeRemote(message)
      // BOLT 1: all-zero channel_id means every channel, i.e. the connection; we have no channels, so an error
      // naming one is about something we do not have and is only logged
      if (isAllZero(message.channelId)) {
        const failure = new RemoteSentError({
          channelId: toHex(message.channelId),
          text: sanitizeRemoteText(message.data)
        })
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
      // the bare forms (no Either around each frame and each message): two objects fewer per message
      for (;;) {
        const wire = decoder.nextBare()
        if (wire === undefined) return undefined
        if (wire instanceof NoiseError) return shutdown(`transport: ${wire.detail}`, wire, false)
        const decoded = decodeOwnedBare(wire)
        if (decoded instanceof DecodeError) {
          // BOLT 1: unknown even type / malformed message — warn the peer, then fail the connection
          queueControl(encodeMessage(warningFor(`${decoded.field}: ${decoded.reason}`)))
          return shutdown(
            `bad message (type ${decoded.messageType}): ${decoded.field}: ${decoded.reason}`,
            decoded,
            true
          )
        }
        const effect = handle(decoded, wire)
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
    /** Bytes the writer took from `outbound` and has not written yet (given back if it is stopped mid-batch). */
    let unwritten = 0
    const writer: Effect.Effect<void> = Effect.gen(function* () {
      for (;;) {
        const woke = yield* Effect.either(wake.take)
        if (Either.isLeft(woke)) return
        for (;;) {
          const ctrl = Chunk.toReadonlyArray(yield* control.clear)
          const data = outbound.take(Infinity, false)
          if (ctrl.length === 0 && data.items.length === 0) break
          const batch: Array<Uint8Array> = [...ctrl, ...data.items]
          unwritten = data.bytes
          // bounded batches keep one write (and its buffer) small; each batch's bytes are given back once written
          for (let i = 0; i < batch.length;) {
            let bytes = 0
            let dataBytes = 0
            let j = i
            while (j < batch.length && (j === i || bytes + batch[j].length < 65536)) {
              if (j >= ctrl.length) dataBytes += batch[j].length
              bytes += batch[j++].length
            }
            const result = yield* Effect.either(writeFrames(channel, session.sender, batch.slice(i, j)))
            if (Either.isLeft(result)) {
              outbound.release(unwritten)
              unwritten = 0
              return yield* shutdown(result.left.reason, result.left, false)
            }
            lastWriteProgress = now()
            for (let k = i; k < j && k < ctrl.length; k++) {
              if (u16(ctrl[k], 0) === PONG_TYPE) {
                pongsQueued--
                pongBytesQueued -= ctrl[k].length
              }
            }
            outbound.release(dataBytes)
            unwritten -= dataBytes
            i = j
          }
        }
        // a graceful disconnect ends `outbound`; once it is drained the writer is done
        if (outboundEnded && outbound.length === 0) return
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
        outbound.release(unwritten)
        unwritten = 0
        outbound.clear()
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
    // runs before the scope interrupts the fibers above: close like a local disconnect, without a flush; what is
    // still queued inbound stays readable but no longer counts against the shared budget
    yield* Effect.addFinalizer(() =>
      shutdown("connection scope closed", undefined, false).pipe(
        Effect.zipRight(closeOnce),
        Effect.zipRight(Effect.sync(() => inbound.detach()))
      )
    )

    /** The peer has not taken anything for `sendTimeout` while we wait to send: disconnect it (issue 14). */
    const notReading = (waitedFor: number) => {
      const detail = `${outbound.bytes} bytes unsent, nothing written for ${waitedFor} ms`
      return shutdown(`peer not reading: ${detail}`, new PeerMisbehaving({ rule: "not-reading", detail }), false)
    }

    const failClosed: Effect.Effect<never, PeerDisconnected> = Effect.flatMap(Deferred.await(closed), Effect.fail)

    const enqueue = (wire: Uint8Array) => {
      if (outbound.bytes === 0) lastWriteProgress = now()
      outbound.push(wire, wire.length)
    }

    /** Waits for room in the outbound queue (or the shared budget), up to the send deadline. */
    const sendWaiting = (wire: Uint8Array): Effect.Effect<void, PeerDisconnected> =>
      Effect.suspend(() => {
        if (isClosed || outboundEnded) return failClosed
        if (outbound.fits(wire.length)) {
          enqueue(wire)
          wake.unsafeOffer(undefined)
          return Effect.void
        }
        const waited = now() - lastWriteProgress
        if (waited >= sendTimeoutMillis) return Effect.zipRight(notReading(waited), failClosed)
        return waitAny([outbound.space, budget.outbound.freed], () => isClosed || outbound.fits(wire.length)).pipe(
          Effect.timeoutOption(Duration.millis(sendTimeoutMillis - waited)),
          Effect.zipRight(sendWaiting(wire))
        )
      })

    const checkSize = (wire: Uint8Array) =>
      wire.length < MIN_MESSAGE_SIZE || wire.length > MAX_MESSAGE_SIZE
        ? Effect.dieMessage(`cannot send a ${wire.length}-byte message (BOLT 8 allows 2..65535)`)
        : undefined

    const sendRaw = (wire: Uint8Array): Effect.Effect<void, PeerDisconnected> =>
      Effect.suspend(() => {
        const bad = checkSize(wire)
        if (bad !== undefined) return bad
        // room in the queue (the common case): no suspension, no fiber step
        if (!isClosed && !outboundEnded && outbound.fits(wire.length)) {
          enqueue(wire)
          wake.unsafeOffer(undefined)
          return Effect.void
        }
        return sendWaiting(wire)
      })

    /** What fits goes into the queue at once (one wake-up for the writer); a full queue is waited out one message at a time. */
    const sendRawAll = (wires: ReadonlyArray<Uint8Array>): Effect.Effect<void, PeerDisconnected> => {
      const from = (start: number): Effect.Effect<void, PeerDisconnected> =>
        Effect.suspend(() => {
          let i = start
          while (i < wires.length && !isClosed && !outboundEnded) {
            const wire = wires[i]
            if (checkSize(wire) !== undefined) break // sendRaw dies on it
            if (!outbound.fits(wire.length)) break
            enqueue(wire)
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

    /** One pull of `messages`: up to TAKE_BYTES of the queue, large messages decoded now; waits when empty. */
    const pull: Effect.Effect<Chunk.Chunk<Message>, Option.Option<PeerDisconnected>> = Effect.suspend(() => {
      if (inbound.length > 0) {
        const { items } = inbound.take(TAKE_BYTES, true)
        const out: Array<Message> = new Array(items.length)
        for (let i = 0; i < items.length; i++) {
          const h = items[i]
          if (!(h instanceof Uint8Array)) {
            out[i] = h
            continue
          }
          const decoded = decodeOwnedMessage(h)
          // it decoded when it arrived; the codec is pure
          if (Either.isLeft(decoded)) {
            return Effect.dieMessage(`queued message no longer decodes: ${decoded.left.reason}`)
          }
          out[i] = decoded.right
        }
        return Effect.succeed(Chunk.unsafeFromArray(out))
      }
      if (ending !== undefined) return Effect.fail(endedWithFailure ? Option.some(ending) : Option.none())
      return Effect.zipRight(inbound.filled.waitUntil(() => inbound.length > 0 || ending !== undefined), pull)
    })

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
      messages: Stream.repeatEffectChunkOption(pull),
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
