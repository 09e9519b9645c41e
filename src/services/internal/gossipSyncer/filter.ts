/**
 * The filter processor fiber (GS-42..45): applies the peer's `gossip_timestamp_filter`. The new horizon is stored at
 * once, so live forwarding (forwarder.ts, GS-46) uses it from the next batch; then, unless
 * `ignoreHistoricalFilters`, the stored gossip in the window is sent as a backlog. A backlog is a fiber of its own
 * in the syncer's scope, holding one permit of the factory-wide filter semaphore (SM-31) so a handful of peers
 * asking for full dumps cannot saturate the store; one backlog per peer at a time (a newer filter while one runs
 * only moves the horizon). The router's dropping queue of one (GS-42) keeps a flood of filters from queueing.
 */
import { Chunk, Effect, Option, Queue, Ref, Stream } from "effect"
import type { Scope } from "effect"
import { sameChain } from "../../../domain/Chain.js"
import type { GossipTimestampFilter } from "../../../domain/Messages.js"
import type { Horizon, SyncerContext } from "./context.js"
import { sendRawAll } from "./outbound.js"

/**
 * GS-44: the stored gossip in the window, pulled lazily and sent one by one. A store error ends the stream
 * (an Effect stream cannot resume past a failure), so it is logged and the backlog stops there.
 */
const backlog = (ctx: SyncerContext, start: number, end: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const pull = yield* Stream.toPull(ctx.store.gossipInHorizon(start, end))
      while (true) {
        const next = yield* Effect.either(pull)
        if (next._tag === "Left") {
          if (Option.isSome(next.left)) {
            yield* Effect.logWarning(`backlog stopped: ${next.left.value._tag}`)
          }
          return
        }
        yield* sendRawAll(
          ctx,
          Chunk.toReadonlyArray(next.right).map((g) => g.raw)
        )
      }
    })
  )

const applyFilter = (ctx: SyncerContext, filter: GossipTimestampFilter, scope: Scope.Scope) =>
  Effect.gen(function* () {
    const { settings, shared } = ctx
    if (!sameChain(filter.chainHash, ctx.chainHash)) {
      return yield* Effect.logWarning("ignoring gossip_timestamp_filter for another chain")
    }
    const horizon: Horizon = { firstTimestamp: filter.firstTimestamp, timestampRange: filter.timestampRange }
    yield* Ref.set(ctx.remoteHorizon, Option.some(horizon)) // GS-43: live forwarding uses it at once
    if (settings.ignoreHistoricalFilters) return
    if (yield* Ref.get(ctx.backlogRunning)) {
      return yield* Effect.logDebug("backlog already running for this peer: new horizon stored, no new dump")
    }
    const start = filter.firstTimestamp
    const end = filter.firstTimestamp + filter.timestampRange // GS-45: no u32 wrap
    yield* Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        yield* restore(shared.filterSemaphore.take(1)) // SM-31
        yield* Ref.set(ctx.backlogRunning, true)
        yield* restore(backlog(ctx, start, end)).pipe(
          Effect.catchAll((e) => Effect.logDebug(`backlog ended: ${e._tag}`)),
          Effect.ensuring(Effect.zipRight(shared.filterSemaphore.release(1), Ref.set(ctx.backlogRunning, false))),
          Effect.forkIn(scope)
        )
      })
    )
  })

/** The fiber: `scope` is the syncer's, so every backlog ends with the syncer. */
export const filterProcessor = (ctx: SyncerContext, scope: Scope.Scope): Effect.Effect<never> =>
  Effect.forever(Effect.flatMap(Queue.take(ctx.filters), (f) => applyFilter(ctx, f, scope)))
