/**
 * SyncManager: lnd's `discovery/sync_manager.go` (SM-n in docs/spec/sync-manager.md) as a scoped service.
 *
 * It decides, for every connected peer that speaks `gossip_queries`, whether its GossipSyncer is ActiveSync (we
 * take live gossip from it), PassiveSync or PinnedSync; it runs the initial historical sync and replaces it when
 * its peer goes away or fails; it rotates one active syncer every 20 minutes and forces a full resync with a random
 * peer every hour.
 *
 * The machinery lives in `internal/syncManager/` (start at `make.ts`), over one context record (`context.ts`):
 * - One handler fiber (`handler.ts`) takes commands from one queue (the seed's `syncerHandler`), so syncer
 *   creation/removal, ticks and the initial-sync signal are totally ordered (SM-9). Callers of
 *   `initSyncState`/`pruneSyncState` wait for an ack (the seed's `doneChan`).
 * - The active/passive/pinned maps live in a `Ref` (SM-4): only the handler writes it, lookups read snapshots.
 * - Each syncer's `run` is a fiber in a `FiberMap` keyed by node id hex: a prune interrupts exactly that peer's.
 * - The rotation ticker starts with the manager; the historical ticker is (re)started on every assignment of the
 *   initial historical syncer (SM-8, SM-17). Both are `Schedule`-driven fibers that only enqueue ticks
 *   (`tickers.ts`); the initial historical sync and its hand-overs are in `initialSync.ts`.
 * - Random choices go through Effect's `Random` (SM-27), so a seeded `Random` makes them reproducible
 *   (`selection.ts`).
 *
 * Beyond lnd (issue 13, "every sync finishes"; lnd only ever picks syncers in `chansSynced`, so a syncer left in
 * `syncerIdle` by a failed sync (GS-17) was never used again on that connection, and a stalled initial sync waited
 * for the hourly tick):
 * - When the initial historical sync fails (the synced signal fails with HistoricalSyncFailed: reply timeout or a
 *   lying peer, GS-51 / lnd#11084), another candidate is chosen at once instead of waiting for the next tick.
 * - A syncer whose historical sync failed (whoever started it) is eligible again once its per-peer backoff has
 *   elapsed (`SyncRetryConfig`, `retry.ts`: 5 s doubling to 5 min, reset by a completed sync and by a new
 *   connection); the SM-27 "in chansSynced" test becomes "in chansSynced, or idle after a failure whose backoff
 *   elapsed", for promotion, rotation and historical ticks alike.
 * - An initial historical sync owed but unassigned (its syncer failed, left or refused, and nobody could take it)
 *   is assigned as soon as a syncer becomes eligible: a peer connects, a sync settles, a backoff elapses. lnd would
 *   wait for the next historical tick, or forever when the ticker never started (SM-8, SM-16).
 * - Every syncer's syncs are watched through its state (GS-2): `syncRecords` says, per connected peer, how many
 *   historical syncs completed, failed and why, and whether it completed the initial one — the account the
 *   Reconciler and `--exit-when-synced` give.
 */
import type { Effect, Option, Stream } from "effect"
import { Context, Layer } from "effect"
import type { GossipSyncer, GossipSyncerFactory, SyncType } from "./GossipSyncer.js"
import { makeSyncManager } from "./internal/syncManager/make.js"
import type { SyncManagerExiting } from "./internal/syncManager/errors.js"
import type { Peer } from "./Peer.js"
import type { SyncManagerConfig } from "./SyncManagerConfig.js"

export { SyncManagerExiting } from "./internal/syncManager/errors.js"
export { makeSyncManager } from "./internal/syncManager/make.js"
export { retryBackoff, SyncRetryConfig } from "./internal/syncManager/retry.js"
export type { SyncRetryPolicy } from "./internal/syncManager/retry.js"

