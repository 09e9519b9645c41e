/**
 * The GossipSyncer state machine (GS-n, docs/spec/gossip-syncer.md): one per peer, a small group of fibers in one
 * scope that ends when the peer's message stream ends or when `run` is interrupted.
 *
 * Fibers (GS-4): a router (the only consumer of `peer.messages`: gossip → pipeline, replies → state machine,
 * queries → reply handler, filters → filter queue), the state machine (historical sync and transitions), the reply
 * handler (answers the peer's queries in every state), the filter processor (the peer's gossip_timestamp_filter,
 * backlog fibers) and the live forwarder (GS-46). Every queue between them is bounded.
 *
 * Port decisions (beyond lnd), each marked where implemented:
 * - GS-14: replies starting before / ending after our query are clamped (BOLT 7 allows them); LDK's one-block-short
 *   non-final replies are accepted as long as coverage stays contiguous and SCIDs stay ascending.
 * - GS-15: running out of reply budget before the range is covered fails the sync.
 * - GS-17: every failure releases per-query state, moves the syncer to `syncerIdle` (a failed sync is not "synced":
 *   `resetSyncedSignal` then waits for a real completion), fails the armed synced signal with HistoricalSyncFailed
 *   and, for an Active/Pinned syncer that has not sent a horizon yet, still sends it (GS-23) so live gossip flows.
 * - GS-51: every waiting state has a reply timeout (`replyTimeout`, 2 min; `Option.none()` reproduces lnd).
 *   While waiting for `reply_short_channel_ids_end`, gossip for a queried channel counts as progress. When a SCID
 *   query times out we fall back to `gossip_timestamp_filter(0, 0xFFFFFFFF)` (LDK dumps its graph on a filter),
 *   finish once the dump has delivered what we wanted (or has gone quiet), and remember for this connection that
 *   the peer ignores SCID queries: a later historical sync with it that needs SCIDs fails at once instead of
 *   waiting again.
 * - Extended queries (peer signals gossip_queries_ex): we ask for timestamps AND checksums and fetch unknown
 *   channels plus known ones with a newer/different update, with `query_flags` naming the parts (Eclair/CLN).
 *   We serve checksums too, and honour `query_flags` when answering.
 * - GS-26: the passive filter is BOLT 7's "no gossip" value `first_timestamp = 0xFFFFFFFF, timestamp_range = 0`.
 * - GS-39: an empty SCID query gets `reply_short_channel_ids_end(chain, 1)` (BOLT 7: always end the reply).
 * - GS-42: filters are processed even with `noTimestampQueries` (lnd silences the peer then, which looks unintended).
 * - GS-46: a channel_announcement with no channel_update known is held (bounded) and sent just before its first
 *   update that passes the filter (BOLT 7: never send an announcement without an update).
 */
import {
  Chunk,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Layer,
  Option,
  Queue,
  Random,
  Ref,
  Stream,
  SubscriptionRef
} from "effect"
import * as Data from "effect/Data"
import type * as Scope from "effect/Scope"
import { toHex } from "../../../domain/Hex.js"
import type {
  ChainHash,
  GossipMessage,
  GossipTimestampFilter,
  Message,
  PublicKey,
  QueryChannelRange,
  QueryShortChannelIds,
  ReplyChannelRange,
  ReplyShortChannelIdsEnd
} from "../../../domain/Messages.js"
import { isGossipMessage } from "../../../domain/Messages.js"
import { MAX_BLOCK } from "../../../domain/ShortChannelId.js"
import type { ShortChannelId } from "../../../domain/ShortChannelId.js"
import type { AcceptedGossip, GossipPipelineService } from "../../GossipPipeline.js"
import { GossipPipeline } from "../../GossipPipeline.js"
import type { GossipSyncer, GossipSyncerOptions, SyncerState, SyncType } from "../../GossipSyncer.js"
import {
  GossipSyncerExiting,
  GossipSyncerFactory,
  HistoricalSyncFailed,
  isActiveSync,
  SyncTransitionFailed,
  SyncTransitionTimeout
} from "../../GossipSyncer.js"
import type { ChannelState, GraphStoreService, StoredGossip } from "../../GraphStore.js"
import { GraphStore } from "../../GraphStore.js"
import type { ChannelInfo, RangeReplyAccumulator } from "./rules.js"
import {
  acceptRangeReply,
  chunkLimit,
  chunkReplies,
  DEFAULT_BATCH_SIZE,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_MAX_QUERY_REPLIES,
  DEFAULT_MAX_REPLY_SCIDS,
  DEFAULT_RANGE_QUERY_LOOKBACK,
  DEFAULT_STALE_AFTER_SECONDS,
  groupByBlock,
  lastBlockOf,
  newAccumulator,
  PASSIVE_FILTER,
  QUERY_FLAG_ANNOUNCEMENT,
  QUERY_FLAG_NODE_1,
  QUERY_FLAG_NODE_2,
  QUERY_FLAG_UPDATE_1,
  QUERY_FLAG_UPDATE_2,
  QUERY_FLAGS_ALL,
  QUERY_OPTION_CHECKSUMS,
  QUERY_OPTION_TIMESTAMPS,
  queryNumBlocks,
  queryStartHeight,
  refreshFlags,
  revivesZombie,
  sameChain,
  U32_MAX,
  wireSize
} from "./rules.js"
import type { PeerDisconnected, Peer } from "../../Peer.js"
import type { ByteRateLimiter } from "../../RateLimiter.js"
import { SyncManagerConfig, SyncManagerDefaults } from "../syncManager/config.js"
import * as RateLimiter from "../../RateLimiter.js"

// ---------------------------------------------------------------------------------------------------------------
// Configuration

export interface GossipSyncerSettings {
  /** The chain we sync (wire byte order). */
  readonly chainHash: ChainHash
  /** Our best block height (GS-9). */
  readonly bestHeight: Effect.Effect<number>
  /** GS-27/GS-29: how long a transition / historical request may wait to be accepted (5 s). */
  readonly transitionTimeout: Duration.Duration
  /** GS-51 (beyond lnd): longest wait for a reply or for progress; `none` reproduces lnd (wait forever). */
  readonly replyTimeout: Option.Option<Duration.Duration>
  /** Fallback dump: once every wanted announcement arrived, how long without more wanted gossip ends the dump. */
  readonly dumpQuietPeriod: Duration.Duration
  /** GS-34: SCIDs per reply_channel_range with plain encoding (8000). */
  readonly chunkSize: number
  /** GS-21: SCIDs per query_short_channel_ids (500). */
  readonly batchSize: number
  /** GS-15: reply budget per range query (500). */
  readonly maxQueryReplies: number
  /** GS-16: SCIDs accepted across one range-reply stream (100,000). */
  readonly maxReplyScids: number
  /** GS-5: state-machine and reply queues (50). */
  readonly queueSize: number
  /** GS-8: lookback for a non-historical range query (144 blocks). */
  readonly rangeQueryLookback: number
  /** GS-18: stale/skew window (14 days). */
  readonly staleAfterSeconds: number
  /** GS-10/GS-32: neither ask for nor serve timestamps/checksums. */
  readonly noTimestampQueries: boolean
  /** GS-44: never dump stored gossip for a peer's filter, only forward live gossip. */
  readonly ignoreHistoricalFilters: boolean
  /** SM-31: concurrent backlog dumps across all syncers of one factory (5). */
  readonly filterConcurrency: number
  /** GS-48: per-peer outbound byte rate and burst. */
  readonly peerBytesPerSecond: number
  readonly peerBurstBytes: number
  /** SM-30: outbound byte rate and burst shared by all syncers of one factory. */
  readonly globalBytesPerSecond: number
  readonly globalBurstBytes: number
  /** GS-46: announcements held while waiting for their first update (per syncer). */
  readonly maxHeldAnnouncements: number
}

