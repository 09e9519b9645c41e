/**
 * A connected Lightning peer after the BOLT 8 handshake and the BOLT 1 `init` exchange.
 *
 * The peer's keepalive (ping/pong) and BOLT 1 `error`/`warning` handling live below this interface; what comes out
 * of `messages` is everything else, in order. A `Peer` lives in the `Scope` that made it: closing the scope closes
 * the socket.
 *
 * This module holds the peer's errors and the byte channel it runs over; the connection machinery (handshake, init,
 * keepalive) is in `internal/peerConnector/connection.ts`, which imports from here and never the other way round.
 */
import type { Effect, Option, Stream } from "effect"
import { Data } from "effect"
import type { DecodeError } from "../domain/Codec.js"
import type { Init, Message, PublicKey } from "../domain/Messages.js"
import type { NoiseError } from "../domain/Noise.js"

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** The byte channel failed (socket error, reset, write after close, EOF where bytes were required). */
export class TransportIoError extends Data.TaggedError("TransportIoError")<{ readonly reason: string }> {}

/** BOLT 8: the three acts did not complete in time. */
export class HandshakeTimeout extends Data.TaggedError("HandshakeTimeout")<{ readonly timeoutMillis: number }> {}

/** BOLT 1: the remote's `init` did not arrive in time. */
export class InitTimeout extends Data.TaggedError("InitTimeout")<{ readonly timeoutMillis: number }> {}

/** BOLT 1: the remote's `networks` has no chain in common with ours. */
export class NoCommonChain extends Data.TaggedError("NoCommonChain")<{
  readonly ours: string
  readonly theirs: ReadonlyArray<string>
}> {}

/** BOLT 1: the remote requires (even bit) features we do not know. */
export class UnknownRequiredFeatures extends Data.TaggedError("UnknownRequiredFeatures")<{
  readonly bits: ReadonlyArray<number>
}> {}

/** BOLT 1: the init exchange broke a rule (first message not `init`), or we refused the remote (ban). */
export class InitRejected extends Data.TaggedError("InitRejected")<{ readonly reason: string }> {}

/** BOLT 1: the remote sent an `error` for the whole connection (all-zero channel id). */
export class RemoteSentError extends Data.TaggedError("RemoteSentError")<{
  readonly channelId: string
  readonly text: string
}> {}

/** BOLT 1 keepalive: no pong of the requested length within the timeout. */
export class PongTimeout extends Data.TaggedError("PongTimeout")<{ readonly timeoutMillis: number }> {}

/**
 * The peer broke a resource rule (issue 14): it pings far more often than BOLT 1 allows, or it stopped reading what
 * we send it for longer than the send deadline. `rule` names which; `detail` is the figure, for the log.
 */
export class PeerMisbehaving extends Data.TaggedError("PeerMisbehaving")<{
  readonly rule: "ping-flood" | "not-reading"
  readonly detail: string
}> {}

/** Why establishing a connection failed. */
export type PeerEstablishError =
  | NoiseError
  | DecodeError
  | TransportIoError
  | HandshakeTimeout
  | InitTimeout
  | NoCommonChain
  | UnknownRequiredFeatures
  | InitRejected
  | RemoteSentError

/** Why an established connection ended abnormally (carried by `PeerDisconnected.failure`). */
export type PeerFailure =
  | NoiseError
  | DecodeError
  | TransportIoError
  | RemoteSentError
  | PongTimeout
  | PeerMisbehaving

// ---------------------------------------------------------------------------------------------------------------
// Byte channel

/** A duplex byte stream: one reader, one writer. */
export interface ByteChannel {
  /** The next chunk; `None` once the remote has closed its side. */
  readonly read: Effect.Effect<Option.Option<Uint8Array>, TransportIoError>
  /** Writes all bytes; suspends while the channel's send buffer is full. */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, TransportIoError>
  /** Closes both directions. `graceful`: flush what was written first (bounded); otherwise drop it. Idempotent. */
  readonly close: (graceful: boolean) => Effect.Effect<void>
  /** Remote address for logs. */
  readonly remote: string
}

// ---------------------------------------------------------------------------------------------------------------
// The peer

/** The connection is gone (remote closed, local close, transport failure); `reason` says which. */
export class PeerDisconnected extends Data.TaggedError("PeerDisconnected")<{
  readonly nodeId: string
  readonly reason: string
  /** The typed protocol/transport error when the connection ended abnormally (bad MAC, pong timeout, …). */
  readonly failure?: PeerFailure | undefined
}> {}

export interface Peer {
  /** Remote static key (33 bytes) and its lower-case hex, the key peers are tracked by everywhere. */
  readonly nodeId: PublicKey
  readonly nodeIdHex: string
  /** Which side dialed. */
  readonly direction: "outbound" | "inbound"
  readonly localInit: Init
  readonly remoteInit: Init
  /** The remote signalled `gossip_queries` (bits 6/7); without it we do not run a syncer with this peer. */
  readonly gossipQueries: boolean
  /** The remote signalled `gossip_queries_ex` (bits 10/11): extended queries (timestamps, checksums). */
  readonly gossipQueriesEx: boolean
  /**
   * Encodes and sends one message; waits while the outbound queue (bounded in bytes) is full. A peer that reads
   * nothing for the transport's `sendTimeout` while we wait is disconnected (`PeerMisbehaving` "not-reading").
   */
  readonly send: (message: Message) => Effect.Effect<void, PeerDisconnected>
  /** Sends an already-encoded wire message (type included), e.g. stored signed gossip served as-is. */
  readonly sendRaw: (wire: Uint8Array) => Effect.Effect<void, PeerDisconnected>
  /**
   * `sendRaw` for many messages, in order, in one effect (waits while the outbound queue is full). Optional: a peer
   * without it is sent to one `sendRaw` at a time.
   */
  readonly sendRawAll?: ((wires: ReadonlyArray<Uint8Array>) => Effect.Effect<void, PeerDisconnected>) | undefined
  /**
   * Inbound messages except ping/pong. One consumer. Ends when the peer disconnects (after the messages already
   * queued): it simply ends on a clean close (remote EOF at a frame boundary, local disconnect) and fails with
   * `PeerDisconnected` (its `failure` set) on an abnormal one. The queue behind it is bounded in bytes: a slow
   * consumer stops the socket being read. Large messages wait there as received bytes and are decoded when taken.
   */
  readonly messages: Stream.Stream<Message, PeerDisconnected>
  /** Closes the connection (idempotent). */
  readonly disconnect: (reason: string) => Effect.Effect<void>
  /** Completes when the connection is closed, with the reason. */
  readonly closed: Effect.Effect<PeerDisconnected>
}
