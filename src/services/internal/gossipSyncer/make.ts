/**
 * Assembles one GossipSyncer (GS-n, docs/spec/gossip-syncer.md): a context record (context.ts) and five fibers over
 * it in one scope that ends when the peer's message stream ends or when `run` is interrupted (GS-4):
 * router.ts (peer messages → pipeline / machine / reply handler / filter queue), machine.ts (historical sync via
 * historicalSync.ts + scidQueries.ts, and the manager's transitions), replies.ts (the peer's queries),
 * filter.ts (the peer's gossip_timestamp_filter and its backlog) and forwarder.ts (live gossip, GS-46). The calls
 * the manager makes are in handle.ts; everything sent goes through outbound.ts. Every queue between them is bounded.
 *
 * Port decisions (beyond lnd), each marked where implemented:
 * - GS-14: replies starting before / ending after our query are clamped (BOLT 7 allows them); LDK's one-block-short
 *   non-final replies are accepted as long as coverage stays contiguous and SCIDs stay ascending (rules.ts).
 * - GS-15: running out of reply budget before the range is covered fails the sync (rules.ts).
 * - GS-17: every failure releases per-query state, moves the syncer to `syncerIdle` (a failed sync is not "synced":
 *   `resetSyncedSignal` then waits for a real completion), fails the armed synced signal with HistoricalSyncFailed
 *   and, for an Active/Pinned syncer that has not sent a horizon yet, still sends it (GS-23) so live gossip flows.
 * - GS-51: every waiting state has a reply timeout (`replyTimeout`, 2 min; `Option.none()` reproduces lnd).
 *   While waiting for `reply_short_channel_ids_end`, gossip for a queried channel counts as progress. When a SCID
 *   query times out we fall back to `gossip_timestamp_filter(0, 0xFFFFFFFF)` (LDK dumps its graph on a filter),
 *   finish once the dump has delivered what we wanted (or has gone quiet), and remember for this connection that
 *   the peer ignores SCID queries: a later historical sync with it that needs SCIDs fails at once instead of
 *   waiting again (scidQueries.ts).
 * - Extended queries (peer signals gossip_queries_ex): we ask for timestamps AND checksums and fetch unknown
 *   channels plus known ones with a newer/different update, with `query_flags` naming the parts (Eclair/CLN).
 *   We serve checksums too, and honour `query_flags` when answering.
 * - GS-26: the passive filter is BOLT 7's "no gossip" value `first_timestamp = 0xFFFFFFFF, timestamp_range = 0`.
 * - GS-39: an empty SCID query gets `reply_short_channel_ids_end(chain, 1)` (BOLT 7: always end the reply).
 * - GS-42: filters are processed even with `noTimestampQueries` (lnd silences the peer then, which looks unintended).
 * - GS-46: a channel_announcement with no channel_update known is held (bounded) and sent just before its first
 *   update that passes the filter (BOLT 7: never send an announcement without an update).
 */
import { Deferred, Effect, Queue, Ref } from "effect"
import type { Option, Scope } from "effect"
import type { GossipSyncer, GossipSyncerOptions, GossipSyncerSettings } from "../../GossipSyncer.js"
import type { HistoricalSyncFailed } from "./errors.js"
import type { Peer } from "../../Peer.js"
import * as RateLimiter from "../../RateLimiter.js"
import type { Horizon, SyncerDeps, SyncerShared } from "./context.js"
import { makeContext, progressOf, releaseQueryState } from "./context.js"
import { filterProcessor } from "./filter.js"
import { liveForwarder } from "./forwarder.js"
import { historicalSync, processSyncTransition, resetSyncedSignal } from "./handle.js"
import { machine } from "./machine.js"
import { replyHandler } from "./replies.js"
import { router } from "./router.js"
import { acceptedCount } from "./rules.js"
import * as Shares from "./shares.js"

/** What tests and diagnostics may look at beyond the public handle. */
export interface GossipSyncerInternals {
  /** GS-17: channels accepted from the range query in flight (0 when none). */
  readonly bufferedScids: Effect.Effect<number>
  /** SCIDs still to be queried in the current sync. */
  readonly pendingScids: Effect.Effect<number>
  readonly localHorizon: Effect.Effect<Option.Option<Horizon>>
  readonly remoteHorizon: Effect.Effect<Option.Option<Horizon>>
  /** The peer was seen not to answer query_short_channel_ids on this connection. */
  readonly ignoresScidQueries: Effect.Effect<boolean>
  readonly backlogRunning: Effect.Effect<boolean>
  readonly lastFailure: Effect.Effect<Option.Option<HistoricalSyncFailed>>
  readonly heldAnnouncements: Effect.Effect<number>
}

