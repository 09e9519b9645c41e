/**
 * Our historical sync, the SCID phase (GS-21/22, GS-51): `query_short_channel_ids` in batches, one outstanding at a
 * time, each waited for until `reply_short_channel_ids_end`. The router reports gossip for the queried channels
 * into the installed Tracker, which postpones the reply deadline (a big batch may take long to arrive).
 *
 * A peer that never ends a SCID reply (LDK ignores these queries) gets the fallback: a full-dump
 * `gossip_timestamp_filter(0, 0xFFFFFFFF)`, as CLN does with its first peer, watched until it has delivered what we
 * wanted or gone quiet. The peer is remembered as ignoring SCID queries for this connection.
 */
import { Duration, Effect, Option, Ref } from "effect"
import type { QueryShortChannelIds } from "../../../domain/Messages.js"
import * as ShortChannelId from "../../../domain/ShortChannelId.js"
import type { PeerDisconnected } from "../../Peer.js"
import type { Announced, SyncAborted, SyncerContext, Tracker, Wanted } from "./context.js"
import { aborted, enter, nextEvent, nowMillis } from "./context.js"
import { send, sendHorizon } from "./outbound.js"
import {
  isActiveSync,
  QUERY_FLAG_ANNOUNCEMENT,
  QUERY_FLAG_NODE_1,
  QUERY_FLAG_NODE_2,
  QUERY_FLAGS_ALL,
  U32_MAX
} from "./rules.js"

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
const awaitScidReplyEnd = (ctx: SyncerContext, t: Tracker) =>
  Effect.gen(function* () {
    while (true) {
      let wait: number | undefined
      if (Option.isSome(ctx.replyTimeoutMillis)) {
        wait = t.lastProgress + ctx.replyTimeoutMillis.value - (yield* nowMillis)
        if (wait <= 0) return false
      }
      const event = yield* nextEvent(ctx, wait)
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
  ctx: SyncerContext,
  wanted: ReadonlyArray<Wanted>,
  timeoutMillis: number,
  alreadyAnnounced: ReadonlySet<ShortChannelId.ShortChannelId>
): Effect.Effect<void, SyncAborted | PeerDisconnected> =>
  Effect.gen(function* () {
    yield* Ref.set(ctx.ignoresScidQueries, true)
    yield* Effect.logWarning(
      `no reply_short_channel_ids_end within ${timeoutMillis} ms: asking for a full dump instead (${wanted.length} channels wanted)`
    )
    const started = yield* nowMillis
    const t = newTracker(wanted, started)
    for (const scid of alreadyAnnounced) t.pendingAnnouncements.delete(scid)
    yield* Ref.set(ctx.tracker, t)
    yield* sendHorizon(ctx, { firstTimestamp: 0, timestampRange: U32_MAX })
    const quiet = Duration.toMillis(ctx.settings.dumpQuietPeriod)
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
      yield* nextEvent(ctx, Math.min(wait, Math.max(quiet, 1000))) // drains stray replies too
    }
  }).pipe(
    // a passive syncer must not keep the dump horizon open (GS-26)
    Effect.ensuring(
      Effect.gen(function* () {
        yield* Ref.set(ctx.tracker, undefined)
        if (!isActiveSync(yield* Ref.get(ctx.syncType))) {
          yield* sendHorizon(ctx, "passive").pipe(
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
  const byScid = [...announced].sort((a, b) => ShortChannelId.compare(a.scid, b.scid))
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

const channelFlags = (w: Wanted): bigint => (w.flags ?? QUERY_FLAGS_ALL) & ~(QUERY_FLAG_NODE_1 | QUERY_FLAG_NODE_2)

/**
 * GS-21/22: one batch outstanding at a time, taken from `ctx.pending`. `missingNodes` (known channels lacking a
 * node announcement) are asked for after the channels, in node-only queries, so every query's scids stay ascending.
 */
export const queryChannels = (
  ctx: SyncerContext,
  missingNodes: ReadonlyArray<Announced>
): Effect.Effect<void, SyncAborted | PeerDisconnected> =>
  Effect.gen(function* () {
    const { extended, settings } = ctx
    // nodes asked for in this sync (bounded by the channels accepted from the range replies, GS-16)
    const nodesAsked = new Set<string>()
    let announced: ReadonlyArray<Announced> = []
    let tail = 0
    while (true) {
      yield* enter(ctx, "queryNewChannels")
      const { items, next } = yield* Ref.get(ctx.pending)
      // GS-21: node entries share the batch; they come from the previous batch, so the scids stay ascending
      const nodes = extended ? nodeEntries(announced, nodesAsked, settings.batchSize) : []
      const batch = items.slice(next, next + settings.batchSize - nodes.length)
      if (batch.length === 0 && nodes.length === 0) {
        if (tail >= missingNodes.length) return
        announced = missingNodes.slice(tail, tail + settings.batchSize)
        tail += settings.batchSize
        continue
      }
      yield* Ref.set(ctx.pending, { items, next: next + batch.length })
      const t = newTracker(batch, yield* nowMillis, extended)
      yield* Ref.set(ctx.tracker, t)
      const query: QueryShortChannelIds = {
        _tag: "QueryShortChannelIds",
        chainHash: ctx.chainHash,
        shortIds: { encoding: 0, ids: [...nodes.map((w) => w.scid), ...batch.map((w) => w.scid)] },
        queryFlags: extended
          ? { encoding: 0, flags: [...nodes.map((w) => w.flags ?? 0n), ...batch.map(channelFlags)] }
          : undefined,
        unknownTlvs: []
      }
      yield* enter(ctx, "waitingQueryChanReply") // GS-21: before the send
      yield* send(ctx, query)
      const answered = yield* awaitScidReplyEnd(ctx, t)
      yield* Ref.set(ctx.tracker, undefined)
      announced = t.announced ?? []
      if (!answered && Option.isSome(ctx.replyTimeoutMillis)) {
        const rest = items.slice(next)
        const alreadyAnnounced = new Set([...t.scids].filter((scid) => !t.pendingAnnouncements.has(scid)))
        yield* Ref.set(ctx.pending, { items: [], next: 0 })
        return yield* dumpFallback(ctx, rest, ctx.replyTimeoutMillis.value, alreadyAnnounced)
      }
    }
  })
