/**
 * The router fiber (GS-5): the only consumer of `peer.messages`. Gossip goes to the pipeline (after noting progress
 * for the SCID query or dump in flight, GS-51); replies go to the state machine, and only while it is in a sync's
 * query states (otherwise dropped with a warning, as lnd does); queries go to the reply handler; filters to the filter
 * processor's queue of one (GS-42). Gossip is submitted in runs, flushed before any other message, so the order
 * the peer sent things in is the order the pipeline and the machine see them in. The bounded queues block the
 * router, and so the socket, when a consumer falls behind.
 *
 * Issue 18: while a query_short_channel_ids reply is in flight, gossip is held across socket chunks (`Held`, bounded
 * in messages and in bytes) and submitted at the bound, before the reply's end (or any other message) reaches the
 * machine, and when the stream ends. A rate-limited peer (lnd: 50 KiB/s) trickles its reply in a few messages per
 * chunk, and each run submitted on its own became a pipeline batch of its own — a store read, a signature round
 * trip and a write transaction for a handful of messages (bench:multipeer: ~2,000–7,000 batches for 36,552
 * messages). Held until the reply ends, a lease's reply is one batch. Progress is still noted as gossip arrives
 * (GS-51's deadline and the stall detection of shares.ts run from arrival, not from submission). Live gossip and
 * dumps (which end only by silence, and no timer decides here) go on at once, as before.
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

/** How much gossip of one SCID reply the router holds before submitting it (issue 18). */
export interface HoldBounds {
  /** Messages: the pipeline's default batch (`GossipPipelineConfig.batchSize`); more would not make a batch larger. */
  readonly messages: number
  /** Bytes of raw gossip (type included): what a peer's reply can make us hold, whatever its messages' sizes. */
  readonly bytes: number
}

/**
 * 2048 messages, 512 KiB: a batch's worth of mainnet gossip (~250 bytes a message on average). A rate-limited peer's
 * lease (shares.ts: ~2 s of its pace, ~100 KiB at 50 KiB/s) stays under both and goes whole; a fast peer's 500-SCID
 * reply is cut at 512 KiB.
 */
export const HOLD_BOUNDS: HoldBounds = { messages: 2048, bytes: 512 * 1024 }

/**
 * Gossip received and not yet submitted, in arrival order: the current run outside SCID replies, or what arrived
 * of the reply `tracker` watches. `noted` messages have had their progress noted (GS-51: on arrival).
 */
export class Held {
  messages: Array<GossipMessage> = []
  bytes = 0
  noted = 0
  tracker: Tracker | undefined = undefined
  /** The SCID query whose reply_short_channel_ids_end was handed on (the machine may not have cleared it yet). */
  ended: Tracker | undefined = undefined
  constructor(readonly bounds: HoldBounds) {}

  /**
   * The SCID query whose reply gossip is held for, given the installed tracker: none for a dump (its tracker has
   * `firstProgress`; a dump ends only by silence), and none once its end went by (gossip after it is live gossip).
   */
  replyOf(t: Tracker | undefined): Tracker | undefined {
    return t !== undefined && t.firstProgress === undefined && t !== this.ended ? t : undefined
  }

  /** Whether `m` fits beside what is held (an empty buffer takes anything: a message is at most 65,535 bytes). */
  fits(m: GossipMessage): boolean {
    return this.messages.length === 0 ||
      (this.messages.length < this.bounds.messages && this.bytes + m.raw.length <= this.bounds.bytes)
  }

  add(m: GossipMessage): void {
    this.messages.push(m)
    this.bytes += m.raw.length
  }

  /** At a bound: the next message would not fit, whatever it is. */
  get full(): boolean {
    return this.messages.length >= this.bounds.messages || this.bytes >= this.bounds.bytes
  }

  take(): Array<GossipMessage> {
    const out = this.messages
    this.messages = []
    this.bytes = 0
    this.noted = 0
    return out
  }
}

/** GS-51 for what arrived since the last note, against the query or dump it arrived under. */
const noteArrivals = (ctx: SyncerContext, held: Held, t: Tracker | undefined) =>
  Effect.suspend(() => {
    if (held.noted === held.messages.length) return Effect.void
    const fresh = held.noted === 0 ? held.messages : held.messages.slice(held.noted)
    held.noted = held.messages.length
    return t === undefined ? Effect.void : noteProgress(ctx, t, fresh)
  })

/** Submits what is held (its progress was noted as it arrived). */
const submitHeld = (ctx: SyncerContext, held: Held) =>
  Effect.suspend(() => (held.messages.length === 0 ? Effect.void : ctx.pipeline.submit(ctx.peerId, held.take())))

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

const routeChunk = (ctx: SyncerContext, held: Held, chunk: Chunk.Chunk<Message>) =>
  Effect.gen(function* () {
    // one array for the check and the loop (an array-backed chunk gives its own, no copy; Chunk.some copied it)
    const messages = Chunk.toReadonlyArray(chunk)
    const hasGossip = messages.some(isGossipMessage)
    if (hasGossip) yield* runStarts(ctx)
    yield* routeMessages(ctx, held, messages)
    if (hasGossip) yield* runEnds(ctx)
  })

const routeMessages = (ctx: SyncerContext, held: Held, messages: ReadonlyArray<Message>) =>
  Effect.gen(function* () {
    const t = yield* Ref.get(ctx.tracker)
    let scidReply = held.replyOf(t)
    // the reply the held gossip arrived in is over for the machine (ended, revoked, timed out): it goes on now
    if (held.tracker !== scidReply) yield* submitHeld(ctx, held)
    held.tracker = scidReply
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]
      if (isGossipMessage(m)) {
        if (!held.fits(m)) {
          yield* noteArrivals(ctx, held, t)
          yield* submitHeld(ctx, held)
        }
        held.add(m)
        continue
      }
      yield* noteArrivals(ctx, held, t)
      yield* submitHeld(ctx, held)
      switch (m._tag) {
        case "QueryChannelRange":
        case "QueryShortChannelIds":
          yield* Queue.offer(ctx.peerQueries, m)
          break
        case "ReplyChannelRange":
        case "ReplyShortChannelIdsEnd": {
          if (m._tag === "ReplyShortChannelIdsEnd" && scidReply !== undefined) {
            // what follows it (in this chunk or before the machine clears the tracker) is not the reply's
            held.ended = scidReply
            held.tracker = scidReply = undefined
          }
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
    yield* noteArrivals(ctx, held, t)
    // outside an SCID reply, a chunk's last run goes on at once (live gossip, dumps: as ever); inside, at the bound
    if (scidReply === undefined || held.full) yield* submitHeld(ctx, held)
  })

/**
 * The fiber: ends when the peer's message stream ends (disconnect), after submitting what it held. Interrupted, it
 * submits nothing (its syncer is being stopped: a submit could wait on the pipeline's backpressure).
 */
export const router = (ctx: SyncerContext, bounds: HoldBounds = HOLD_BOUNDS): Effect.Effect<void, PeerDisconnected> =>
  Effect.suspend(() => {
    const held = new Held(bounds)
    return Effect.flatMap(
      Effect.exit(Stream.runForEachChunk(ctx.peer.messages, (chunk) => routeChunk(ctx, held, chunk))),
      (exit) => Effect.zipRight(submitHeld(ctx, held), exit)
    )
  })
