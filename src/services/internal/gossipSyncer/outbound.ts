/**
 * Everything a syncer sends goes through here (GS-37/48): each message first waits for the per-peer then the global
 * byte bucket, then for the peer's outbound queue, so a busy peer or a busy node slows the sender instead of
 * buffering. Our own `gossip_timestamp_filter` (GS-23/25/26) is sent and recorded here too, since the machine, the
 * transitions and the LDK fallback all change it.
 */
import { Effect, Option, Ref } from "effect"
import type { GossipTimestampFilter, Message } from "../../../domain/Messages.js"
import type { PeerDisconnected } from "../../Peer.js"
import * as RateLimiter from "../../RateLimiter.js"
import type { Horizon, SyncerContext } from "./context.js"
import { nowSeconds } from "./context.js"
import { isActiveSync, PASSIVE_FILTER, U32_MAX, wireSize } from "./rules.js"

export const send = (ctx: SyncerContext, message: Message): Effect.Effect<void, PeerDisconnected> =>
  Effect.zipRight(ctx.limiter.take(wireSize(message)), ctx.peer.send(message))

export const sendRaw = (ctx: SyncerContext, raw: Uint8Array): Effect.Effect<void, PeerDisconnected> =>
  Effect.zipRight(ctx.limiter.take(raw.length), ctx.peer.sendRaw(raw))

/** GS-40/48: stored messages in order, each paced through the limiters as `sendRaw` would, in few effects. */
export const sendRawAll = (
  ctx: SyncerContext,
  raws: ReadonlyArray<Uint8Array>
): Effect.Effect<void, PeerDisconnected> => {
  if (raws.length === 0) return Effect.void
  const peer = ctx.peer
  const emitRaw = peer.sendRawAll ??
    ((all: ReadonlyArray<Uint8Array>) => Effect.forEach(all, peer.sendRaw, { discard: true }))
  return RateLimiter.paceAll(ctx.limiter, raws, (r) => r.length, emitRaw)
}

const timestampFilter = (
  ctx: SyncerContext,
  firstTimestamp: number,
  timestampRange: number
): GossipTimestampFilter => ({
  _tag: "GossipTimestampFilter",
  chainHash: ctx.chainHash,
  firstTimestamp,
  timestampRange
})

/**
 * GS-25/26: sends our horizon and records it (a passive "no gossip" filter clears it). BOLT 7: a peer that does not
 * offer gossip_queries only ever gets `gossip_timestamp_filter(0xFFFFFFFF, 0)`, recorded as its horizon so it is
 * sent once.
 */
export const sendHorizon = (ctx: SyncerContext, horizon: Horizon | "passive"): Effect.Effect<void, PeerDisconnected> =>
  !ctx.peer.gossipQueries
    ? Effect.zipRight(
      send(ctx, timestampFilter(ctx, PASSIVE_FILTER.firstTimestamp, PASSIVE_FILTER.timestampRange)),
      Ref.set(ctx.localHorizon, Option.some<Horizon>(PASSIVE_FILTER))
    )
    : horizon === "passive"
    ? Effect.zipRight(
      send(ctx, timestampFilter(ctx, PASSIVE_FILTER.firstTimestamp, PASSIVE_FILTER.timestampRange)),
      Ref.set(ctx.localHorizon, Option.none())
    )
    : Effect.zipRight(
      send(ctx, timestampFilter(ctx, horizon.firstTimestamp, horizon.timestampRange)),
      Ref.set(ctx.localHorizon, Option.some(horizon))
    )

/** GS-25: live gossip from now on. */
export const activeHorizon: Effect.Effect<Horizon> = Effect.map(
  nowSeconds,
  (now): Horizon => ({ firstTimestamp: now, timestampRange: U32_MAX })
)

/** GS-23: an Active/Pinned syncer without a horizon sends one (failure only logged). */
export const sendActiveHorizonIfNeeded = (ctx: SyncerContext): Effect.Effect<void> =>
  Effect.gen(function* () {
    const type = yield* Ref.get(ctx.syncType)
    const horizon = yield* Ref.get(ctx.localHorizon)
    if (!isActiveSync(type) || Option.isSome(horizon)) return
    yield* Effect.flatMap(activeHorizon, (h) => sendHorizon(ctx, h)).pipe(
      Effect.catchAll((e) => Effect.logWarning(`could not send gossip_timestamp_filter: ${e.reason}`))
    )
  })
