/**
 * Our historical sync, the range phase (GS-8..20): send `query_channel_range`, take the peer's `reply_channel_range`
 * stream until the range is covered (coverage rules in rules.ts), deciding with each reply what to fetch — unknown
 * channels, known ones the peer has newer/different updates for (extended queries), and known channels missing a
 * node announcement — and hand that to the SCID phase (scidQueries.ts). The wanted SCIDs go into the sync's pool
 * reply by reply (shares.ts): during the initial sync other peers start fetching them while the range replies are
 * still coming (issue 18). Any failure is a SyncAborted the machine settles (GS-17); per-query state is released on
 * every exit.
 */
import { Duration, Effect, Option, Queue, Ref } from "effect"
import { toHex } from "../../../domain/Hex.js"
import type { PublicKey, QueryChannelRange } from "../../../domain/Messages.js"
import * as ShortChannelId from "../../../domain/ShortChannelId.js"
import type { PeerDisconnected } from "../../Peer.js"
import type { Announced, SyncAborted, SyncerContext, Wanted } from "./context.js"
import { aborted, enter, fromStore, nextEvent, nowSeconds, releaseQueryState } from "./context.js"
import { send, sendHorizon } from "./outbound.js"
import type { ChannelInfo, RangeReplyAccumulator } from "./rules.js"
import {
  acceptedCount,
  acceptRangeReply,
  newAccumulator,
  QUERY_FLAGS_ALL,
  QUERY_OPTION_CHECKSUMS,
  QUERY_OPTION_TIMESTAMPS,
  queryNumBlocks,
  queryStartHeight,
  refreshFlags,
  revivesZombie,
  takeInfos
} from "./rules.js"
import { dumpFallback, lookUpNodes, queryChannels } from "./scidQueries.js"
import type { SharePool } from "./shares.js"
import * as Shares from "./shares.js"

/** How long a dump may take to bring its first wanted message when no reply timeout is configured (lnd mode). */
const DEFAULT_DUMP_WAIT_MILLIS = 120_000

/** Channels looked up in the store per call while selecting what to fetch. */
const STORE_LOOKUP_CHUNK = 8000

/** GS-8/9/10/11: build and send the range query; GS-6: the waiting state is set before the send. */
const sendRangeQuery = (ctx: SyncerContext) =>
  Effect.gen(function* () {
    const { settings } = ctx
    yield* Queue.takeAll(ctx.events) // replies left over from an earlier query must not count for this one
    const highest = yield* fromStore("highest channel", ctx.store.highestChannelId)
    const start = queryStartHeight(
      yield* Ref.get(ctx.historical),
      Option.getOrUndefined(highest),
      settings.rangeQueryLookback
    )
    const best = settings.bestHeight === undefined ? undefined : yield* settings.bestHeight
    const query: QueryChannelRange = {
      _tag: "QueryChannelRange",
      chainHash: ctx.chainHash,
      firstBlocknum: start,
      numberOfBlocks: queryNumBlocks(best, start),
      queryOption: ctx.extended && !settings.noTimestampQueries
        ? QUERY_OPTION_TIMESTAMPS | QUERY_OPTION_CHECKSUMS
        : undefined,
      unknownTlvs: []
    }
    const acc = newAccumulator(query)
    yield* Ref.set(ctx.rangeAcc, acc)
    yield* enter(ctx, "waitingQueryRangeReply")
    yield* send(ctx, query)
    return acc
  })

/**
 * GS-20 (+ extended queries) for one reply's channels: what to fetch among the SCIDs the peer listed, and
 * (extended) the known channels with an endpoint whose node announcement we lack — e.g. a sync cut off between a
 * channel and its nodes. Only the endpoints that lack one are asked for, each by one channel, and never one this
 * peer was already asked for on this connection and did not deliver (issue 13 item 6: a peer that has no
 * announcement for a node is not asked again at every historical sync). The pool's `nodeLacks` records every
 * endpoint looked up (hex → lacks an announcement), for the SCID phase; `covered`, the lacking endpoints already
 * given a channel to be asked by.
 */