export interface MadeSyncer {
  readonly syncer: GossipSyncer
  readonly run: Effect.Effect<void, never, Scope.Scope>
  readonly internals: GossipSyncerInternals
}

/** Builds one syncer for `peer`. `run` is its life (see GossipSyncerFactory). */
export const makeGossipSyncer = (
  peer: Peer,
  options: GossipSyncerOptions,
  deps: SyncerDeps
): Effect.Effect<MadeSyncer> =>
  Effect.gen(function* () {
    const ctx = yield* makeContext(peer, options, deps)

    const run: Effect.Effect<void, never, Scope.Scope> = Effect.gen(function* () {
      if (yield* Ref.getAndSet(ctx.started, true)) return // GS-4: idempotent
      yield* Effect.scoped(
        Effect.gen(function* () {
          const scope = yield* Effect.scope
          // issue 18: while idle, this syncer may help another one's initial sync (shares.ts); one wake-up queued at
          // most, so wake-ups never fill the request queue the manager's calls wait on (GS-27)
          const wake = () => {
            if (ctx.wakePending.value) return
            ctx.wakePending.value = true
            Queue.unsafeOffer(ctx.requests, { _tag: "Wake" })
          }
          const { wakers } = ctx.shared.board
          wakers.set(ctx.peerId, wake)
          yield* Effect.addFinalizer(() =>
            Effect.all([
              Deferred.succeed(ctx.exited, undefined),
              releaseQueryState(ctx),
              // a new connection of the same peer may have registered its own meanwhile
              Effect.sync(() => wakers.get(ctx.peerId) === wake && wakers.delete(ctx.peerId))
            ], { discard: true })
          )
          yield* Effect.raceFirst(
            router(ctx),
            Effect.raceFirst(
              machine(ctx),
              Effect.raceFirst(replyHandler(ctx), Effect.raceFirst(filterProcessor(ctx, scope), liveForwarder(ctx)))
            )
          ).pipe(Effect.catchAll((e) => Effect.logInfo(`syncer stopping: ${e.reason}`)))
        })
      )
    }).pipe(Effect.annotateLogs({ service: "GossipSyncer", peer: ctx.peerId }))

    const syncer: GossipSyncer = {
      peer,
      syncType: Ref.get(ctx.syncType),
      state: ctx.state,
      processSyncTransition: (to) => processSyncTransition(ctx, to),
      historicalSync: historicalSync(ctx),
      resetSyncedSignal: resetSyncedSignal(ctx),
      lastFailure: Ref.get(ctx.lastFailure),
      lastCompleted: Ref.get(ctx.lastCompleted),
      progress: progressOf(ctx)
    }

    const internals: GossipSyncerInternals = {
      bufferedScids: Effect.map(Ref.get(ctx.rangeAcc), (a) => (a === undefined ? 0 : acceptedCount(a))),
      pendingScids: Effect.map(Ref.get(ctx.pool), (p) => (p === undefined ? 0 : Shares.unleasedCount(p))),
      localHorizon: Ref.get(ctx.localHorizon),
      remoteHorizon: Ref.get(ctx.remoteHorizon),
      ignoresScidQueries: Ref.get(ctx.ignoresScidQueries),
      backlogRunning: Ref.get(ctx.backlogRunning),
      lastFailure: Ref.get(ctx.lastFailure),
      heldAnnouncements: Effect.sync(() => ctx.heldAnnouncements.size)
    }

    return { syncer, run, internals }
  })

/** SM-30/31: the global limiter and filter semaphore, made once per factory (shared by all its syncers). */
export const makeShared = (settings: GossipSyncerSettings): Effect.Effect<SyncerShared> =>
  Effect.gen(function* () {
    const globalLimiter = yield* RateLimiter.make({
      bytesPerSecond: settings.globalBytesPerSecond,
      burstBytes: settings.globalBurstBytes
    })
    const filterSemaphore = yield* Effect.makeSemaphore(settings.filterConcurrency)
    return { globalLimiter, filterSemaphore, board: Shares.makeBoard() }
  })
