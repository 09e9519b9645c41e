/**
 * In-memory peers for tests and simulations, at two depths:
 *
 * - `makePeerPair`: two connected `Peer`s with no transport: each side's `send` lands in the other side's
 *   `messages`, through one bounded queue per direction (a slow reader makes the writer wait, as a socket would).
 *   By default every message is encoded and decoded with the real codec on the way, so two lnsync nodes exchange
 *   exactly what they would over BOLT 8, and `sendRaw` bytes arrive decoded.
 * - `makeDuplexPair` / `makePeerPairInMemory`: the real connection (BOLT 8 handshake, BOLT 1 init, keepalive) over
 *   an in-memory byte channel, for tests of the transport itself driven by `TestClock`.
 *
 * The pair lives in the caller's Scope. Closing it, or `disconnect` on either side, ends both streams and fails
 * every later send with PeerDisconnected. Ping/pong belongs to the Peer layer below `messages` (BOLT 1): pings sent
 * here are answered at once by that layer and never reach a stream, so they are simply dropped.
 */
import { Deferred, Effect, Either, Mailbox, Option, Queue, Stream } from "effect"
import type { Chunk, Scope } from "effect"
import * as Chain from "../domain/Chain.js"
import { decodeMessage, encodeMessage } from "../domain/Codec.js"
import * as Features from "../domain/Features.js"
import { toHex } from "../domain/Hex.js"
import type { Init, Message, PublicKey } from "../domain/Messages.js"
import { generatePrivateKey, publicKeyOf } from "../domain/Noise.js"
import {
  defaultTransportConfig,
  establishInbound,
  establishOutbound,
  type TransportConfig
} from "../services/PeerConnector.js"
import type { ByteChannel, Peer, PeerEstablishError } from "../services/Peer.js"
import { PeerDisconnected, TransportIoError } from "../services/Peer.js"

export interface MemoryPeerSide {
  /** This node's static key (33 bytes); the other side sees it as `nodeId`. */
  readonly nodeId: PublicKey
  /** `init` features; default: gossip_queries and gossip_queries_ex, optional bits (7, 11). */
  readonly features?: Uint8Array
}

export interface PeerPairOptions {
  /** The dialing side. */
  readonly local: MemoryPeerSide
  readonly remote: MemoryPeerSide
  /** Capacity of each direction's queue (default 64 messages). */
  readonly queueSize?: number
  /** Encode and decode every message with the codec (default true). Off: values are passed as they are. */
  readonly wire?: boolean
}

export const defaultFeatures: Uint8Array = Features.fromBits([
  Features.GOSSIP_QUERIES.odd,
  Features.GOSSIP_QUERIES_EX.odd
])

const initFor = (features: Uint8Array): Init => ({
  _tag: "Init",
  globalFeatures: new Uint8Array(0),
  features,
  networks: undefined,
  remoteAddr: undefined,
  unknownTlvs: []
})

/**
 * Returns `[local, remote]`: `local` is the local node's view of the remote node (what the local syncer uses),
 * `remote` the remote node's view of the local one.
 */
export const makePeerPair = (
  options: PeerPairOptions
): Effect.Effect<readonly [Peer, Peer], never, Scope.Scope> =>
  Effect.gen(function* () {
    const capacity = options.queueSize ?? 64
    const wire = options.wire ?? true
    const toRemote = yield* Queue.bounded<Message>(capacity)
    const toLocal = yield* Queue.bounded<Message>(capacity)
    const closed = yield* Deferred.make<string>()
    const close = (reason: string) => Effect.asVoid(Deferred.succeed(closed, reason))
    yield* Effect.addFinalizer(() => close("connection scope closed"))

    const localInit = initFor(options.local.features ?? defaultFeatures)
    const remoteInit = initFor(options.remote.features ?? defaultFeatures)

    const side = (
      selfInit: Init,
      other: MemoryPeerSide,
      otherInit: Init,
      direction: "outbound" | "inbound",
      outbox: Queue.Queue<Message>,
      inbox: Queue.Queue<Message>
    ): Peer => {
      const otherHex = toHex(other.nodeId)
      const disconnected = (reason: string) => new PeerDisconnected({ nodeId: otherHex, reason })
      const whenClosed: Effect.Effect<never, PeerDisconnected> = Effect.flatMap(Deferred.await(closed), (reason) =>
        Effect.fail(disconnected(reason)))
      /** What the other side would decode; a message the codec rejects closes the connection (BOLT 1). */
      const deliver = (message: Message | Uint8Array): Effect.Effect<void, PeerDisconnected> =>
        Effect.gen(function* () {
          if (yield* Deferred.isDone(closed)) {
            return yield* whenClosed
          }
          let value: Message
          if (message instanceof Uint8Array) {
            const decoded = decodeMessage(message)
            if (Either.isLeft(decoded)) {
              yield* close(`peer sent an undecodable message: ${decoded.left.reason}`)
              return yield* whenClosed
            }
            value = decoded.right
          } else if (wire) {
            const decoded = decodeMessage(encodeMessage(message))
            if (Either.isLeft(decoded)) {
              yield* close(`message did not survive the codec: ${decoded.left.reason}`)
              return yield* whenClosed
            }
            value = decoded.right
          } else {
            value = message
          }
          if (value._tag === "Ping" || value._tag === "Pong") {
            return
          }
          // Both sides interruptible: a send made from an uninterruptible region (a syncer's `ensuring`) must not
          // wait for the losing side, which would only end when the connection closes.
          yield* Effect.raceFirst(Effect.interruptible(Queue.offer(outbox, value)), Effect.interruptible(whenClosed))
        })
      return {
        nodeId: other.nodeId,
        nodeIdHex: otherHex,
        direction,
        localInit: selfInit,
        remoteInit: otherInit,
        gossipQueries: Features.supports(otherInit.features, Features.GOSSIP_QUERIES),
        gossipQueriesEx: Features.supports(otherInit.features, Features.GOSSIP_QUERIES_EX),
        send: deliver,
        sendRaw: deliver,
        messages: Stream.fromQueue(inbox).pipe(Stream.interruptWhen(Deferred.await(closed))),
        disconnect: close,
        closed: Effect.map(Deferred.await(closed), disconnected)
      }
    }

    const local = side(localInit, options.remote, remoteInit, "outbound", toRemote, toLocal)
    const remote = side(remoteInit, options.local, localInit, "inbound", toLocal, toRemote)
    return [local, remote] as const
  })

