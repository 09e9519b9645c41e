/**
 * The one record every fiber of a GossipSyncer works on (GS-4): what lnd keeps as fields of its `GossipSyncer`
 * struct. Each fiber module (router, machine, historical sync, scid queries, replies, filter, forwarder) is a set of
 * functions over this record, so who reads and who writes each piece of state is written down here, once.
 *
 * Ownership, so the fibers never race on a write:
 * - the state machine alone writes `state`, `syncType`, `historical`, `localHorizon`, `rangeAcc`, `pool`, `helping`,
 *   `leasePace`, `ignoresScidQueries`, `answersScidQueries`, `nodesNotDelivered`, `lastFailure` and installs/clears
 *   `tracker` (the SCID queries it makes for another syncer's pool, shares.ts, run on this machine too);
 * - the router alone mutates the installed `tracker` (progress, pace and deliveries as gossip arrives) and the
 *   received counts of `counts`, and offers to the queues; the machine resets `counts` (before installing a tracker)
 *   and writes its requested counts, `announced` and `lastCompleted`;
 * - the filter processor alone writes `remoteHorizon` and `backlogRunning`;
 * - the live forwarder alone touches `heldAnnouncements`;
 * - `armedSignal` and `unreportedFailure` are written under `signalLock` by the handle (arm) and the machine
 *   (fire/fail), GS-30;
 * - `wakePending` is set by the share board's wake-up (another syncer's fiber) and cleared by the machine.
 */
import { Clock, Deferred, Duration, Effect, Option, Queue, Ref, SubscriptionRef } from "effect"
import * as Data from "effect/Data"
import type {
  ChainHash,
  GossipTimestampFilter,
  PublicKey,
  QueryChannelRange,
  QueryShortChannelIds,
  ReplyChannelRange,
  ReplyShortChannelIdsEnd
} from "../../../domain/Messages.js"
import type { ShortChannelId } from "../../../domain/ShortChannelId.js"
import type { GossipPipelineService } from "../../GossipPipeline.js"
import type { GossipSyncerOptions, GossipSyncerSettings, SyncerState, SyncType } from "../../GossipSyncer.js"
import type { SyncCounts, SyncProgress } from "./counts.js"
import { noSyncCounts } from "./counts.js"
import type { HistoricalSyncFailed, SyncTransitionFailed } from "./errors.js"
import { GossipSyncerExiting } from "./errors.js"
import type { GraphStoreService } from "../../GraphStore.js"
import type { Peer } from "../../Peer.js"
import type { ByteRateLimiter } from "../../RateLimiter.js"
import * as RateLimiter from "../../RateLimiter.js"
import type { RangeReplyAccumulator } from "./rules.js"
import type { LeasePace, ShareBoard, SharePool } from "./shares.js"
import * as Shares from "./shares.js"

// ---------------------------------------------------------------------------------------------------------------
// Values passed between the fibers

/** A failed sync phase; the machine turns it into HistoricalSyncFailed for the manager (GS-17). */
export class SyncAborted extends Data.TaggedError("SyncAborted")<{ readonly reason: string }> {}

/** A `gossip_timestamp_filter` window (GS-25/26 ours, GS-43 the peer's). */
export interface Horizon {
  readonly firstTimestamp: number
  readonly timestampRange: number
}

/** One SCID to fetch in the SCID phase. */
export interface Wanted {
  readonly scid: ShortChannelId
  /** query_flags for this SCID (extended queries only). */
  readonly flags: bigint | undefined
}

/** A queried channel whose announcement arrived, with its endpoints (node ids in hex, and as keys). */
export interface Announced {
  readonly scid: ShortChannelId
  readonly node1: string
  readonly node2: string
  readonly id1: PublicKey
  readonly id2: PublicKey
}

/**
 * Progress of an outstanding SCID query or fallback dump, updated by the router as gossip arrives. Times are
 * Clock milliseconds.
 */
export interface Tracker {
  readonly scids: ReadonlySet<ShortChannelId>
  readonly pendingAnnouncements: Set<ShortChannelId>
  /** Last gossip for a queried channel or a requested node (GS-51: the reply deadline runs from here). */
  lastProgress: number
  progressed: boolean
  /** Extended SCID queries: endpoints of the queried channels whose announcement arrived. */
  readonly announced: Array<Announced> | undefined
  /** Node ids (hex) asked for with NODE_1/NODE_2 flags and not delivered yet (issue 13 item 6). */
  readonly nodesPending: Set<string>
  /**
   * The peer's pace, for ending a dump by its silence (issue 13 item 5): all gossip counts, wanted or not.
   * `lastHeard` is when the router finished handing the last gossip run on, so time spent in our own pipeline is
   * never taken for the peer's silence; `routing` is set while a run is being handed on; `maxGap` is the longest
   * wait for the peer between two runs since the first one.
   */
  heard: boolean
  lastHeard: number
  routing: boolean
  maxGap: number
  /** Dumps: completed by the router at the first progress, so the machine need not poll before it. */
  readonly firstProgress?: Deferred.Deferred<void> | undefined
}

