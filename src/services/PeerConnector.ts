/**
 * PeerConnector: owns every connection (dialed and accepted), reconnects dialed peers with capped exponential
 * backoff, and publishes connect/disconnect events. The SyncManager's wiring turns those events into
 * InitSyncState / PruneSyncState.
 *
 * A connector turns byte channels into `Peer`s with the connection machinery re-exported here (BOLT 8 handshake,
 * BOLT 1 init and keepalive; `internal/peerConnector/connection.ts`), whatever carries the bytes: TCP
 * (`TcpPeerConnector`, src/layers/net/), or memory in tests.
 */
import type { Effect, Option, Scope, Stream } from "effect"
import { Context, Data } from "effect"
import type { PublicKey } from "../domain/Messages.js"
import type { Peer } from "./Peer.js"

export {
  checkRemoteInit,
  DEFAULT_LOCAL_FEATURES,
  defaultTransportConfig,
  type EstablishOptions,
  establishInbound,
  establishOutbound,
  handshakeInbound,
  type HandshakeResult,
  handshakeOutbound,
  MAX_PONG_BYTES_ANSWERED,
  sanitizeRemoteText,
  type TransportConfig,
  chargeOf,
  type InboundHandshakeOptions
} from "./internal/peerConnector/connection.js"
export {
  ByteBudget,
  ByteQueue,
  makeTransportBudget,
  type QueueLimits,
  type TransportBudget
} from "./internal/peerConnector/budget.js"
export { PeerEventHub } from "./internal/peerConnector/events.js"

/** `<node_id hex>@<host>:<port>`, the form lnd and CLN print. */
export interface PeerAddress {
  readonly nodeId: PublicKey
  readonly host: string
  readonly port: number
}

export class PeerConnectError extends Data.TaggedError("PeerConnectError")<{
  readonly address: string
  readonly reason: string
}> {}

export type PeerEvent =
  | { readonly _tag: "Connected"; readonly peer: Peer }
  | { readonly _tag: "Disconnected"; readonly nodeIdHex: string; readonly reason: string }

export interface PeerConnectorService {
  /**
   * Connect/disconnect events. Each subscription sees every event published after it was made, in order; a
   * `Connected` for a peer is always followed by its `Disconnected` before another `Connected` for it. Lossless
   * however far behind the subscriber falls (issue 14): per peer only the untaken events are kept, latest state
   * winning: a connection that ended and was replaced before it was taken may be skipped, a live one never is.
   */
  readonly events: Effect.Effect<Stream.Stream<PeerEvent>, never, Scope.Scope>
  /** Peers connected now, keyed by node id hex. */
  readonly connected: Effect.Effect<ReadonlyMap<string, Peer>>
  /** Dial once (no reconnects); the connection is owned by the connector. */
  readonly connect: (address: PeerAddress) => Effect.Effect<Peer, PeerConnectError>
  /** Dial and keep the connection up: reconnect with capped exponential backoff until the connector closes. */
  readonly keepConnected: (address: PeerAddress) => Effect.Effect<void>
  /** Close the connection to a peer, if any (and stop reconnecting to it until `keepConnected` is called again). */
  readonly disconnect: (nodeIdHex: string, reason: string) => Effect.Effect<void>
  /** Refuse this peer until `untilMillis` (epoch ms): disconnect it now, reject its inbound connections, skip dials. */
  readonly ban: (nodeIdHex: string, untilMillis: number, reason: string) => Effect.Effect<void>
}

export class PeerConnector extends Context.Tag("lnsync/PeerConnector")<PeerConnector, PeerConnectorService>() {}

/**
 * Who we are on the network: our node id and, when listening, the bound address (port 0 resolved). Provided by the
 * connector, which owns our key and our listener (`TcpPeerConnector.layer`).
 */
export interface NodeIdentityService {
  readonly nodeId: PublicKey
  readonly listenAddress: Option.Option<{ readonly host: string; readonly port: number }>
}

export class NodeIdentity extends Context.Tag("lnsync/NodeIdentity")<NodeIdentity, NodeIdentityService>() {}
