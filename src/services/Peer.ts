/**
 * A connected Lightning peer after the BOLT 8 handshake and the BOLT 1 `init` exchange.
 *
 * The peer's keepalive (ping/pong) and BOLT 1 `error`/`warning` handling live below this interface; what comes out
 * of `messages` is everything else, in order. A `Peer` lives in the `Scope` that made it: closing the scope closes
 * the socket.
 */
import type { Effect, Stream } from "effect"
import { Data } from "effect"
import type { Init, Message, PublicKey } from "../domain/Messages.js"
import type { PeerFailure } from "./internal/peer/connection.js"

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
  /** Encodes and sends one message; waits while the bounded outbound queue is full. */
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
   * `PeerDisconnected` (its `failure` set) on an abnormal one. The queue behind it is bounded: a slow consumer stops
   * the socket being read.
   */
  readonly messages: Stream.Stream<Message, PeerDisconnected>
  /** Closes the connection (idempotent). */
  readonly disconnect: (reason: string) => Effect.Effect<void>
  /** Completes when the connection is closed, with the reason. */
  readonly closed: Effect.Effect<PeerDisconnected>
}