/** `SyncCounts` as the fibers update them (plain fields: one writer each, see the module doc). */
export type MutableSyncCounts = { -readonly [K in keyof SyncCounts]: number }

/** Node ids remembered per connection as asked of the peer and not delivered (bounded: a mainnet graph has ~17k). */
export const MAX_NODES_NOT_DELIVERED = 100_000

/** What the router hands the state machine (GS-5: only while it waits for one). */
export type MachineEvent = ReplyChannelRange | ReplyShortChannelIdsEnd
/** What the router hands the reply handler. */
export type PeerQuery = QueryChannelRange | QueryShortChannelIds

export type RequestStatus = "pending" | "accepted" | "cancelled"

/** A manager request (GS-27/29); `status` lets a caller that timed out withdraw it before the machine takes it. */
export type Request =
  | {
    readonly _tag: "Transition"
    readonly to: SyncType
    readonly status: Ref.Ref<RequestStatus>
    readonly accepted: Deferred.Deferred<void>
    readonly done: Deferred.Deferred<void, SyncTransitionFailed>
  }
  | {
    readonly _tag: "Historical"
    readonly status: Ref.Ref<RequestStatus>
    readonly accepted: Deferred.Deferred<void>
  }
  /** Issue 18: a pool has work this idle syncer may help with (shares.ts); at most one is queued (`wakePending`). */
  | { readonly _tag: "Wake" }

/** Resources shared by every syncer a factory makes (SM-30, SM-31, and issue 18's share board). */
export interface SyncerShared {
  readonly globalLimiter: ByteRateLimiter
  readonly filterSemaphore: Effect.Semaphore
  /** The parallel initial sync's pools and the idle syncers that may help with them (shares.ts). */
  readonly board: ShareBoard
}

/** What a syncer is built from: the factory's config, services and shared resources. */
export interface SyncerDeps {
  readonly settings: GossipSyncerSettings
  readonly store: GraphStoreService
  readonly pipeline: GossipPipelineService
  readonly shared: SyncerShared
}

// ---------------------------------------------------------------------------------------------------------------
// The record

export interface SyncerContext extends SyncerDeps {
  readonly peer: Peer
  readonly peerId: string
  readonly options: GossipSyncerOptions
  readonly chainHash: ChainHash
  /** The peer signals gossip_queries_ex: we ask for and serve timestamps, checksums and query_flags. */
  readonly extended: boolean
  /** GS-51: `settings.replyTimeout` in milliseconds; none waits forever (lnd). */
  readonly replyTimeoutMillis: Option.Option<number>