const selectWanted = (
  ctx: SyncerContext,
  infos: ReadonlyArray<ChannelInfo>,
  nodeLacks: Map<string, boolean>,
  covered: Set<string>
) =>
  Effect.gen(function* () {
    const { extended, store } = ctx
    const now = yield* nowSeconds
    const window = ctx.settings.staleAfterSeconds
    const wanted: Array<Wanted> = []
    const missingNodes: Array<Announced> = []
    const lacks = (hex: string) => nodeLacks.get(hex) === true && !ctx.nodesNotDelivered.has(hex)
    for (let at = 0; at < infos.length; at += STORE_LOOKUP_CHUNK) {
      const chunk = infos.slice(at, at + STORE_LOOKUP_CHUNK)
      const known = yield* fromStore("channel lookup", store.channels(chunk.map((i) => i.shortChannelId)))
      if (extended && known.size > 0) {
        const fresh = new Map<string, PublicKey>()
        for (const c of known.values()) {
          for (const id of [c.nodeId1, c.nodeId2]) {
            const hex = toHex(id)
            if (!nodeLacks.has(hex)) fresh.set(hex, id)
          }
        }
        yield* lookUpNodes(ctx, fresh, nodeLacks)
        for (const c of known.values()) {
          const [node1, node2] = [toHex(c.nodeId1), toHex(c.nodeId2)]
          const ask1 = lacks(node1) && !covered.has(node1)
          const ask2 = lacks(node2) && !covered.has(node2)
          if (!ask1 && !ask2) continue
          if (ask1) covered.add(node1)
          if (ask2) covered.add(node2)
          missingNodes.push({ scid: c.shortChannelId, node1, node2, id1: c.nodeId1, id2: c.nodeId2 })
        }
      }
      const unknown = chunk.filter((i) => !known.has(i.shortChannelId)).map((i) => i.shortChannelId)
      const zombies = unknown.length === 0
        ? new Set<ShortChannelId.ShortChannelId>()
        : yield* fromStore("zombie lookup", store.zombies(unknown))
      for (const info of chunk) {
        const scid = info.shortChannelId
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

/**
 * GS-12..19: reply_channel_range until the range is covered; GS-20 with each reply: the channels it lists (SCIDs
 * ascend strictly across a stream, rules.ts, so each is seen once) are selected and published to `pool` at once.
 * Returns the known channels lacking a node announcement, for the end of the SCID phase.
 */
const collectRangeReplies = (ctx: SyncerContext, acc: RangeReplyAccumulator, pool: SharePool) =>
  Effect.gen(function* () {
    const { settings } = ctx
    const missingNodes: Array<Announced> = []
    const covered = new Set<string>()
    while (true) {
      const event = yield* nextEvent(ctx, Option.getOrUndefined(ctx.replyTimeoutMillis))
      if (Option.isNone(event)) {
        return yield* aborted(
          `no reply_channel_range within ${Duration.format(Option.getOrThrow(settings.replyTimeout))}`
        )
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
      if (acc.infos.length > 0) {
        const picked = yield* selectWanted(ctx, takeInfos(acc), pool.nodeLacks, covered)
        for (const m of picked.missingNodes) missingNodes.push(m)
        yield* Shares.publish(ctx.shared.board, pool, picked.wanted)
        ctx.counts.channelsRequested = pool.items.length
        // issue 16: progress is known from the first reply
        yield* Ref.set(ctx.announced, Option.some(acceptedCount(acc)))
      }
      if (outcome.complete) return missingNodes
    }
  })

/** One historical sync, range phase then SCID phase (GS-8..22). */
export const syncChannels = (ctx: SyncerContext): Effect.Effect<void, SyncAborted | PeerDisconnected> =>
  Effect.gen(function* () {
    if (!ctx.peer.gossipQueries) {
      // BOLT 7 (gossip_queries assumed since 2024): no query_* to a peer that does not offer it; its filter is the
      // "no gossip" one (sent by sendHorizon for such a peer)
      if (Option.isNone(yield* Ref.get(ctx.localHorizon))) yield* sendHorizon(ctx, "passive")
      return yield* aborted("peer does not offer gossip_queries (BOLT 7): no range or SCID queries sent")
    }
    // issue 18: shared with the other peers only while the graph is not synced (the initial sync, SM-17): a later
    // sync asks this peer for what this peer listed
    const graphSynced = ctx.options.isGraphSynced === undefined || (yield* ctx.options.isGraphSynced)
    const pool = yield* Shares.makePool(ctx.peerId, ctx.extended, !graphSynced, ctx.counts)
    yield* Ref.set(ctx.pool, pool)
    const acc = yield* sendRangeQuery(ctx)
    yield* Shares.open(ctx.shared.board, pool)
    const missingNodes = yield* collectRangeReplies(ctx, acc, pool)
    yield* Ref.set(ctx.rangeAcc, undefined) // GS-20: per-query state released before the next phase
    yield* Shares.markComplete(pool)
    yield* enter(ctx, "queryNewChannels")
    if (pool.items.length === 0 && missingNodes.length === 0) return
    if (yield* Ref.get(ctx.ignoresScidQueries)) {
      if (pool.items.length === 0) return // only node announcements missing: best effort, not a failure
      if (!(yield* Ref.get(ctx.dumpTaken))) {
        // found out while helping another peer's initial sync (issue 18): its dump was never asked for, so ask now
        const timeoutMillis = Option.getOrElse(ctx.replyTimeoutMillis, () => DEFAULT_DUMP_WAIT_MILLIS)
        return yield* dumpFallback(
          ctx,
          pool.items,
          timeoutMillis,
          new Set(),
          "the peer ignores query_short_channel_ids"
        )
      }
      return yield* aborted(
        `peer does not answer query_short_channel_ids (seen on this connection); ${pool.items.length} channels not fetched`
      )
    }
    yield* queryChannels(ctx, pool, missingNodes)
  }).pipe(Effect.ensuring(releaseQueryState(ctx)))
