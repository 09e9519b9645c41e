/**
 * The live forwarder fiber (GS-46, lnd's `FilterGossipMsgs`): every batch the pipeline accepted, from any peer, is
 * sent to this peer if it passes the peer's filter (remote horizon, GS-43). Never the peer's own gossip back to it;
 * nothing while our graph is not synced (SM-34: it is mostly the dump we are catching up on).
 *
 * Port decision: a channel_announcement with no channel_update known is held (bounded, oldest dropped) and sent
 * just before its first update that passes the filter — BOLT 7 says never to send an announcement without one.
 */
import { Effect, Option, Ref, Stream } from "effect"
import type { Chunk } from "effect"
import type { GossipMessage } from "../../../domain/Messages.js"
import type { ShortChannelId } from "../../../domain/ShortChannelId.js"
import type { AcceptedGossip } from "../../GossipPipeline.js"
import type { PeerDisconnected } from "../../Peer.js"
import type { SyncerContext } from "./context.js"
import { sendRaw } from "./outbound.js"

const holdAnnouncement = (ctx: SyncerContext, scid: ShortChannelId, raw: Uint8Array): void => {
  const held = ctx.heldAnnouncements
  held.delete(scid)
  held.set(scid, raw)
  if (held.size > ctx.settings.maxHeldAnnouncements) {
    const oldest = held.keys().next()
    if (oldest.done !== true) held.delete(oldest.value)
  }
}

const forwardBatch = (ctx: SyncerContext, batch: Chunk.Chunk<AcceptedGossip>) =>
  Effect.gen(function* () {
    const horizon = yield* Ref.get(ctx.remoteHorizon)
    if (Option.isNone(horizon)) return
    // SM-34: remote gossip received while the graph is not synced is not relayed
    const isGraphSynced = ctx.options.isGraphSynced
    if (isGraphSynced !== undefined && !(yield* isGraphSynced)) return
    const first = horizon.value.firstTimestamp
    const end = first + horizon.value.timestampRange
    const passes = (t: number) => t === first || (first < t && t < end)
    const items: Array<GossipMessage> = []
    for (const a of batch) if (a.fromPeer !== ctx.peerId) items.push(a.message) // never echo a peer's own gossip
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
          const held = ctx.heldAnnouncements.get(m.shortChannelId)
          if (held !== undefined) {
            ctx.heldAnnouncements.delete(m.shortChannelId)
            yield* sendRaw(ctx, held)
          }
          yield* sendRaw(ctx, m.raw)
          break
        }
        case "NodeAnnouncement":
          if (passes(m.timestamp)) yield* sendRaw(ctx, m.raw)
          break
        case "ChannelAnnouncement": {
          const inBatch = batchUpdates.get(m.shortChannelId)
          if (inBatch !== undefined) {
            if (inBatch.some(passes)) yield* sendRaw(ctx, m.raw)
            break
          }
          const stored = yield* Effect.either(ctx.store.channels([m.shortChannelId]))
          if (stored._tag === "Left") break // lnd: skip on a lookup error
          const c = stored.right.get(m.shortChannelId)
          const t1 = c?.timestamp1 ?? 0
          const t2 = c?.timestamp2 ?? 0
          if (t1 === 0 && t2 === 0) holdAnnouncement(ctx, m.shortChannelId, m.raw)
          else if ((t1 !== 0 && passes(t1)) || (t2 !== 0 && passes(t2))) yield* sendRaw(ctx, m.raw)
          break
        }
      }
    }
  })

/** The fiber: subscribes to the pipeline's accepted gossip for the syncer's life. */
export const liveForwarder = (ctx: SyncerContext): Effect.Effect<never, PeerDisconnected> =>
  Effect.scoped(
    Effect.gen(function* () {
      const accepted = yield* ctx.pipeline.accepted
      yield* Stream.runForEachChunk(accepted, (batch) => forwardBatch(ctx, batch))
      return yield* Effect.never
    })
  )