// ---------------------------------------------------------------------------------------------------------------
// The real connection over in-memory byte channels

/**
 * Two connected in-memory channels. Each direction is a bounded mailbox of chunks: a writer suspends when
 * `capacity` chunks are unread, which is how tests observe backpressure without sockets or real time.
 */
export const makeDuplexPair = (capacity = 64): Effect.Effect<readonly [ByteChannel, ByteChannel]> =>
  Effect.gen(function* () {
    const ab = yield* Mailbox.make<Uint8Array>({ capacity, strategy: "suspend" })
    const ba = yield* Mailbox.make<Uint8Array>({ capacity, strategy: "suspend" })
    const end = (name: string, inbox: Mailbox.Mailbox<Uint8Array>, outbox: Mailbox.Mailbox<Uint8Array>) => {
      let pending: Array<Uint8Array> = []
      const channel: ByteChannel = {
        remote: name,
        read: Effect.suspend(() => {
          const next = pending.shift()
          if (next !== undefined) return Effect.succeed(Option.some(next))
          return Effect.map(inbox.takeAll, ([chunk, done]) => {
            pending = Array.from(chunk as Chunk.Chunk<Uint8Array>)
            const first = pending.shift()
            return first === undefined ? (done ? Option.none() : Option.some(new Uint8Array(0))) : Option.some(first)
          })
        }),
        write: (bytes) =>
          Effect.flatMap(
            outbox.offer(bytes.slice()),
            (ok) =>
              ok ? Effect.void : Effect.fail(new TransportIoError({ reason: "write to a closed in-memory channel" }))
          ),
        close: (graceful) =>
          Effect.gen(function* () {
            // graceful: the remote still reads what we wrote, then EOF; otherwise unread bytes are dropped
            if (graceful) yield* outbox.end
            else yield* outbox.shutdown
            yield* inbox.shutdown
            pending = []
          })
      }
      return channel
    }
    return [end("memory:b", ba, ab), end("memory:a", ab, ba)] as const
  })

/**
 * Two real, connected `Peer`s over an in-memory channel (no TCP): `[a, b]` where `a` dialed `b`. For tests of
 * anything that talks to a peer (syncers, the sync manager). Both live in the current scope.
 */
export const makePeerPairInMemory = (options?: {
  readonly configA?: TransportConfig
  readonly configB?: TransportConfig
  readonly keyA?: Uint8Array
  readonly keyB?: Uint8Array
  readonly channelCapacity?: number
}): Effect.Effect<readonly [Peer, Peer], PeerEstablishError, Scope.Scope> =>
  Effect.gen(function* () {
    const keyA = options?.keyA ?? generatePrivateKey()
    const keyB = options?.keyB ?? generatePrivateKey()
    const configA = options?.configA ?? defaultTransportConfig(Chain.BITCOIN_MAINNET)
    const configB = options?.configB ?? configA
    const [ca, cb] = yield* makeDuplexPair(options?.channelCapacity)
    return yield* Effect.all(
      [
        establishOutbound(ca, publicKeyOf(keyB), { localPrivateKey: keyA, config: configA }),
        establishInbound(cb, { localPrivateKey: keyB, config: configB })
      ],
      { concurrency: 2 }
    )
  })