export class GossipSyncerConfig extends Context.Tag("lnsync/GossipSyncerConfig")<
  GossipSyncerConfig,
  GossipSyncerSettings
>() {}

/** Defaults per the spec (GS-50/51, lnd's rate-limit defaults). */
export const defaultSettings: Omit<GossipSyncerSettings, "chainHash" | "bestHeight"> = {
  transitionTimeout: Duration.seconds(5),
  replyTimeout: Option.some(Duration.minutes(2)),
  dumpQuietPeriod: Duration.seconds(10),
  chunkSize: DEFAULT_CHUNK_SIZE,
  batchSize: DEFAULT_BATCH_SIZE,
  maxQueryReplies: DEFAULT_MAX_QUERY_REPLIES,
  maxReplyScids: DEFAULT_MAX_REPLY_SCIDS,
  queueSize: 50,
  rangeQueryLookback: DEFAULT_RANGE_QUERY_LOOKBACK,
  staleAfterSeconds: DEFAULT_STALE_AFTER_SECONDS,
  noTimestampQueries: false,
  ignoreHistoricalFilters: false,
  peerBytesPerSecond: SyncManagerDefaults.peerMsgBytesPerSecond,
  peerBurstBytes: 2 * SyncManagerDefaults.peerMsgBytesPerSecond,
  filterConcurrency: SyncManagerDefaults.filterConcurrency,
  globalBytesPerSecond: SyncManagerDefaults.msgBytesPerSecond,
  globalBurstBytes: SyncManagerDefaults.msgBytesBurst,
  maxHeldAnnouncements: 1024
}

export type GossipSyncerConfigInput = Pick<GossipSyncerSettings, "chainHash" | "bestHeight"> &
  Partial<Omit<GossipSyncerSettings, "chainHash" | "bestHeight">>

export const makeSettings = (input: GossipSyncerConfigInput): GossipSyncerSettings => ({ ...defaultSettings, ...input })

/** A config layer: the chain and best height are required, everything else defaults per the spec. */
export const configLayer = (input: GossipSyncerConfigInput): Layer.Layer<GossipSyncerConfig> =>
  Layer.succeed(GossipSyncerConfig, makeSettings(input))

/**
 * A config layer whose shared outbound limits (SM-30 global bucket, SM-31 filter semaphore, GS-48 per-peer bucket)
 * come from the SyncManagerConfig, so the manager and the factory read the same validated numbers.
 */
export const configLayerFromSyncManager = (
  input: GossipSyncerConfigInput
): Layer.Layer<GossipSyncerConfig, never, SyncManagerConfig> =>
  Layer.effect(
    GossipSyncerConfig,
    Effect.map(SyncManagerConfig, (sm) =>
      makeSettings({
        ...input,
        filterConcurrency: sm.filterConcurrency,
        globalBytesPerSecond: sm.msgBytesPerSecond,
        globalBurstBytes: sm.msgBytesBurst,
        peerBytesPerSecond: sm.peerMsgBytesPerSecond,
        peerBurstBytes: sm.peerMsgBytesBurst
      })
    )
  )

// ---------------------------------------------------------------------------------------------------------------
// Internal types

/** A failed sync phase; becomes HistoricalSyncFailed for the manager. */
class SyncAborted extends Data.TaggedError("SyncAborted")<{ readonly reason: string }> {}

export interface Horizon {
  readonly firstTimestamp: number
  readonly timestampRange: number
}

interface Wanted {
  readonly scid: ShortChannelId
  /** query_flags for this SCID (extended queries only). */
  readonly flags: bigint | undefined
}

/** Progress of an outstanding SCID query or fallback dump, updated by the router as gossip arrives. */
interface Tracker {
  readonly scids: ReadonlySet<ShortChannelId>
  readonly pendingAnnouncements: Set<ShortChannelId>
  lastProgress: number
  progressed: boolean
  /** Extended SCID queries: endpoints of the queried channels whose announcement arrived (node ids in hex). */
  readonly announced: Array<Announced> | undefined
}

interface Announced {
  readonly scid: ShortChannelId
  readonly node1: string
  readonly node2: string
}

type MachineEvent = ReplyChannelRange | ReplyShortChannelIdsEnd
type PeerQuery = QueryChannelRange | QueryShortChannelIds
type RequestStatus = "pending" | "accepted" | "cancelled"

type Request =
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

/** Resources shared by every syncer a factory makes (SM-30, SM-31). */
export interface SyncerShared {
  readonly globalLimiter: ByteRateLimiter
  readonly filterSemaphore: Effect.Semaphore
}

export interface SyncerDeps {
  readonly settings: GossipSyncerSettings
  readonly store: GraphStoreService
  readonly pipeline: GossipPipelineService
  readonly shared: SyncerShared
}

/** What tests and diagnostics may look at beyond the public handle. */
export interface GossipSyncerInternals {
  /** GS-17: SCIDs buffered for the range query in flight (0 when none). */
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

// ---------------------------------------------------------------------------------------------------------------
// Raw-message field readers (stored gossip is served as received; GS-40 query_flags need a few fields)

const u16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1]
const u64 = (b: Uint8Array, at: number): bigint =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at, false)
const announcementScid = (raw: Uint8Array): ShortChannelId => {
  const flen = u16(raw, 2 + 4 * 64)
  return u64(raw, 2 + 4 * 64 + 2 + flen + 32)
}
const updateScid = (raw: Uint8Array): ShortChannelId => u64(raw, 2 + 64 + 32)
const updateDirection = (raw: Uint8Array): number => raw[2 + 64 + 32 + 8 + 4 + 1] & 1
const nodeAnnouncementId = (raw: Uint8Array): string => {
  const flen = u16(raw, 2 + 64)
  return toHex(raw.subarray(2 + 64 + 2 + flen + 4, 2 + 64 + 2 + flen + 4 + 33))
}

const STORE_LOOKUP_CHUNK = 8000

// ---------------------------------------------------------------------------------------------------------------
// The syncer

