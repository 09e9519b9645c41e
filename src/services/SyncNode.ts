/**
 * SyncNode: the wiring that makes `SyncManager + GossipSyncerFactory + PeerConnector + GossipPipeline + GraphStore`
 * a gossip-sync node (SM-13):
 *
 * - `Connected` with `gossip_queries` → `initSyncState(peer)` (the syncer then owns the peer's message stream);
 *   without it the peer gets no syncer and no query (BOLT 7), only `gossip_timestamp_filter(0xFFFFFFFF, 0)`, and
 *   the gossip it still sends is drained into `GossipPipeline.submit` here (everything else it sends is ignored).
 * - `Disconnected` → `pruneSyncState` (and the drain, if any, stops).
 * - The pipeline's bans → `PeerConnector.ban` (which disconnects the peer and refuses it, SM-33).
 *
 * Events are handled one at a time, in order, so a peer's init always precedes its prune. Peers already connected
 * when the layer starts are picked up from `PeerConnector.connected` (subscribing first, so none is missed).
 */
import type { Scope } from "effect"
import { Chunk, Effect, FiberMap, Layer, Option, Stream } from "effect"
import { isGossipMessage } from "../domain/Messages.js"
import { GossipPipeline } from "./GossipPipeline.js"
import { GossipSyncerConfig } from "./GossipSyncer.js"
import type { Peer } from "./Peer.js"
import type { PeerEvent } from "./PeerConnector.js"
import { PeerConnector } from "./PeerConnector.js"
import { SyncManager } from "./SyncManager.js"

interface Tracked {
  readonly peer: Peer
  /** Seen in the startup snapshot and not yet confirmed by an event. */
  readonly fromSnapshot: boolean
}

/** Starts the wiring in the current scope; it stops when the scope closes. */
export const make: Effect.Effect<void, never, Scope.Scope | SyncManager | PeerConnector | GossipPipeline> = Effect
  .gen(function* () {
    const manager = yield* SyncManager
    const connector = yield* PeerConnector
    const pipeline = yield* GossipPipeline

    // Subscribe before anything else so no event published from now on is missed.
    const events = yield* connector.events
    const bans = yield* pipeline.bans
    /** Message drains of peers without gossip_queries, keyed by node id hex. */
    const drains = yield* FiberMap.make<string>()
    /** The connection we last started (a syncer or a drain) for each peer; only the event fiber touches it. */
    const tracked = new Map<string, Tracked>()

    /** The chain of our `init` (`networks`), else the syncers' configured chain, if this node has one. */
    const syncerConfig = yield* Effect.serviceOption(GossipSyncerConfig)
    const chainOf = (peer: Peer) =>
      peer.localInit.networks?.[0] ?? Option.getOrUndefined(Option.map(syncerConfig, (c) => c.chainHash))

    /**
     * A peer without gossip_queries: BOLT 7 (gossip_queries assumed since 2024) says to send it
     * `gossip_timestamp_filter(0xFFFFFFFF, 0)` and no query. Its gossip still goes through validation; nothing else
     * is read from it.
     */
    const drain = (peer: Peer) => {
      const chainHash = chainOf(peer)
      const filter = chainHash === undefined
        ? Effect.logDebug("no chain known: no gossip_timestamp_filter sent").pipe(
          Effect.annotateLogs({ peer: peer.nodeIdHex })
        )
        : peer.send({ _tag: "GossipTimestampFilter", chainHash, firstTimestamp: 0xffffffff, timestampRange: 0 })
      return Effect.zipRight(filter, messages(peer)).pipe(
        Effect.catchAll((disconnected) =>
          Effect.logDebug("gossip drain ended").pipe(
            Effect.annotateLogs({ peer: peer.nodeIdHex, reason: disconnected.reason })
          )
        )
      )
    }
    const messages = (peer: Peer) =>
      peer.messages.pipe(
        Stream.filter(isGossipMessage),
        Stream.runForEachChunk((chunk) => pipeline.submit(peer.nodeIdHex, Chunk.toReadonlyArray(chunk)))
      )

    const start = (peer: Peer, fromSnapshot: boolean) =>
      Effect.gen(function* () {
        tracked.set(peer.nodeIdHex, { peer, fromSnapshot })
        if (!peer.gossipQueries) {
          yield* FiberMap.run(drains, peer.nodeIdHex, drain(peer))
          return
        }
        // SM-13: the syncer exists before any of the peer's messages is read.
        yield* manager.initSyncState(peer).pipe(
          Effect.catchTag("SyncManagerExiting", () =>
            Effect.logDebug("sync manager exiting; peer ignored").pipe(Effect.annotateLogs("peer", peer.nodeIdHex)))
        )
      })

    const stop = (nodeIdHex: string) =>
      Effect.gen(function* () {
        tracked.delete(nodeIdHex)
        yield* FiberMap.remove(drains, nodeIdHex)
        yield* manager.pruneSyncState(nodeIdHex)
      })

    const handle = (event: PeerEvent): Effect.Effect<void> =>
      Effect.gen(function* () {
        if (event._tag === "Connected") {
          const known = tracked.get(event.peer.nodeIdHex)
          if (known?.peer === event.peer) {
            // Already started from the snapshot: the event confirms it.
            tracked.set(event.peer.nodeIdHex, { peer: event.peer, fromSnapshot: false })
            return
          }
          // A new connection for a peer whose old one we never saw end (snapshot only): replace its syncer.
          if (known !== undefined) yield* stop(event.peer.nodeIdHex)
          yield* start(event.peer, false)
          return
        }
        const known = tracked.get(event.nodeIdHex)
        if (known?.fromSnapshot === true && (yield* connector.connected).get(event.nodeIdHex) === known.peer) {
          // The snapshot's connection is still up: this is the end of an older connection, not of this one.
          return
        }
        yield* stop(event.nodeIdHex)
      })

    yield* Effect.forkScoped(
      Effect.gen(function* () {
        for (const peer of (yield* connector.connected).values()) yield* start(peer, true)
        yield* Stream.runForEach(events, handle)
      })
    )
    yield* Effect.forkScoped(
      Stream.runForEach(bans, (ban) =>
        Effect.logInfo("banning peer").pipe(
          Effect.annotateLogs({ peer: ban.nodeIdHex, reason: ban.reason }),
          Effect.zipRight(connector.ban(ban.nodeIdHex, ban.untilMillis, ban.reason))
        ))
    )
  })

/** The wiring as a layer: add it on top of the services to get a running node. */
export const layer: Layer.Layer<never, never, SyncManager | PeerConnector | GossipPipeline> = Layer.scopedDiscard(make)
