/**
 * The GossipSyncer contract (GossipSyncer.contract.ts) against the fake the SyncManager and Reconciler tests use, so
 * what those tests prove holds for the real syncer too.
 */
import { Effect, Fiber, Ref } from "effect"
import { gossipSyncerContract } from "./GossipSyncer.contract.js"
import { fakePeer, makeFakeSyncerFactory } from "./support/FakeSyncer.js"

gossipSyncerContract("fake syncer", (options) =>
  Effect.gen(function* () {
    const control = yield* makeFakeSyncerFactory
    const synced = yield* Ref.make(0)
    const { run, syncer } = yield* control.factory.make(fakePeer(1), {
      ...options,
      markGraphSynced: Ref.update(synced, (n) => n + 1)
    })
    const fiber = yield* Effect.forkScoped(Effect.scoped(run))
    const fake = yield* control.latest(syncer.peer.nodeIdHex)
    const settle = Effect.repeatN(Effect.yieldNow(), 20)
    yield* settle
    return {
      syncer,
      settle,
      completeSync: fake.completeSync,
      failSync: fake.failSync("peer silent"),
      graphSynced: Ref.get(synced),
      stop: Effect.asVoid(Fiber.interrupt(fiber))
    }
  }))