/** Builds one syncer for `peer`. `run` is its life (see GossipSyncerFactory). */
export const makeGossipSyncer = (
  peer: Peer,
  options: GossipSyncerOptions,
  deps: SyncerDeps
): Effect.Effect<MadeSyncer> =>
  Effect.gen(function* () {
    const { pipeline, settings, shared, store } = deps
    const peerId = peer.nodeIdHex
    const chainHash = settings.chainHash
    const extended = peer.gossipQueriesEx
    const replyTimeoutMillis = Option.map(settings.replyTimeout, Duration.toMillis)

    const state = yield* SubscriptionRef.make<SyncerState>(options.initialState)
    const syncType = yield* Ref.make<SyncType>(options.syncType)
    /** Only the state machine writes the state; observers see each change once. */
    const enter = (next: SyncerState) =>
      Effect.flatMap(SubscriptionRef.get(state), (current) =>
        current === next ? Effect.void : SubscriptionRef.set(state, next)
      )
    const localHorizon = yield* Ref.make<Option.Option<Horizon>>(Option.none())
    const remoteHorizon = yield* Ref.make<Option.Option<Horizon>>(Option.none())
    const historical = yield* Ref.make(false)
    const events = yield* Queue.bounded<MachineEvent>(settings.queueSize)
    const peerQueries = yield* Queue.bounded<PeerQuery>(settings.queueSize)
    const filters = yield* Queue.dropping<GossipTimestampFilter>(1) // GS-42
    const requests = yield* Queue.bounded<Request>(settings.queueSize)
    const armedSignal = yield* Ref.make<Deferred.Deferred<void, HistoricalSyncFailed> | undefined>(undefined)
    const signalLock = yield* Effect.makeSemaphore(1)
    const exited = yield* Deferred.make<void>()
    const started = yield* Ref.make(false)
    const backlogRunning = yield* Ref.make(false)
    const rangeAcc = yield* Ref.make<RangeReplyAccumulator | undefined>(undefined)
    const pending = yield* Ref.make<{ readonly items: ReadonlyArray<Wanted>; readonly next: number }>({
      items: [],
      next: 0
    })
    const tracker = yield* Ref.make<Tracker | undefined>(undefined)
    const ignoresScidQueries = yield* Ref.make(false)
    const lastFailure = yield* Ref.make<Option.Option<HistoricalSyncFailed>>(Option.none())
    const heldAnnouncements = new Map<ShortChannelId, Uint8Array>()

    const peerLimiter = yield* RateLimiter.make({
      bytesPerSecond: settings.peerBytesPerSecond,
      burstBytes: settings.peerBurstBytes
    })
    const limiter = RateLimiter.chain(peerLimiter, shared.globalLimiter) // GS-48: per-peer first, then global

    const exiting = new GossipSyncerExiting({ peer: peerId })
    const failOnExit = Effect.zipRight(Deferred.await(exited), Effect.fail(exiting))
    const nowMillis = Clock.currentTimeMillis
    const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000) >>> 0)

    // --- sending (GS-37/48: every outbound message waits for the limiters, then for the peer's queue)

    const send = (message: Message): Effect.Effect<void, PeerDisconnected> =>
      Effect.zipRight(limiter.take(wireSize(message)), peer.send(message))
    const sendRaw = (raw: Uint8Array): Effect.Effect<void, PeerDisconnected> =>
      Effect.zipRight(limiter.take(raw.length), peer.sendRaw(raw))
    const emitRaw =
      peer.sendRawAll ?? ((raws: ReadonlyArray<Uint8Array>) => Effect.forEach(raws, peer.sendRaw, { discard: true }))
    /** GS-40/48: stored messages in order, each paced through the limiters as `sendRaw` would, in few effects. */
    const sendRawAll = (raws: ReadonlyArray<Uint8Array>): Effect.Effect<void, PeerDisconnected> =>
      raws.length === 0 ? Effect.void : RateLimiter.paceAll(limiter, raws, (r) => r.length, emitRaw)

    const timestampFilter = (firstTimestamp: number, timestampRange: number): GossipTimestampFilter => ({
      _tag: "GossipTimestampFilter",
      chainHash,
      firstTimestamp,
      timestampRange
    })

    /** GS-25/26: sends our horizon and records it (a passive "no gossip" filter clears it). */
    const sendHorizon = (horizon: Horizon | "passive"): Effect.Effect<void, PeerDisconnected> =>
      horizon === "passive"
        ? Effect.zipRight(
            send(timestampFilter(PASSIVE_FILTER.firstTimestamp, PASSIVE_FILTER.timestampRange)),
            Ref.set(localHorizon, Option.none())
          )
        : Effect.zipRight(
            send(timestampFilter(horizon.firstTimestamp, horizon.timestampRange)),
            Ref.set(localHorizon, Option.some(horizon))
          )

    const activeHorizon = Effect.map(nowSeconds, (now): Horizon => ({ firstTimestamp: now, timestampRange: U32_MAX }))

    /** GS-23: an Active/Pinned syncer without a horizon sends one (failure only logged). */
    const sendActiveHorizonIfNeeded = Effect.gen(function* () {
      const type = yield* Ref.get(syncType)
      const horizon = yield* Ref.get(localHorizon)
      if (!isActiveSync(type) || Option.isSome(horizon)) return
      yield* Effect.flatMap(activeHorizon, sendHorizon).pipe(
        Effect.catchAll((e) => Effect.logWarning(`could not send gossip_timestamp_filter: ${e.reason}`))
      )
    })

    // --- synced signal (GS-30)

    const enterChansSynced = Effect.gen(function* () {
      yield* signalLock.withPermits(1)(
        Effect.gen(function* () {
          yield* enter("chansSynced")
          const armed = yield* Ref.getAndSet(armedSignal, undefined)
          if (armed !== undefined) yield* Deferred.succeed(armed, undefined)
        })
      )
      yield* sendActiveHorizonIfNeeded
    })

    const releaseQueryState = Effect.all(
      [Ref.set(rangeAcc, undefined), Ref.set(pending, { items: [], next: 0 }), Ref.set(tracker, undefined)],
      { discard: true }
    )

    /** GS-17 (port decision): defined failed state, buffers released, signal failed, manager told. */
    const failSync = (reason: string) =>
      Effect.gen(function* () {
        yield* releaseQueryState
        const failure = new HistoricalSyncFailed({ peer: peerId, reason })
        yield* Ref.set(lastFailure, Option.some(failure))
        yield* signalLock.withPermits(1)(
          Effect.gen(function* () {
            yield* enter("syncerIdle")
            const armed = yield* Ref.getAndSet(armedSignal, undefined)
            if (armed !== undefined) yield* Deferred.fail(armed, failure)
          })
        )
        yield* Effect.logWarning(`historical sync failed: ${reason}`)
        yield* sendActiveHorizonIfNeeded
      })

    const resetSyncedSignal: Effect.Effect<Effect.Effect<void, HistoricalSyncFailed | GossipSyncerExiting>> =
      signalLock.withPermits(1)(
        Effect.gen(function* () {
          if ((yield* SubscriptionRef.get(state)) === "chansSynced") return Effect.void
          const signal = yield* Deferred.make<void, HistoricalSyncFailed>()
          yield* Ref.set(armedSignal, signal)
          return Effect.flatMap(
            Deferred.poll(signal),
            Option.match({
              onSome: (result): Effect.Effect<void, HistoricalSyncFailed | GossipSyncerExiting> => result,
              onNone: () => Effect.raceFirst(Deferred.await(signal), failOnExit)
            })
          )
        })
      )

    // --- requests from the manager (GS-27/29)

    /** Enqueues a request and waits (bounded by the transition timeout) for the state machine to accept it. */
    const submit = (request: Request): Effect.Effect<void, SyncTransitionTimeout | GossipSyncerExiting> =>
      Effect.gen(function* () {
        if (yield* Deferred.isDone(exited)) return yield* Effect.fail(exiting)
        const acceptance = Effect.zipRight(Queue.offer(requests, request), Deferred.await(request.accepted))
        const outcome = yield* Effect.raceFirst(acceptance, failOnExit).pipe(
          Effect.timeoutOption(settings.transitionTimeout)
        )
        if (Option.isSome(outcome)) return
        const cancelled = yield* Ref.modify(request.status, (s): readonly [boolean, RequestStatus] =>
          s === "pending" ? [true, "cancelled"] : [false, s]
        )
        if (cancelled) return yield* Effect.fail(new SyncTransitionTimeout({ peer: peerId }))
      })

    const processSyncTransition = (to: SyncType) =>
      Effect.gen(function* () {
        const request = {
          _tag: "Transition" as const,
          to,
          status: yield* Ref.make<RequestStatus>("pending"),
          accepted: yield* Deferred.make<void>(),
          done: yield* Deferred.make<void, SyncTransitionFailed>()
        }
        yield* submit(request)
        yield* Effect.raceFirst(Deferred.await(request.done), failOnExit)
      })

    const historicalSync = Effect.gen(function* () {
      const request = {
        _tag: "Historical" as const,
        status: yield* Ref.make<RequestStatus>("pending"),
        accepted: yield* Deferred.make<void>()
      }
      yield* submit(request)
    })

    /** The next request still wanted by its caller. */
    const takeRequest: Effect.Effect<Request> = Effect.flatMap(Queue.take(requests), (request) =>
      Effect.flatMap(
        Ref.modify(request.status, (s): readonly [boolean, RequestStatus] =>
          s === "pending" ? [true, "accepted"] : [false, s]
        ),
        (accepted) => (accepted ? Effect.succeed(request) : takeRequest)
      )
    )

    /** GS-28. */
    const handleTransition = (to: SyncType): Effect.Effect<void, SyncTransitionFailed> =>
      Effect.gen(function* () {
        if ((yield* Ref.get(syncType)) === to) return
        const horizon = isActiveSync(to) ? yield* activeHorizon : ("passive" as const)
        yield* sendHorizon(horizon).pipe(
          Effect.mapError((e) => new SyncTransitionFailed({ peer: peerId, reason: e.reason }))
        )
        yield* Ref.set(syncType, to)
      })

    const handleRequest = (request: Request): Effect.Effect<void> => {
      if (request._tag === "Historical") {
        // GS-29: flag, state, and only then the acknowledgement
        return Effect.all(
          [
            Ref.set(historical, true),
            enter("syncingChans"),
            Deferred.succeed(request.accepted, undefined)
          ],
          { discard: true }
        )
      }
      return Effect.zipRight(
        Deferred.succeed(request.accepted, undefined),
        Effect.exit(handleTransition(request.to)).pipe(Effect.flatMap((exit) => Deferred.done(request.done, exit)))
      )
    }

    // --- waiting for the peer

    const nextEvent = (timeoutMillis: number | undefined): Effect.Effect<Option.Option<MachineEvent>> =>
      timeoutMillis === undefined
        ? Effect.map(Queue.take(events), Option.some)
        : Effect.timeoutOption(Queue.take(events), Duration.millis(Math.max(0, timeoutMillis)))

    const aborted = (reason: string) => Effect.fail(new SyncAborted({ reason }))
    const fromStore = <A, E extends { readonly _tag: string }>(what: string, effect: Effect.Effect<A, E>) =>
      Effect.mapError(effect, (e) => new SyncAborted({ reason: `${what}: ${e._tag}` }))

    // --- our historical sync (GS-8..22)

    /** GS-8/9/10/11: build and send the range query; GS-6: the waiting state is set before the send. */
    const sendRangeQuery = Effect.gen(function* () {
      yield* Queue.takeAll(events) // replies left over from an earlier query must not count for this one
      const highest = yield* fromStore("highest channel", store.highestChannelId)
      const start = queryStartHeight(
        yield* Ref.get(historical),
        Option.getOrUndefined(highest),
        settings.rangeQueryLookback
      )
      const best = yield* settings.bestHeight
      const query: QueryChannelRange = {
        _tag: "QueryChannelRange",
        chainHash,
        firstBlocknum: start,
        numberOfBlocks: queryNumBlocks(best, start),
        queryOption:
          extended && !settings.noTimestampQueries ? QUERY_OPTION_TIMESTAMPS | QUERY_OPTION_CHECKSUMS : undefined,
        unknownTlvs: []
      }
      const acc = newAccumulator(query)
      yield* Ref.set(rangeAcc, acc)
      yield* enter("waitingQueryRangeReply")
      yield* send(query)
      return acc
    })

    /** GS-12..19: reply_channel_range until the range is covered. */
    const collectRangeReplies = (acc: RangeReplyAccumulator) =>
      Effect.gen(function* () {
        while (true) {
          const event = yield* nextEvent(Option.getOrUndefined(replyTimeoutMillis))
          if (Option.isNone(event)) {
            return yield* aborted(`no reply_channel_range within ${Duration.format(Option.getOrThrow(settings.replyTimeout))}`)
          }
          const reply = event.value
          if (reply._tag !== "ReplyChannelRange") {
            yield* Effect.logDebug(`ignoring ${reply._tag} while waiting for reply_channel_range`) // GS-7
            continue
          }
          const outcome = acceptRangeReply(acc, reply, {
            maxReplies: settings.maxQueryReplies,
            maxScids: settings.maxReplyScids,
            staleAfterSeconds: settings.staleAfterSeconds,
            nowSeconds: yield* nowSeconds
          })
          if ("error" in outcome) {
            return yield* aborted(`reply_channel_range ${outcome.error.violation}: ${outcome.error.detail}`)
          }
          if (outcome.complete) return acc.infos
        }
      })

    /**
     * GS-20 (+ extended queries): what to fetch among the SCIDs the peer listed, and (extended) the known channels
     * with an endpoint whose node announcement we lack — e.g. a sync cut off between a channel and its nodes.
     */
    const selectWanted = (infos: ReadonlyArray<ChannelInfo>) =>
      Effect.gen(function* () {
        const byScid = new Map<ShortChannelId, ChannelInfo>()
        for (const info of infos) byScid.set(info.shortChannelId, info)
        const ids = [...byScid.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
        const now = yield* nowSeconds
        const window = settings.staleAfterSeconds
        const wanted: Array<Wanted> = []
        const missingNodes: Array<Announced> = []
        // each endpoint looked up once per sync (a mainnet graph: ~17k nodes behind ~108k channel ends)
        const lookedUp = new Set<string>()
        const lacking = new Set<string>()
        for (let at = 0; at < ids.length; at += STORE_LOOKUP_CHUNK) {
          const chunk = ids.slice(at, at + STORE_LOOKUP_CHUNK)
          const known = yield* fromStore("channel lookup", store.channels(chunk))
          if (extended && known.size > 0) {
            const fresh = new Map<string, PublicKey>()
            for (const c of known.values()) {
              for (const id of [c.nodeId1, c.nodeId2]) {
                const hex = toHex(id)
                if (!lookedUp.has(hex)) fresh.set(hex, id)
              }
            }
            if (fresh.size > 0) {
              const held = yield* fromStore("node lookup", store.nodes([...fresh.values()]))
              for (const hex of fresh.keys()) {
                lookedUp.add(hex)
                if ((held.get(hex)?.timestamp ?? 0) === 0) lacking.add(hex)
              }
            }
            if (lacking.size > 0) {
              for (const c of known.values()) {
                const [node1, node2] = [toHex(c.nodeId1), toHex(c.nodeId2)]
                if (lacking.has(node1) || lacking.has(node2)) missingNodes.push({ scid: c.shortChannelId, node1, node2 })
              }
            }
          }
          const unknown = chunk.filter((id) => !known.has(id))
          const zombies =
            unknown.length === 0 ? new Set<ShortChannelId>() : yield* fromStore("zombie lookup", store.zombies(unknown))
          for (const scid of chunk) {
            const info = byScid.get(scid)!
            const ours = known.get(scid)
            if (ours === undefined) {
              if (zombies.has(scid) && !revivesZombie(info, now, window)) continue
              wanted.push({ scid, flags: extended ? QUERY_FLAGS_ALL : undefined })
            } else if (extended) {
              const flags = refreshFlags(ours, info, now, window)
              if (flags !== 0n) wanted.push({ scid, flags })
            }
          }
        }
        return { wanted, missingNodes }
      })

    const newTracker = (wanted: ReadonlyArray<Wanted>, at: number, collectEndpoints = false): Tracker => ({
      scids: new Set(wanted.map((w) => w.scid)),
      pendingAnnouncements: new Set(
        wanted.filter((w) => w.flags === undefined || (w.flags & QUERY_FLAG_ANNOUNCEMENT) !== 0n).map((w) => w.scid)
      ),
      lastProgress: at,
      progressed: false,
      announced: collectEndpoints ? [] : undefined
    })

    /**
     * GS-22 + GS-51: wait for reply_short_channel_ids_end. Gossip for a queried channel postpones the deadline.
     * Returns false on timeout.
     */
    const awaitScidReplyEnd = (t: Tracker) =>
      Effect.gen(function* () {
        while (true) {
          let wait: number | undefined
          if (Option.isSome(replyTimeoutMillis)) {
            wait = t.lastProgress + replyTimeoutMillis.value - (yield* nowMillis)
            if (wait <= 0) return false
          }
          const event = yield* nextEvent(wait)
          if (Option.isNone(event)) continue
          if (event.value._tag === "ReplyShortChannelIdsEnd") return true
          yield* Effect.logDebug("ignoring reply_channel_range while waiting for reply_short_channel_ids_end") // GS-7
        }
      })

    /**
     * Beyond lnd: the peer did not answer a SCID query (LDK never does). Ask for its whole graph with
     * gossip_timestamp_filter(0, 0xFFFFFFFF), as CLN does with its first peer, and wait for the dump.
     */
    const dumpFallback = (
      wanted: ReadonlyArray<Wanted>,
      timeoutMillis: number,
      alreadyAnnounced: ReadonlySet<ShortChannelId>
    ) =>
      Effect.gen(function* () {
        yield* Ref.set(ignoresScidQueries, true)
        yield* Effect.logWarning(
          `no reply_short_channel_ids_end within ${timeoutMillis} ms: asking for a full dump instead (${wanted.length} channels wanted)`
        )
        const started = yield* nowMillis
        const t = newTracker(wanted, started)
        for (const scid of alreadyAnnounced) t.pendingAnnouncements.delete(scid)
        yield* Ref.set(tracker, t)
        yield* sendHorizon({ firstTimestamp: 0, timestampRange: U32_MAX })
        const quiet = Duration.toMillis(settings.dumpQuietPeriod)
        while (true) {
          const now = yield* nowMillis
          let wait: number
          if (t.progressed) {
            const quietFor = now - t.lastProgress
            if (t.pendingAnnouncements.size === 0 && quietFor >= quiet) break
            if (quietFor >= timeoutMillis) {
              yield* Effect.logWarning(
                `dump went quiet with ${t.pendingAnnouncements.size} wanted channel announcements missing`
              )
              break
            }
            wait = (t.pendingAnnouncements.size === 0 ? quiet : timeoutMillis) - quietFor
          } else {
            if (now - started >= timeoutMillis) {
              return yield* aborted(
                "no reply to query_short_channel_ids and no wanted gossip after gossip_timestamp_filter(0, 0xFFFFFFFF)"
              )
            }
            wait = timeoutMillis - (now - started)
          }
          // the router does not wake us on progress: look again at least every quiet period (no busy loop)
          yield* nextEvent(Math.min(wait, Math.max(quiet, 1000))) // drains stray replies too
        }
      }).pipe(
        // a passive syncer must not keep the dump horizon open (GS-26)
        Effect.ensuring(
          Effect.gen(function* () {
            yield* Ref.set(tracker, undefined)
            if (!isActiveSync(yield* Ref.get(syncType))) {
              yield* sendHorizon("passive").pipe(
                Effect.catchAll((e) => Effect.logWarning(`could not close the dump horizon: ${e.reason}`))
              )
            }
          })
        )
      )

    /**
     * Extended queries (beyond lnd): the node announcements of the channels announced in reply to the previous
     * query, each node asked for once per sync, by one of its channels. The responder dedupes node announcements
     * only within one reply (BOLT 7), so asking for them with every channel fetched a mainnet node once per batch
     * it has a channel in: ~54,000 node announcements for ~17,000 nodes, a fifth of the whole transfer. Endpoints
     * are unknown until a channel's announcement arrives, hence one query late.
     */
    const nodeEntries = (announced: ReadonlyArray<Announced>, asked: Set<string>, room: number): Array<Wanted> => {
      const out: Array<Wanted> = []
      const byScid = [...announced].sort((a, b) => (a.scid < b.scid ? -1 : a.scid > b.scid ? 1 : 0))
      for (const a of byScid) {
        if (out.length === room) break
        let flags = 0n
        if (!asked.has(a.node1)) flags |= QUERY_FLAG_NODE_1
        if (!asked.has(a.node2)) flags |= QUERY_FLAG_NODE_2
        if (flags === 0n) continue
        asked.add(a.node1).add(a.node2)
        out.push({ scid: a.scid, flags })
      }
      return out
    }

    /**
     * GS-21/22: one batch outstanding at a time. `missingNodes` (known channels lacking a node announcement) are
     * asked for after the channels, in node-only queries, so every query's scids stay ascending.
     */
    const queryChannels = (missingNodes: ReadonlyArray<Announced>) => Effect.gen(function* () {
      // nodes asked for in this sync (bounded by the channels accepted from the range replies, GS-16)
      const nodesAsked = new Set<string>()
      let announced: ReadonlyArray<Announced> = []
      let tail = 0
      while (true) {
        yield* enter("queryNewChannels")
        const { items, next } = yield* Ref.get(pending)
        // GS-21: node entries share the batch; they come from the previous batch, so the scids stay ascending
        const nodes = extended ? nodeEntries(announced, nodesAsked, settings.batchSize) : []
        const batch = items.slice(next, next + settings.batchSize - nodes.length)
        if (batch.length === 0 && nodes.length === 0) {
          if (tail >= missingNodes.length) return
          announced = missingNodes.slice(tail, tail + settings.batchSize)
          tail += settings.batchSize
          continue
        }
        yield* Ref.set(pending, { items, next: next + batch.length })
        const t = newTracker(batch, yield* nowMillis, extended)
        yield* Ref.set(tracker, t)
        const channelFlags = (w: Wanted): bigint => (w.flags ?? QUERY_FLAGS_ALL) & ~(QUERY_FLAG_NODE_1 | QUERY_FLAG_NODE_2)
        const query: QueryShortChannelIds = {
          _tag: "QueryShortChannelIds",
          chainHash,
          shortIds: { encoding: 0, ids: [...nodes.map((w) => w.scid), ...batch.map((w) => w.scid)] },
          queryFlags: extended
            ? { encoding: 0, flags: [...nodes.map((w) => w.flags ?? 0n), ...batch.map(channelFlags)] }
            : undefined,
          unknownTlvs: []
        }
        yield* enter("waitingQueryChanReply") // GS-21: before the send
        yield* send(query)
        const answered = yield* awaitScidReplyEnd(t)
        yield* Ref.set(tracker, undefined)
        announced = t.announced ?? []
        if (!answered && Option.isSome(replyTimeoutMillis)) {
          const rest = items.slice(next)
          const announced = new Set([...t.scids].filter((scid) => !t.pendingAnnouncements.has(scid)))
          yield* Ref.set(pending, { items: [], next: 0 })
          return yield* dumpFallback(rest, replyTimeoutMillis.value, announced)
        }
      }
    })

    const syncChannels = Effect.gen(function* () {
      // in a frame of its own: the range replies (a ChannelInfo per channel of the peer's graph) are garbage once the
      // wanted list is made, not live for the whole SCID phase
      const wanted = yield* Effect.gen(function* () {
        const acc = yield* sendRangeQuery
        const infos = yield* collectRangeReplies(acc)
        yield* Ref.set(rangeAcc, undefined) // GS-20: per-query state released before the next phase
        yield* enter("queryNewChannels")
        return yield* selectWanted(infos)
      })
      if (wanted.wanted.length === 0 && wanted.missingNodes.length === 0) return
      if (yield* Ref.get(ignoresScidQueries)) {
        return yield* aborted(
          `peer does not answer query_short_channel_ids (seen on this connection); ${wanted.wanted.length} channels not fetched`
        )
      }
      yield* Ref.set(pending, { items: wanted.wanted, next: 0 })
      yield* queryChannels(wanted.missingNodes)
    }).pipe(Effect.ensuring(releaseQueryState))

    const runSyncAndSettle = Effect.gen(function* () {
      const outcome = yield* Effect.either(syncChannels)
      if (outcome._tag === "Left") {
        const e = outcome.left
        if (e._tag === "SyncAborted") return yield* failSync(e.reason)
        return yield* Effect.fail(e)
      }
      // the graph reflects the sync before anyone is told it is done
      yield* pipeline.flush.pipe(Effect.catchAll((e) => Effect.logWarning(`pipeline flush failed: ${e._tag}`)))
      yield* options.markGraphSynced // GS-20/21, SM-20
      yield* enterChansSynced
    })

    const machine: Effect.Effect<never, PeerDisconnected> = Effect.gen(function* () {
      const initial = yield* SubscriptionRef.get(state)
      if (initial === "chansSynced") yield* enterChansSynced
      else if (initial !== "syncerIdle") yield* enter("syncingChans")
      while (true) {
        const current = yield* SubscriptionRef.get(state)
        if (current === "syncingChans") {
          yield* runSyncAndSettle
          continue
        }
        yield* handleRequest(yield* takeRequest) // GS-24: chansSynced/syncerIdle accept requests
      }
    })

    // --- answering the peer's queries (GS-31..41)

    const answerRange = (q: QueryChannelRange) =>
      Effect.gen(function* () {
        if (!sameChain(q.chainHash, chainHash)) {
          // GS-31
          return yield* send({
            _tag: "ReplyChannelRange",
            chainHash: q.chainHash,
            firstBlocknum: q.firstBlocknum,
            numberOfBlocks: q.numberOfBlocks,
            syncComplete: 0,
            shortIds: { encoding: 0, ids: [] },
            timestamps: undefined,
            checksums: undefined,
            unknownTlvs: []
          })
        }
        const last = lastBlockOf(q.firstBlocknum, q.numberOfBlocks) // GS-33
        const option = q.queryOption ?? 0n
        const withTimestamps = (option & QUERY_OPTION_TIMESTAMPS) !== 0n && !settings.noTimestampQueries // GS-32
        const withChecksums = (option & QUERY_OPTION_CHECKSUMS) !== 0n && !settings.noTimestampQueries
        const found =
          q.firstBlocknum > MAX_BLOCK
            ? ([] as ReadonlyArray<ChannelState>)
            : yield* store.channelRange(q.firstBlocknum, Math.min(last, MAX_BLOCK)).pipe(
                Effect.catchAll((e) =>
                  Effect.as(Effect.logWarning(`cannot answer query_channel_range: ${e._tag}`), undefined)
                )
              )
        const limit = chunkLimit(settings.chunkSize, withTimestamps, withChecksums) // GS-34
        const blocks = groupByBlock(found ?? [])
        // GS-35: an oversized block is sampled at random (Effect's Random), then re-sorted
        const samples = new Map<ReadonlyArray<ChannelState>, ReadonlyArray<ChannelState>>()
        for (const block of blocks) {
          if (block.length <= limit) continue
          const picked = Chunk.toReadonlyArray(yield* Random.shuffle(block)).slice(0, limit)
          samples.set(
            block,
            [...picked].sort((a, b) =>
              a.shortChannelId < b.shortChannelId ? -1 : a.shortChannelId > b.shortChannelId ? 1 : 0
            )
          )
        }
        const chunks = chunkReplies(q.firstBlocknum, last, blocks, limit, (block) => samples.get(block) ?? block)
        for (const c of chunks) {
          yield* send({
            _tag: "ReplyChannelRange",
            chainHash,
            firstBlocknum: c.firstBlock,
            numberOfBlocks: c.lastBlock - c.firstBlock + 1, // GS-36
            // a store failure still covers the range, but says our information is not complete
            syncComplete: c.complete && found !== undefined ? 1 : 0,
            shortIds: { encoding: 0, ids: c.channels.map((ch) => ch.shortChannelId) },
            timestamps: withTimestamps
              ? {
                  encoding: 0,
                  entries: c.channels.map((ch) => ({ timestamp1: ch.timestamp1, timestamp2: ch.timestamp2 }))
                }
              : undefined,
            checksums: withChecksums
              ? c.channels.map((ch) => ({ checksum1: ch.checksum1, checksum2: ch.checksum2 }))
              : undefined,
            unknownTlvs: []
          })
        }
      })

    /** BOLT 7 query_flags: which stored messages to send for each SCID; undefined = everything (GS-40). */
    const flagFilter = (q: QueryShortChannelIds) =>
      Effect.gen(function* () {
        const qf = q.queryFlags
        const ids = q.shortIds.ids
        if (qf === undefined) return undefined
        if (qf.flags.length !== ids.length) {
          yield* Effect.logWarning(`query_flags has ${qf.flags.length} entries for ${ids.length} scids: ignored`)
          return undefined
        }
        const flags = new Map<ShortChannelId, bigint>()
        for (let i = 0; i < ids.length; i++) flags.set(ids[i], qf.flags[i])
        const channels = yield* store.channels(ids)
        const nodes = new Set<string>()
        for (const [scid, f] of flags) {
          const c = channels.get(scid)
          if (c === undefined) continue
          if ((f & QUERY_FLAG_NODE_1) !== 0n) nodes.add(toHex(c.nodeId1))
          if ((f & QUERY_FLAG_NODE_2) !== 0n) nodes.add(toHex(c.nodeId2))
        }
        return (g: StoredGossip): boolean => {
          switch (g.kind) {
            case "ChannelAnnouncement": {
              const f = flags.get(announcementScid(g.raw))
              return f === undefined || (f & QUERY_FLAG_ANNOUNCEMENT) !== 0n
            }
            case "ChannelUpdate": {
              const f = flags.get(updateScid(g.raw))
              const bit = updateDirection(g.raw) === 0 ? QUERY_FLAG_UPDATE_1 : QUERY_FLAG_UPDATE_2
              return f === undefined || (f & bit) !== 0n
            }
            case "NodeAnnouncement":
              return nodes.has(nodeAnnouncementId(g.raw))
          }
        }
      })

    const answerScids = (q: QueryShortChannelIds) =>
      Effect.gen(function* () {
        const end = (chain: ChainHash, fullInformation: number): ReplyShortChannelIdsEnd => ({
          _tag: "ReplyShortChannelIdsEnd",
          chainHash: chain,
          fullInformation
        })
        if (!sameChain(q.chainHash, chainHash)) return yield* send(end(q.chainHash, 0)) // GS-38
        if (q.shortIds.ids.length === 0) return yield* send(end(chainHash, 1)) // GS-39 (port decision: BOLT)
        const served = yield* Effect.gen(function* () {
          const accept = yield* flagFilter(q)
          yield* store.gossipForChannels(q.shortIds.ids).pipe(
            // GS-40: each one through the limiters (paced per message, handed over a page at a time)
            Stream.runForEachChunk((page) => {
              const raws: Array<Uint8Array> = []
              for (const g of page) if (accept === undefined || accept(g)) raws.push(g.raw)
              return sendRawAll(raws)
            })
          )
        }).pipe(
          Effect.as(1),
          Effect.catchTag("GraphStoreError", (e) =>
            Effect.as(Effect.logWarning(`cannot answer query_short_channel_ids: ${String(e.cause)}`), 0)
          )
        )
        yield* send(end(chainHash, served))
      })

    const replyHandler: Effect.Effect<never, PeerDisconnected> = Effect.forever(
      Effect.flatMap(Queue.take(peerQueries), (q) =>
        q._tag === "QueryChannelRange" ? answerRange(q) : answerScids(q)
      )
    )

    // --- the peer's gossip_timestamp_filter (GS-42..45)

    /**
     * GS-44: the stored gossip in the window, pulled lazily and sent one by one. A store error ends the stream
     * (an Effect stream cannot resume past a failure), so it is logged and the backlog stops there.
     */
    const backlog = (start: number, end: number) =>
      Effect.scoped(
        Effect.gen(function* () {
          const pull = yield* Stream.toPull(store.gossipInHorizon(start, end))
          while (true) {
            const next = yield* Effect.either(pull)
            if (next._tag === "Left") {
              if (Option.isSome(next.left)) {
                yield* Effect.logWarning(`backlog stopped: ${next.left.value._tag}`)
              }
              return
            }
            yield* sendRawAll(Chunk.toReadonlyArray(next.right).map((g) => g.raw))
          }
        })
      )

    const applyFilter = (filter: GossipTimestampFilter, scope: Scope.Scope) =>
      Effect.gen(function* () {
        if (!sameChain(filter.chainHash, chainHash)) {
          return yield* Effect.logWarning("ignoring gossip_timestamp_filter for another chain")
        }
        const horizon: Horizon = { firstTimestamp: filter.firstTimestamp, timestampRange: filter.timestampRange }
        yield* Ref.set(remoteHorizon, Option.some(horizon)) // GS-43: live forwarding uses it at once
        if (settings.ignoreHistoricalFilters) return
        if (yield* Ref.get(backlogRunning)) {
          return yield* Effect.logDebug("backlog already running for this peer: new horizon stored, no new dump")
        }
        const start = filter.firstTimestamp
        const end = filter.firstTimestamp + filter.timestampRange // GS-45: no u32 wrap
        yield* Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            yield* restore(shared.filterSemaphore.take(1)) // SM-31
            yield* Ref.set(backlogRunning, true)
            yield* restore(backlog(start, end)).pipe(
              Effect.catchAll((e) => Effect.logDebug(`backlog ended: ${e._tag}`)),
              Effect.ensuring(Effect.zipRight(shared.filterSemaphore.release(1), Ref.set(backlogRunning, false))),
              Effect.forkIn(scope)
            )
          })
        )
      })

    const filterProcessor = (scope: Scope.Scope): Effect.Effect<never> =>
      Effect.forever(Effect.flatMap(Queue.take(filters), (f) => applyFilter(f, scope)))

    // --- live gossip to the peer (GS-46)

    const holdAnnouncement = (scid: ShortChannelId, raw: Uint8Array) => {
      heldAnnouncements.delete(scid)
      heldAnnouncements.set(scid, raw)
      if (heldAnnouncements.size > settings.maxHeldAnnouncements) {
        const oldest = heldAnnouncements.keys().next()
        if (oldest.done !== true) heldAnnouncements.delete(oldest.value)
      }
    }

    const forwardBatch = (batch: Chunk.Chunk<AcceptedGossip>) =>
      Effect.gen(function* () {
        const horizon = yield* Ref.get(remoteHorizon)
        if (Option.isNone(horizon)) return
        // SM-34: remote gossip received while the graph is not synced is not relayed
        if (options.isGraphSynced !== undefined && !(yield* options.isGraphSynced)) return
        const first = horizon.value.firstTimestamp
        const end = first + horizon.value.timestampRange
        const passes = (t: number) => t === first || (first < t && t < end)
        const items: Array<GossipMessage> = []
        for (const a of batch) if (a.fromPeer !== peerId) items.push(a.message) // never echo a peer's own gossip
        const batchUpdates = new Map<ShortChannelId, Array<number>>()
        for (const m of items) {
          if (m._tag !== "ChannelUpdate") continue
          const list = batchUpdates.get(m.shortChannelId)
          if (list === undefined) batchUpdates.set(m.shortChannelId, [m.timestamp])
          else list.push(m.timestamp)
        }
        for (const m of items) {
          switch (m._tag) {
            case "ChannelUpdate": {
              if (!passes(m.timestamp)) break
              const held = heldAnnouncements.get(m.shortChannelId)
              if (held !== undefined) {
                heldAnnouncements.delete(m.shortChannelId)
                yield* sendRaw(held)
              }
              yield* sendRaw(m.raw)
              break
            }
            case "NodeAnnouncement":
              if (passes(m.timestamp)) yield* sendRaw(m.raw)
              break
            case "ChannelAnnouncement": {
              const inBatch = batchUpdates.get(m.shortChannelId)
              if (inBatch !== undefined) {
                if (inBatch.some(passes)) yield* sendRaw(m.raw)
                break
              }
              const stored = yield* Effect.either(store.channels([m.shortChannelId]))
              if (stored._tag === "Left") break // lnd: skip on a lookup error
              const c = stored.right.get(m.shortChannelId)
              const t1 = c?.timestamp1 ?? 0
              const t2 = c?.timestamp2 ?? 0
              if (t1 === 0 && t2 === 0) holdAnnouncement(m.shortChannelId, m.raw)
              else if ((t1 !== 0 && passes(t1)) || (t2 !== 0 && passes(t2))) yield* sendRaw(m.raw)
              break
            }
          }
        }
      })

    const liveForwarder: Effect.Effect<never, PeerDisconnected> = Effect.scoped(
      Effect.gen(function* () {
        const accepted = yield* pipeline.accepted
        yield* Stream.runForEachChunk(accepted, forwardBatch)
        return yield* Effect.never
      })
    )

    // --- routing the peer's messages (GS-5)

    const noteProgress = (gossip: ReadonlyArray<GossipMessage>) =>
      Effect.gen(function* () {
        const t = yield* Ref.get(tracker)
        if (t === undefined) return
        let now: number | undefined
        for (const m of gossip) {
          if (m._tag === "NodeAnnouncement" || !t.scids.has(m.shortChannelId)) continue
          now ??= yield* nowMillis
          t.lastProgress = now
          t.progressed = true
          if (m._tag === "ChannelAnnouncement" && t.pendingAnnouncements.delete(m.shortChannelId)) {
            t.announced?.push({ scid: m.shortChannelId, node1: toHex(m.nodeId1), node2: toHex(m.nodeId2) })
          }
        }
      })

    const submitGossip = (gossip: Array<GossipMessage>) =>
      gossip.length === 0
        ? Effect.void
        : Effect.zipRight(noteProgress(gossip), pipeline.submit(peerId, gossip))

    const routeChunk = (chunk: Chunk.Chunk<Message>) =>
      Effect.gen(function* () {
        let gossip: Array<GossipMessage> = []
        for (const m of chunk) {
          if (isGossipMessage(m)) {
            gossip.push(m)
            continue
          }
          yield* submitGossip(gossip)
          gossip = []
          switch (m._tag) {
            case "QueryChannelRange":
            case "QueryShortChannelIds":
              yield* Queue.offer(peerQueries, m)
              break
            case "ReplyChannelRange":
            case "ReplyShortChannelIdsEnd": {
              const s = yield* SubscriptionRef.get(state)
              if (s === "waitingQueryRangeReply" || s === "waitingQueryChanReply") yield* Queue.offer(events, m)
              else yield* Effect.logWarning(`unexpected ${m._tag} in state ${s}: dropped`)
              break
            }
            case "GossipTimestampFilter":
              if (!(yield* Queue.offer(filters, m))) {
                yield* Effect.logDebug("gossip_timestamp_filter dropped: one already queued") // GS-42
              }
              break
            default:
              break // init, errors, warnings, unknown odd messages: not the syncer's business
          }
        }
        yield* submitGossip(gossip)
      })

    const router: Effect.Effect<void, PeerDisconnected> = Stream.runForEachChunk(peer.messages, routeChunk)

    // --- life

    const run: Effect.Effect<void, never, Scope.Scope> = Effect.gen(function* () {
      if (yield* Ref.getAndSet(started, true)) return // GS-4: idempotent
      yield* Effect.scoped(
        Effect.gen(function* () {
          const scope = yield* Effect.scope
          yield* Effect.addFinalizer(() =>
            Effect.all([Deferred.succeed(exited, undefined), releaseQueryState], { discard: true })
          )
          yield* Effect.raceFirst(
            router,
            Effect.raceFirst(
              machine,
              Effect.raceFirst(replyHandler, Effect.raceFirst(filterProcessor(scope), liveForwarder))
            )
          ).pipe(Effect.catchAll((e) => Effect.logInfo(`syncer stopping: ${e.reason}`)))
        })
      )
    }).pipe(Effect.annotateLogs({ service: "GossipSyncer", peer: peerId }))

    const syncer: GossipSyncer = {
      peer,
      syncType: Ref.get(syncType),
      state,
      processSyncTransition,
      historicalSync,
      resetSyncedSignal
    }

    const internals: GossipSyncerInternals = {
      bufferedScids: Effect.map(Ref.get(rangeAcc), (a) => a?.infos.length ?? 0),
      pendingScids: Effect.map(Ref.get(pending), (p) => p.items.length - p.next),
      localHorizon: Ref.get(localHorizon),
      remoteHorizon: Ref.get(remoteHorizon),
      ignoresScidQueries: Ref.get(ignoresScidQueries),
      backlogRunning: Ref.get(backlogRunning),
      lastFailure: Ref.get(lastFailure),
      heldAnnouncements: Effect.sync(() => heldAnnouncements.size)
    }

    return { syncer, run, internals }
  })

