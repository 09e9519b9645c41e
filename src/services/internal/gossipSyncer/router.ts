/**
 * The router fiber (GS-5): the only consumer of `peer.messages`. Gossip goes to the pipeline (after noting progress
 * for the SCID query or dump in flight, GS-51); replies go to the state machine, and only while it is in a sync's
 * query states (otherwise dropped with a warning, as lnd does); queries go to the reply handler; filters to the filter
 * processor's queue of one (GS-42). Gossip is submitted in runs, flushed before any other message, so the order
 * the peer sent things in is the order the pipeline and the machine see them in. The bounded queues block the
 * router, and so the socket, when a consumer falls behind.
 */
import { Chunk, Deferred, Effect, Queue, Ref, Stream, SubscriptionRef } from "effect"
import { toHex } from "../../../domain/Hex.js"
import type { GossipMessage, Message } from "../../../domain/Messages.js"
import { isGossipMessage } from "../../../domain/Messages.js"
import type { PeerDisconnected } from "../../Peer.js"
import type { SyncerContext, Tracker } from "./context.js"
import { nowMillis } from "./context.js"

/**
 * GS-51: gossip for a queried channel, or a requested node's announcement, is progress; a queried announcement also
 * names its endpoints. Counted for the sync's account (`SyncCounts`): what arrives while a query or dump is out.
 */
const noteProgress = (ctx: SyncerContext, t: Tracker, gossip: ReadonlyArray<GossipMessage>) =>
  Effect.gen(function* () {
    let now: number | undefined
    for (const m of gossip) {
      if (m._tag === "NodeAnnouncement") {
        ctx.counts.nodesReceived++
        if (t.nodesPending.size === 0 || !t.nodesPending.delete(toHex(m.nodeId))) continue
      } else if (!t.scids.has(m.shortChannelId)) continue
      else if (m._tag === "ChannelUpdate") ctx.counts.updatesReceived++
      else ctx.counts.channelsReceived++
      now ??= yield* nowMillis
      t.lastProgress = now
      if (!t.progressed && t.firstProgress !== undefined) yield* Deferred.succeed(t.firstProgress, undefined)
      t.progressed = true
      if (m._tag === "ChannelAnnouncement" && t.pendingAnnouncements.delete(m.shortChannelId)) {
        t.announced?.push({
          scid: m.shortChannelId,
          node1: toHex(m.nodeId1),
          node2: toHex(m.nodeId2),
          id1: m.nodeId1,
          id2: m.nodeId2
        })
      }
    }
  })

const submitGossip = (ctx: SyncerContext, gossip: Array<GossipMessage>) =>
  gossip.length === 0
    ? Effect.void
    : Effect.gen(function* () {
      const t = yield* Ref.get(ctx.tracker)
      if (t !== undefined) yield* noteProgress(ctx, t, gossip)
      yield* ctx.pipeline.submit(ctx.peerId, gossip)
    })

/**
 * The dump's pace (issue 13 item 5): the wait for the peer before a run of gossip, measured from the end of the
 * previous run (so our own pipeline's backpressure is not counted as the peer's silence).
 */
const runStarts = (ctx: SyncerContext) =>
  Effect.gen(function* () {
    const t = yield* Ref.get(ctx.tracker)
    if (t === undefined) return
    if (t.heard) t.maxGap = Math.max(t.maxGap, (yield* nowMillis) - t.lastHeard)
    t.routing = true
  })

const runEnds = (ctx: SyncerContext) =>
  Effect.gen(function* () {
    const t = yield* Ref.get(ctx.tracker)
    if (t === undefined) return
    t.lastHeard = yield* nowMillis
    t.heard = true
    t.routing = false
  })

const routeChunk = (ctx: SyncerContext, chunk: Chunk.Chunk<Message>) =>
  Effect.gen(function* () {
    const hasGossip = Chunk.some(chunk, isGossipMessage)
    if (hasGossip) yield* runStarts(ctx)
    yield* routeMessages(ctx, chunk)
    if (hasGossip) yield* runEnds(ctx)
  })

const routeMessages = (ctx: SyncerContext, chunk: Chunk.Chunk<Message>) =>
  Effect.gen(function* () {
    let gossip: Array<GossipMessage> = []
    for (const m of chunk) {
      if (isGossipMessage(m)) {
        gossip.push(m)
        continue
      }
      yield* submitGossip(ctx, gossip)
      gossip = []
      switch (m._tag) {
        case "QueryChannelRange":
        case "QueryShortChannelIds":
          yield* Queue.offer(ctx.peerQueries, m)
          break
        case "ReplyChannelRange":
        case "ReplyShortChannelIdsEnd": {
          const s = yield* SubscriptionRef.get(ctx.state)
          // queryNewChannels too: between two SCID batches the machine still reads its queue (the reply to a
          // first-answer probe may land there, scidQueries.ts); leftovers are dropped before the next range query
          if (
            s === "waitingQueryRangeReply" || s === "waitingQueryChanReply" || s === "queryNewChannels" ||
            (yield* Ref.get(ctx.helping)) // issue 18: a lease of another syncer's pool (shares.ts)
          ) {
            yield* Queue.offer(ctx.events, m)
          } else yield* Effect.logWarning(`unexpected ${m._tag} in state ${s}: dropped`)
          break
        }
        case "GossipTimestampFilter":
          if (!(yield* Queue.offer(ctx.filters, m))) {
            yield* Effect.logDebug("gossip_timestamp_filter dropped: one already queued") // GS-42
          }
          break
        default:
          break // init, errors, warnings, unknown odd messages: not the syncer's business
      }
    }
    yield* submitGossip(ctx, gossip)
  })

/** The fiber: ends when the peer's message stream ends (disconnect). */
export const router = (ctx: SyncerContext): Effect.Effect<void, PeerDisconnected> =>
  Stream.runForEachChunk(ctx.peer.messages, (chunk) => routeChunk(ctx, chunk))