  /** GS-2: observable state; written only through `enter`. */
  readonly state: SubscriptionRef.SubscriptionRef<SyncerState>
  /** GS-1/28. */
  readonly syncType: Ref.Ref<SyncType>
  /** GS-25/26: the filter we last sent (none after a passive one). */
  readonly localHorizon: Ref.Ref<Option.Option<Horizon>>
  /** GS-43: the peer's filter; live forwarding (GS-46) reads it. */
  readonly remoteHorizon: Ref.Ref<Option.Option<Horizon>>
  /** GS-8: the next range query starts at block 0. */
  readonly historical: Ref.Ref<boolean>
  /** GS-5: replies for the machine, bounded (GS-50). */
  readonly events: Queue.Queue<MachineEvent>
  /** GS-5: the peer's queries for the reply handler, bounded. */
  readonly peerQueries: Queue.Queue<PeerQuery>
  /** GS-42: a dropping queue of one. */
  readonly filters: Queue.Queue<GossipTimestampFilter>
  /** GS-27/29: manager requests for the machine. */
  readonly requests: Queue.Queue<Request>
  /** GS-30: the synced signal armed by `resetSyncedSignal`, if any. */
  readonly armedSignal: Ref.Ref<Deferred.Deferred<void, HistoricalSyncFailed> | undefined>
  /**
   * GS-30: the failure of the sync requested last, when it failed before anyone armed a signal (a sync can fail
   * without waiting on the peer: no gossip_queries, a store error); the next `resetSyncedSignal` reports it
   * instead of waiting forever for a completion no sync will bring. Cleared by the next request or completion.
   */
  readonly unreportedFailure: Ref.Ref<Option.Option<HistoricalSyncFailed>>
  /** Makes "look at the state and arm" atomic with "enter a state and fire" (GS-30). */
  readonly signalLock: Effect.Semaphore
  /** Completed when `run` ends: every waiting caller then fails with GossipSyncerExiting. */
  readonly exited: Deferred.Deferred<void>
  /** GS-4: `run` is idempotent. */
  readonly started: Ref.Ref<boolean>
  /** GS-44/SM-31: a backlog dump is in flight for this peer. */
  readonly backlogRunning: Ref.Ref<boolean>
  /** GS-12..19: the range query in flight. */
  readonly rangeAcc: Ref.Ref<RangeReplyAccumulator | undefined>
  /** GS-21: the SCIDs this sync wants, and who fetches them (this syncer alone, or with helpers: shares.ts). */
  readonly pool: Ref.Ref<SharePool | undefined>
  /** Issue 18: fetching a lease of another syncer's pool (the router then hands this machine the SCID replies). */
  readonly helping: Ref.Ref<boolean>
  /** Issue 18: SCIDs per second the peer delivered in the last lease, sizing the next one (shares.ts). */
  readonly leasePace: LeasePace
  /** A wake-up is queued in `requests` (at most one). */
  readonly wakePending: { value: boolean }
  /** GS-51: the SCID query or dump in flight, watched by the router. */
  readonly tracker: Ref.Ref<Tracker | undefined>
  /** The peer was seen not to answer query_short_channel_ids on this connection (LDK). */
  readonly ignoresScidQueries: Ref.Ref<boolean>
  /** The peer's whole dump was asked for on this connection (the fallback for a peer that ignores SCID queries). */
  readonly dumpTaken: Ref.Ref<boolean>
  /** The peer ended a query_short_channel_ids reply on this connection: no first-answer probe needed any more. */
  readonly answersScidQueries: Ref.Ref<boolean>
  /** Node ids this peer was asked for on this connection and did not deliver: not asked of it again (item 6). */
  readonly nodesNotDelivered: Set<string>
  readonly lastFailure: Ref.Ref<Option.Option<HistoricalSyncFailed>>
  /** What the sync in progress has fetched so far (reset when a sync starts). */
  readonly counts: MutableSyncCounts
  /** The counts of the latest completed sync. */
  readonly lastCompleted: Ref.Ref<Option.Option<SyncCounts>>
  /**
   * Channels the range replies of the sync in progress announced, once its wanted list is made (none before, and
   * once the sync's query state is released): `progress` is known exactly while this is set.
   */
  readonly announced: Ref.Ref<Option.Option<number>>
  /** GS-46: announcements waiting for their first update, oldest first (bounded by `maxHeldAnnouncements`). */
  readonly heldAnnouncements: Map<ShortChannelId, Uint8Array>
  /** GS-48: per-peer bucket, then the factory's global one. */
  readonly limiter: ByteRateLimiter
  /** Fails with GossipSyncerExiting once `run` has ended. */
  readonly failOnExit: Effect.Effect<never, GossipSyncerExiting>
}

