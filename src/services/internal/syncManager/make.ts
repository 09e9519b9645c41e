/**
 * Assembles the SyncManager (SM-n, docs/spec/sync-manager.md) in the current scope: a context record (context.ts),
 * the handler fiber (handler.ts, SM-9) and the rotation ticker (tickers.ts, SM-8) started at once, `stop` (SM-10)
 * as the scope's finalizer, and the service's calls: `initSyncState`/`pruneSyncState` enqueue a command and wait
 * for its ack (SM-11/12), lookups read snapshots of the maps and records (SM-4, SM-9).
 */
import { Deferred, Effect, FiberHandle, FiberMap, FiberSet, Option, Queue, Ref, SubscriptionRef } from "effect"
import type { Scope } from "effect"
import type { GossipSyncer, SyncType } from "../../GossipSyncer.js"
import { GossipSyncerFactory } from "../../GossipSyncer.js"
import type { SyncerSnapshot, SyncManagerService } from "../../SyncManager.js"
import { SyncManagerConfig } from "../../SyncManagerConfig.js"
import type { Command, Entry, ManagerContext } from "./context.js"
import { emptySets, lookup, makeContext } from "./context.js"
import { SyncManagerExiting } from "./errors.js"
import { handler } from "./handler.js"
import { SyncRetryConfig } from "./retry.js"
import { rotationTicks } from "./tickers.js"

/** Enqueue and wait for the ack; `false` if the manager stopped first (SM-11/12). */
const request = (
  ctx: ManagerContext,
  command: Command & { readonly done: Deferred.Deferred<void> }
): Effect.Effect<boolean> =>
  Effect.flatMap(Deferred.isDone(ctx.quit), (quitting) =>
    quitting
      ? Effect.succeed(false)
      : Effect.raceFirst(
        Queue.offer(ctx.queue, command).pipe(Effect.zipRight(Deferred.await(command.done)), Effect.as(true)),
        Deferred.await(ctx.quit).pipe(Effect.as(false))
      ))

/** SM-10: idempotent; the loop first, then every syncer, pinned ones included (port note), awaiting each fiber. */
const stopManager = (ctx: ManagerContext): Effect.Effect<void> =>
  Effect.uninterruptible(
    Effect.gen(function* () {
      if (!(yield* Deferred.succeed(ctx.quit, undefined))) return yield* Deferred.await(ctx.stopped)
      yield* FiberSet.clear(ctx.loops)
      yield* FiberHandle.clear(ctx.historicalTicker)
      yield* FiberHandle.clear(ctx.initialSignalWatch)
      yield* FiberMap.clear(ctx.retryTimers)
      yield* FiberMap.clear(ctx.syncerFibers)
      yield* FiberSet.clear(ctx.retiring)
      yield* Ref.set(ctx.sets, emptySets)
      yield* SubscriptionRef.set(ctx.records, new Map())
      yield* Ref.set(ctx.initial, Option.none())
      yield* Deferred.succeed(ctx.stopped, undefined)
      yield* Effect.logInfo("sync manager stopped")
    })
  )

/** Builds the manager in the current scope: its fibers start now and stop when the scope closes (SM-8, SM-10). */
export const makeSyncManager: Effect.Effect<
  SyncManagerService,
  never,
  Scope.Scope | GossipSyncerFactory | SyncManagerConfig
> = Effect.gen(function* () {
  const ctx = yield* makeContext(yield* SyncManagerConfig, yield* SyncRetryConfig, yield* GossipSyncerFactory)
  const stop = stopManager(ctx)

  yield* FiberSet.run(ctx.loops, handler(ctx))
  yield* FiberSet.run(ctx.loops, rotationTicks(ctx))
  yield* Effect.addFinalizer(() => stop)

  const service: SyncManagerService = {
    initSyncState: (peer) =>
      Effect.gen(function* () {
        const done = yield* Deferred.make<void>()
        if (!(yield* request(ctx, { _tag: "Init", peer, done }))) return yield* new SyncManagerExiting()
      }),
    pruneSyncState: (nodeIdHex) =>
      Effect.gen(function* () {
        const done = yield* Deferred.make<void>()
        yield* request(ctx, { _tag: "Prune", nodeIdHex: nodeIdHex.toLowerCase(), done })
      }),
    syncer: (nodeIdHex) =>
      Ref.get(ctx.sets).pipe(Effect.map((s) => Option.fromNullable(lookup(s, nodeIdHex.toLowerCase())?.syncer))),
    syncers: Ref.get(ctx.sets).pipe(
      Effect.map((s) => {
        const out: Array<SyncerSnapshot> = []
        const add = (m: ReadonlyMap<string, Entry>, syncType: SyncType) => {
          for (const e of m.values()) out.push({ nodeIdHex: e.nodeIdHex, syncType, syncer: e.syncer })
        }
        add(s.active, "ActiveSync")
        add(s.inactive, "PassiveSync")
        add(s.pinned, "PinnedSync")
        return out
      })
    ),
    gossipSyncers: Ref.get(ctx.sets).pipe(
      Effect.map((s) => {
        const out = new Map<string, GossipSyncer>()
        for (const m of [s.inactive, s.active, s.pinned]) for (const e of m.values()) out.set(e.nodeIdHex, e.syncer)
        return out
      })
    ),
    isGraphSynced: ctx.isGraphSynced,
    awaitGraphSynced: Deferred.await(ctx.graphSynced),
    syncRecords: SubscriptionRef.get(ctx.records),
    syncRecordChanges: ctx.records.changes,
    stop
  }
  return service
})