/** What the manager saw of one peer's historical syncs on its current connection (beyond lnd). */
export interface PeerSyncRecord {
  readonly nodeIdHex: string
  readonly syncer: GossipSyncer
  /** Historical syncs this syncer completed (reached `chansSynced` from a syncing state, GS-20). */
  readonly completed: number
  /** Consecutive failed historical syncs (ended in `syncerIdle`, GS-17); a completion resets it. */
  readonly failures: number
  /** Why the last one failed: the syncer's `lastFailure` (GS-17), whoever started the sync. */
  readonly lastFailure: Option.Option<string>
  /** While `failures > 0`: when (epoch ms) the syncer becomes eligible again. */
  readonly retryAtMillis: Option.Option<number>
  /** This syncer completed the initial historical sync (SM-19) on this connection. */
  readonly completedInitial: boolean
  /**
   * The manager has seen a sync of this syncer start and not yet end. With the syncer idle and this false, the
   * record has caught up with the syncer's last sync.
   */
  readonly syncing: boolean
}

/** One syncer as the manager tracks it; `syncType` is the map it is in (SM-4). */
export interface SyncerSnapshot {
  readonly nodeIdHex: string
  readonly syncType: SyncType
  readonly syncer: GossipSyncer
}

export interface SyncManagerService {
  /**
   * SM-11/SM-13: a peer with `gossip_queries` connected. Returns once its syncer is registered and started (before
   * any historical sync it gets, SM-16). A second call for a known peer is a no-op (SM-14).
   */
  readonly initSyncState: (peer: Peer) => Effect.Effect<void, SyncManagerExiting>
  /** SM-12/SM-23: the peer disconnected; stops its syncer. Returns silently when the manager is stopping. */
  readonly pruneSyncState: (nodeIdHex: string) => Effect.Effect<void>
  /** SM-4: this peer's syncer (looked up in passive, then active, then pinned). */
  readonly syncer: (nodeIdHex: string) => Effect.Effect<Option.Option<GossipSyncer>>
  /** Every syncer with the role the manager gave it (a consistent snapshot, SM-9). */
  readonly syncers: Effect.Effect<ReadonlyArray<SyncerSnapshot>>
  /**
   * SM-32: the syncers whose outbound filter gates live gossip, keyed by node id hex. Unlike lnd master this
   * includes pinned syncers: a pinned peer has a timestamp filter like any other syncer peer, so it gets gossip
   * through that filter rather than as unfiltered broadcast.
   */
  readonly gossipSyncers: Effect.Effect<ReadonlyMap<string, GossipSyncer>>
  /** SM-6: true once any syncer completed a channel-range sync; never goes back. */
  readonly isGraphSynced: Effect.Effect<boolean>
  /** Completes when the graph is first synced (SM-6). */
  readonly awaitGraphSynced: Effect.Effect<void>
  /** Per connected peer (node id hex), what its syncs did on this connection (beyond lnd; a snapshot, SM-9). */
  readonly syncRecords: Effect.Effect<ReadonlyMap<string, PeerSyncRecord>>
  /** The current `syncRecords`, then every change. */
  readonly syncRecordChanges: Stream.Stream<ReadonlyMap<string, PeerSyncRecord>>
  /**
   * SM-10: idempotent. Stops the handler and the tickers, then every syncer (active, passive and pinned) and waits
   * for their fibers to end. Closing the layer's scope calls it.
   */
  readonly stop: Effect.Effect<void>
}

export class SyncManager extends Context.Tag("lnsync/SyncManager")<SyncManager, SyncManagerService>() {
  /** The live manager: building it starts its fibers; closing its scope stops them and every syncer (SM-8/10). */
  static readonly layer: Layer.Layer<SyncManager, never, GossipSyncerFactory | SyncManagerConfig> = Layer.scoped(
    SyncManager,
    makeSyncManager
  )
}

/** Effect's naming: `make` builds the service in a scope, `layer` is `SyncManager.layer`. */
export const make = makeSyncManager
export const layer = SyncManager.layer