// ---------------------------------------------------------------------------------------------------------------
// The factory layer

/** SM-30/31: the global limiter and filter semaphore, made once per factory (shared by all its syncers). */
export const makeShared = (settings: GossipSyncerSettings): Effect.Effect<SyncerShared> =>
  Effect.gen(function* () {
    const globalLimiter = yield* RateLimiter.make({
      bytesPerSecond: settings.globalBytesPerSecond,
      burstBytes: settings.globalBurstBytes
    })
    const filterSemaphore = yield* Effect.makeSemaphore(settings.filterConcurrency)
    return { globalLimiter, filterSemaphore }
  })

/** `GossipSyncerFactory` from the config, the graph store and the gossip pipeline. */
export const layer: Layer.Layer<GossipSyncerFactory, never, GossipSyncerConfig | GraphStore | GossipPipeline> =
  Layer.effect(
    GossipSyncerFactory,
    Effect.gen(function* () {
      const settings = yield* GossipSyncerConfig
      const store = yield* GraphStore
      const pipeline = yield* GossipPipeline
      const shared = yield* makeShared(settings)
      const deps: SyncerDeps = { settings, store, pipeline, shared }
      return {
        make: (peer, options) =>
          Effect.map(makeGossipSyncer(peer, options, deps), ({ run, syncer }) => ({ syncer, run }))
      }
    })
  )