/** A fresh record for one peer: every piece of state at its initial value. */
export const makeContext = (
  peer: Peer,
  options: GossipSyncerOptions,
  deps: SyncerDeps
): Effect.Effect<SyncerContext> =>
  Effect.gen(function* () {
    const { settings } = deps
    const exited = yield* Deferred.make<void>()
    const peerLimiter = yield* RateLimiter.make({
      bytesPerSecond: settings.peerBytesPerSecond,
      burstBytes: settings.peerBurstBytes
    })
    return {
      ...deps,
      peer,
      peerId: peer.nodeIdHex,
      options,
      chainHash: settings.chainHash,
      extended: peer.gossipQueriesEx,
      replyTimeoutMillis: Option.map(settings.replyTimeout, Duration.toMillis),
      state: yield* SubscriptionRef.make<SyncerState>(options.initialState),
      syncType: yield* Ref.make<SyncType>(options.syncType),
      localHorizon: yield* Ref.make<Option.Option<Horizon>>(Option.none()),
      remoteHorizon: yield* Ref.make<Option.Option<Horizon>>(Option.none()),
      historical: yield* Ref.make(false),
      events: yield* Queue.bounded<MachineEvent>(settings.queueSize),
      // issue 14: one query waits behind the one being answered (BOLT 7: one of each kind outstanding); further ones
      // stay in the connection's inbound queue as received bytes, not decoded here
      peerQueries: yield* Queue.bounded<PeerQuery>(1),
      filters: yield* Queue.dropping<GossipTimestampFilter>(1),
      requests: yield* Queue.bounded<Request>(settings.queueSize),
      armedSignal: yield* Ref.make<Deferred.Deferred<void, HistoricalSyncFailed> | undefined>(undefined),
      unreportedFailure: yield* Ref.make<Option.Option<HistoricalSyncFailed>>(Option.none()),
      signalLock: yield* Effect.makeSemaphore(1),
      exited,
      started: yield* Ref.make(false),
      backlogRunning: yield* Ref.make(false),
      rangeAcc: yield* Ref.make<RangeReplyAccumulator | undefined>(undefined),
      pool: yield* Ref.make<SharePool | undefined>(undefined),
      helping: yield* Ref.make(false),
      leasePace: { itemsPerSecond: undefined, lastSize: 0 },
      wakePending: { value: false },
      tracker: yield* Ref.make<Tracker | undefined>(undefined),
      ignoresScidQueries: yield* Ref.make(false),
      answersScidQueries: yield* Ref.make(false),
      dumpTaken: yield* Ref.make(false),
      nodesNotDelivered: new Set<string>(),
      lastFailure: yield* Ref.make<Option.Option<HistoricalSyncFailed>>(Option.none()),
      counts: { ...noSyncCounts },
      lastCompleted: yield* Ref.make<Option.Option<SyncCounts>>(Option.none()),
      announced: yield* Ref.make<Option.Option<number>>(Option.none()),
      heldAnnouncements: new Map<ShortChannelId, Uint8Array>(),
      limiter: RateLimiter.chain(peerLimiter, deps.shared.globalLimiter), // GS-48: per-peer first, then global
      failOnExit: Effect.zipRight(
        Deferred.await(exited),
        Effect.fail(new GossipSyncerExiting({ peer: peer.nodeIdHex }))
      )
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// Small helpers every fiber uses

export const nowMillis = Clock.currentTimeMillis
export const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000) >>> 0)

/** GS-2: only the state machine writes the state; observers see each change once. */
export const enter = (ctx: SyncerContext, next: SyncerState): Effect.Effect<void> =>
  Effect.flatMap(
    SubscriptionRef.get(ctx.state),
    (current) => current === next ? Effect.void : SubscriptionRef.set(ctx.state, next)
  )

/** GS-17/20: per-query state released (also when `run` ends); a pool of this sync leaves the board. */
export const releaseQueryState = (ctx: SyncerContext): Effect.Effect<void> =>
  Effect.all(
    [
      Ref.set(ctx.rangeAcc, undefined),
      Effect.flatMap(Ref.getAndSet(ctx.pool, undefined), (pool) =>
        pool === undefined ? Effect.void : Shares.close(ctx.shared.board, pool)),
      Ref.set(ctx.tracker, undefined),
      Ref.set(ctx.announced, Option.none())
    ],
    { discard: true }
  )

/** Issue 16: the sync in progress's progress, from the machine's `announced` and the router's counts. */
export const progressOf = (ctx: SyncerContext): Effect.Effect<Option.Option<SyncProgress>> =>
  Effect.map(Ref.get(ctx.announced), (announced) =>
    Option.map(announced, (channelsAnnounced) => ({
      channelsAnnounced,
      channelsWanted: ctx.counts.channelsRequested,
      channelsReceived: Math.min(ctx.counts.channelsReceived, ctx.counts.channelsRequested)
    })))

/** The machine's next event, or none after `timeoutMillis` (undefined: wait forever). */
export const nextEvent = (
  ctx: SyncerContext,
  timeoutMillis: number | undefined
): Effect.Effect<Option.Option<MachineEvent>> =>
  timeoutMillis === undefined
    ? Effect.map(Queue.take(ctx.events), Option.some)
    : Effect.timeoutOption(Queue.take(ctx.events), Duration.millis(Math.max(0, timeoutMillis)))

export const aborted = (reason: string): Effect.Effect<never, SyncAborted> => Effect.fail(new SyncAborted({ reason }))

/** A store failure during a sync aborts the sync (GS-11/17), named for the log. */
export const fromStore = <A, E extends { readonly _tag: string }>(
  what: string,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, SyncAborted> => Effect.mapError(effect, (e) => new SyncAborted({ reason: `${what}: ${e._tag}` }))
