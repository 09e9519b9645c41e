/**
 * The GossipSyncer contract (GossipSyncer.contract.ts) against the real syncer: a scripted peer, an in-memory store
 * and a pass-through pipeline, built by the syncer harness. The peer completes a sync by covering the queried range
 * with an empty reply, and fails one by staying silent past the reply timeout (GS-51).
 */
import { Duration, Effect, Fiber, TestClock } from "effect"
import type { Message } from "../src/domain/Messages.js"
import { gossipSyncerContract } from "./GossipSyncer.contract.js"
import { awaitSleeper, rangeReply, settle, startSyncer } from "./support/syncerHarness.js"

gossipSyncerContract("real syncer", (options) =>
  Effect.gen(function* () {
    const h = yield* startSyncer({ syncType: options.syncType, initialState: options.initialState })
    /** The next query_channel_range we sent (an Active syncer's timestamp filter goes first, GS-23). */
    const nextRangeQuery: Effect.Effect<Message & { readonly _tag: "QueryChannelRange" }> = Effect.flatMap(
      h.sp.nextMessage,
      (m) => (m._tag === "QueryChannelRange" ? Effect.succeed(m) : nextRangeQuery)
    )
    return {
      syncer: h.syncer,
      settle,
      completeSync: Effect.gen(function* () {
        const q = yield* nextRangeQuery
        yield* h.sp.push(rangeReply(q.firstBlocknum, q.numberOfBlocks, []))
        yield* settle
      }),
      failSync: Effect.gen(function* () {
        yield* nextRangeQuery
        yield* awaitSleeper
        yield* TestClock.adjust(Duration.minutes(2))
        yield* settle
      }),
      graphSynced: h.graphSynced,
      stop: Effect.asVoid(Fiber.interrupt(h.fiber))
    }
  }))
