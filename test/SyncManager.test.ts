/**
 * SyncManager behaviour (SM-n, docs/spec/sync-manager.md) against scripted fake syncers, with TestClock for the
 * tickers and a seeded Random for every choice. The limiter and filter semaphore (SM-30/31) are the syncer layer's.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Random,
  Ref,
  Scope,
  Supervisor,
  TestClock
} from "effect"
import type { SyncType } from "../src/services/GossipSyncer.js"
import { GossipSyncerFactory } from "../src/services/GossipSyncer.js"
import type { PeerSyncRecord, SyncManagerService, SyncRetryPolicy } from "../src/services/SyncManager.js"
import { retryBackoff, SyncManager, SyncManagerExiting, SyncRetryConfig } from "../src/services/SyncManager.js"
import type { SyncManagerConfigInput } from "../src/services/SyncManagerConfig.js"
import { layerSyncManagerConfig } from "../src/services/SyncManagerConfig.js"
import type { FakeSyncer, FakeSyncerControl } from "./support/FakeSyncer.js"
import { fakeNodeIdHex as hex, fakePeer, makeFakeSyncerFactory } from "./support/FakeSyncer.js"

interface Harness {
  readonly manager: SyncManagerService
  readonly fakes: FakeSyncerControl
  /** initSyncState for peer `n`, then settle; returns its (newest) fake syncer. */
  readonly connect: (n: number) => Effect.Effect<FakeSyncer, SyncManagerExiting>
  readonly disconnect: (n: number) => Effect.Effect<void>
  readonly fake: (n: number) => Effect.Effect<FakeSyncer>
}

/** Lets every woken fiber (signal watchers, tickers, the handler) run until all are suspended again. */
const settle = TestClock.adjust(0)

/** Builds the manager into the current scope with fake syncers and a seeded Random. */
const start = (
  input: SyncManagerConfigInput = {},
  seed: unknown = "lnsync",
  retry?: SyncRetryPolicy
): Effect.Effect<Harness, never, Scope.Scope> =>
  Effect.gen(function* () {
    const fakes = yield* makeFakeSyncerFactory
    const layer = SyncManager.layer.pipe(
      Layer.provide(Layer.succeed(GossipSyncerFactory, fakes.factory)),
      Layer.provide(layerSyncManagerConfig(input)),
      Layer.provide(retry === undefined ? Layer.empty : Layer.succeed(SyncRetryConfig, retry))
    )
    const context = yield* Layer.build(layer).pipe(Effect.orDie, Effect.withRandom(Random.make(seed)))
    const manager = Context.get(context, SyncManager)
    return {
      manager,
      fakes,
      connect: (n) =>
        manager.initSyncState(fakePeer(n)).pipe(Effect.zipRight(settle), Effect.zipRight(fakes.latest(hex(n)))),
      disconnect: (n) => manager.pruneSyncState(hex(n)).pipe(Effect.zipRight(settle)),
      fake: (n) => fakes.latest(hex(n))
    }
  })

const numOf = (nodeIdHex: string): number => parseInt(nodeIdHex.slice(-8), 16)

/** The manager's maps by peer number, sorted. */
const roles = (manager: SyncManagerService) =>
  Effect.map(manager.syncers, (all) => {
    const of = (t: SyncType) => all.filter((s) => s.syncType === t).map((s) => numOf(s.nodeIdHex)).sort((a, b) => a - b)
    return { active: of("ActiveSync"), passive: of("PassiveSync"), pinned: of("PinnedSync") }
  })

const historical = (f: FakeSyncer) => Ref.get(f.historicalRequests)
const transitions = (f: FakeSyncer) => Ref.get(f.transitions)

/** Connect peers 1..n; peer 1 gets the initial sync; completing it promotes up to numActiveSyncers. */
const syncedNetwork = (h: Harness, n: number) =>
  Effect.gen(function* () {
    const fakes: Array<FakeSyncer> = []
    for (let i = 1; i <= n; i++) fakes.push(yield* h.connect(i))
    yield* fakes[0].completeSync
    yield* settle
    return fakes
  })

describe("SyncManager: creating syncers (InitSyncState)", () => {
  it.scoped("SM-16.2/SM-21/SM-15: the first peer gets the initial historical sync and stays passive; later peers wait", () =>
    Effect.gen(function* () {
      const h = yield* start()
      const p1 = yield* h.connect(1)
      expect(p1.options.syncType).toBe("PassiveSync")
      expect(p1.options.initialState).toBe("chansSynced")
      expect(yield* historical(p1)).toBe(1)
      const p2 = yield* h.connect(2)
      const p3 = yield* h.connect(3)
      expect(yield* historical(p2)).toBe(0)
      expect(yield* historical(p3)).toBe(0)
      expect(yield* transitions(p2)).toEqual([])
      expect(yield* roles(h.manager)).toEqual({ active: [], passive: [1, 2, 3], pinned: [] })
      expect(yield* h.manager.isGraphSynced).toBe(false)
      // every syncer's run was started (SM-16: start, then ack)
      for (const f of [p1, p2, p3]) expect(yield* Deferred.isDone(f.runStarted)).toBe(true)
    }))

  it.scoped("SM-19: the initial sync completing promotes up to numActiveSyncers passives, usually the syncer itself", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 2 })
      const fakes = yield* syncedNetwork(h, 4)
      const r = yield* roles(h.manager)
      expect(r.active.length).toBe(2)
      expect(r.passive.length).toBe(2)
      for (const f of fakes) {
        const promoted = r.active.includes(numOf(f.nodeIdHex))
        expect(yield* transitions(f)).toEqual(promoted ? ["ActiveSync"] : [])
      }
      expect(yield* h.manager.isGraphSynced).toBe(true)
    }))

  it.scoped("SM-19: promotions are capped by the number of passive syncers (c15c8a1f0)", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 3 })
      yield* syncedNetwork(h, 2)
      expect(yield* roles(h.manager)).toEqual({ active: [1, 2], passive: [], pinned: [] })
    }))

  it.scoped("SM-19: a passive peer that disconnected before the initial sync completed is not promoted", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 3 })
      const p1 = yield* h.connect(1)
      yield* h.connect(2)
      const p3 = yield* h.connect(3)
      yield* h.disconnect(3)
      yield* p1.completeSync
      yield* settle
      expect(yield* roles(h.manager)).toEqual({ active: [1, 2], passive: [], pinned: [] })
      expect(yield* transitions(p3)).toEqual([])
    }))

  it.scoped("SM-19: a promotion whose transition fails leaves that slot empty", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 3 })
      const p1 = yield* h.connect(1)
      const p2 = yield* h.connect(2)
      yield* p2.behave({ transitions: "sendFails" })
      yield* p1.completeSync
      yield* settle
      expect(yield* roles(h.manager)).toEqual({ active: [1], passive: [2], pinned: [] })
    }))

  it.scoped("SM-16.5/SM-16.3: once the graph is synced new peers are active up to numActiveSyncers, then passive", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 2 })
      yield* syncedNetwork(h, 1)
      expect(yield* roles(h.manager)).toEqual({ active: [1], passive: [], pinned: [] })
      const p2 = yield* h.connect(2)
      const p3 = yield* h.connect(3)
      expect(p2.options.syncType).toBe("ActiveSync")
      expect(p3.options.syncType).toBe("PassiveSync")
      expect(yield* historical(p2)).toBe(0)
      expect(yield* roles(h.manager)).toEqual({ active: [1, 2], passive: [3], pinned: [] })
    }))

  it.scoped("SM-14: a second initSyncState for a known peer is a no-op (no new syncer, nothing sent, ack OK)", () =>
    Effect.gen(function* () {
      const h = yield* start()
      const p1 = yield* h.connect(1)
      yield* h.manager.initSyncState(fakePeer(1))
      yield* settle
      expect((yield* Ref.get(h.fakes.made)).length).toBe(1)
      expect(yield* historical(p1)).toBe(1)
      expect(yield* transitions(p1)).toEqual([])
      expect(yield* Ref.get(p1.runInterrupted)).toBe(false)
      expect(Option.getOrThrow(yield* h.manager.syncer(hex(1)))).toBe(p1.syncer)
    }))

  it.scoped("SM-11/SM-28: the ack comes before the historical request, which then holds the handler (up to 5 s)", () =>
    Effect.gen(function* () {
      const h = yield* start()
      yield* h.fakes.behaveByDefault({ historical: "timeout" })
      // returns although the syncer has not accepted the historical request yet
      yield* h.manager.initSyncState(fakePeer(1))
      expect(Option.isSome(yield* h.manager.syncer(hex(1)))).toBe(true)
      // the handler is waiting on that request: a later prune is acked only after the 5 s enqueue timeout
      const prune = yield* Effect.fork(h.manager.pruneSyncState(hex(9)))
      yield* TestClock.adjust("4 seconds")
      expect(Option.isNone(yield* Fiber.poll(prune))).toBe(true)
      yield* TestClock.adjust("1 second")
      expect(Exit.isSuccess(Option.getOrThrow(yield* Fiber.poll(prune)))).toBe(true)
    }))

  it.scoped("SM-16 (beyond lnd): a refused first historical request is owed: the next peer to connect takes it at once", () =>
    Effect.gen(function* () {
      const h = yield* start()
      yield* h.fakes.behaveByDefault({ historical: "exiting" })
      yield* h.connect(1)
      yield* h.fakes.behaveByDefault({ historical: "accept" })
      // lnd: p2 is not the first peer (SM-16.2) and the ticker never started (SM-8), so nothing would ever sync
      const p2 = yield* h.connect(2)
      expect(yield* historical(p2)).toBe(1)
      yield* p2.completeSync
      yield* settle
      expect(yield* roles(h.manager)).toEqual({ active: [1, 2], passive: [], pinned: [] })
      expect(yield* h.manager.isGraphSynced).toBe(true)
    }))

  it.scoped("SM-16 (beyond lnd): a sole peer that refused its first historical request is asked again after its backoff", () =>
    Effect.gen(function* () {
      const h = yield* start()
      yield* h.fakes.behaveByDefault({ historical: "timeout" })
      const p1 = yield* h.connect(1)
      yield* TestClock.adjust("5 seconds") // the request times out (GS-29): a failure, backoff 5 s
      yield* p1.behave({ historical: "accept" })
      expect(yield* historical(p1)).toBe(0)
      yield* TestClock.adjust("4999 millis")
      expect(yield* historical(p1)).toBe(0)
      yield* TestClock.adjust("1 millis")
      expect(yield* historical(p1)).toBe(1)
      yield* p1.completeSync
      yield* settle
      expect(yield* roles(h.manager)).toEqual({ active: [1], passive: [], pinned: [] })
    }))
})

describe("SyncManager: the initial historical sync", () => {
  it.scoped("SM-22: the initial syncer disconnecting mid-sync hands the sync to a chansSynced peer", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 2 })
      yield* h.connect(1)
      const p2 = yield* h.connect(2)
      yield* h.disconnect(1)
      expect(yield* historical(p2)).toBe(1)
      expect(yield* h.manager.isGraphSynced).toBe(false)
      // p2 is now the initial syncer: its completion promotes (SM-19)
      yield* p2.completeSync
      yield* settle
      expect(yield* roles(h.manager)).toEqual({ active: [2], passive: [], pinned: [] })
    }))

  it.scoped("SM-22: with no chansSynced replacement nothing happens", () =>
    Effect.gen(function* () {
      const h = yield* start()
      yield* h.connect(1)
      const p2 = yield* h.connect(2)
      yield* p2.setState("waitingQueryRangeReply")
      yield* h.disconnect(1)
      expect(yield* historical(p2)).toBe(0)
      expect(yield* roles(h.manager)).toEqual({ active: [], passive: [2], pinned: [] })
    }))

  it.scoped("SM-22 (beyond lnd, GS-51): a failed initial sync moves to another peer at once, not to the failed one", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const p1 = yield* h.connect(1)
      const p2 = yield* h.connect(2)
      yield* p1.failSync("reply timeout")
      yield* settle // no clock advance: the move is immediate
      expect(yield* historical(p2)).toBe(1)
      expect(yield* historical(p1)).toBe(1)
      expect(yield* h.manager.isGraphSynced).toBe(false)
      // the replacement is the initial syncer now: its completion promotes one syncer
      yield* p2.completeSync
      yield* settle
      expect((yield* roles(h.manager)).active.length).toBe(1)
      expect(yield* h.manager.isGraphSynced).toBe(true)
    }))

  it.scoped("beyond lnd: a failed initial sync with no other candidate is retried after a backoff of 5 s doubling to 5 min", () =>
    Effect.gen(function* () {
      // Was "…retried by the next historical tick": it passed only because the fake's failSync went back to
      // chansSynced; the real syncer goes syncerIdle (GS-17), which lnd's rule never picks again.
      const h = yield* start()
      const p1 = yield* h.connect(1)
      yield* TestClock.adjust("10 minutes")
      const waits = [5, 10, 20, 40, 80, 160, 300, 300] // seconds
      for (const [i, wait] of waits.entries()) {
        yield* p1.failSync("lying peer")
        yield* settle
        expect(yield* historical(p1)).toBe(i + 1)
        yield* TestClock.adjust(Duration.millis(wait * 1000 - 1))
        expect(yield* historical(p1)).toBe(i + 1)
        yield* TestClock.adjust(Duration.millis(1))
        expect(yield* historical(p1)).toBe(i + 2)
      }
      // graph not synced: p1 is the initial syncer again, so its completion promotes it; the backoff resets
      yield* p1.completeSync
      yield* settle
      expect(yield* roles(h.manager)).toEqual({ active: [1], passive: [], pinned: [] })
      const record = (yield* h.manager.syncRecords).get(hex(1))
      expect(record).toMatchObject({ completed: 1, failures: 0, completedInitial: true, retryAtMillis: Option.none() })
    }))

  it.scoped("beyond lnd: the backoff comes from SyncRetryConfig when a layer provides one", () =>
    Effect.gen(function* () {
      const h = yield* start({}, "lnsync", { initialBackoff: Duration.seconds(1), maxBackoff: Duration.seconds(3) })
      const p1 = yield* h.connect(1)
      for (const [i, wait] of [1, 2, 3, 3].entries()) {
        yield* p1.failSync("silent")
        yield* settle
        yield* TestClock.adjust(Duration.millis(wait * 1000 - 1))
        expect(yield* historical(p1)).toBe(i + 1)
        yield* TestClock.adjust(Duration.millis(1))
        expect(yield* historical(p1)).toBe(i + 2)
      }
      expect(
        Duration.toSeconds(retryBackoff({ initialBackoff: Duration.seconds(5), maxBackoff: Duration.minutes(5) }, 1000))
      )
        .toBe(300)
    }))

  it.scoped("beyond lnd: an owed initial sync goes to a peer the moment its own sync settles, not at the next tick", () =>
    Effect.gen(function* () {
      const h = yield* start()
      yield* h.connect(1)
      const p2 = yield* h.connect(2)
      yield* p2.setState("waitingQueryRangeReply")
      yield* h.disconnect(1) // SM-22: no eligible replacement now
      expect(yield* historical(p2)).toBe(0)
      yield* p2.setState("chansSynced") // its sync (started elsewhere) ended
      yield* settle
      expect(yield* historical(p2)).toBe(1)
      yield* p2.completeSync
      yield* settle
      expect(yield* roles(h.manager)).toEqual({ active: [2], passive: [], pinned: [] })
    }))

  it.scoped("beyond lnd: syncRecords counts each peer's completed and failed syncs, with the syncer's lastFailure", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const p1 = yield* h.connect(1)
      const p2 = yield* h.connect(2)
      const at = (n: number) => Effect.map(h.manager.syncRecords, (m): PeerSyncRecord | undefined => m.get(hex(n)))
      yield* p1.failSync("no reply_channel_range within 2m")
      yield* settle
      expect(yield* at(1)).toMatchObject({
        completed: 0,
        failures: 1,
        lastFailure: Option.some("no reply_channel_range within 2m"),
        retryAtMillis: Option.some(5000),
        completedInitial: false
      })
      // p2 took the initial sync over and completes it
      yield* p2.completeSync
      yield* settle
      expect(yield* at(2)).toMatchObject({ completed: 1, failures: 0, completedInitial: true })
      // a sync nobody in the manager watches (the Reconciler's, say) is counted too, with the syncer's reason
      yield* TestClock.adjust("5 seconds")
      yield* p1.syncer.historicalSync
      yield* settle
      expect(yield* at(1)).toMatchObject({ syncing: true, failures: 1 })
      yield* p1.failSync("whatever")
      yield* settle
      expect(yield* at(1)).toMatchObject({ syncing: false, failures: 2, lastFailure: Option.some("whatever") })
      // a prune forgets the record; the next connection starts clean
      yield* h.disconnect(1)
      expect(yield* at(1)).toBeUndefined()
      const again = yield* h.connect(1)
      expect(yield* at(1)).toMatchObject({ syncer: again.syncer, completed: 0, failures: 0 })
    }))

  it.scoped("SM-6/SM-20: the graph-synced flag flips when a replacement finishes and never flips back", () =>
    Effect.gen(function* () {
      const h = yield* start()
      const waiter = yield* Effect.fork(h.manager.awaitGraphSynced)
      yield* h.connect(1)
      const p2 = yield* h.connect(2)
      yield* h.disconnect(1)
      expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)
      yield* p2.completeSync
      yield* settle
      expect(yield* h.manager.isGraphSynced).toBe(true)
      expect(Option.isSome(yield* Fiber.poll(waiter))).toBe(true)
      // lose every peer, reconnect, rotate, tick: still synced
      yield* h.disconnect(2)
      const p3 = yield* h.connect(3)
      yield* p3.setState("syncingChans")
      yield* TestClock.adjust("2 hours")
      expect(yield* h.manager.isGraphSynced).toBe(true)
    }))

  it.scoped("SM-20: any syncer's completed range sync (a pinned one here) marks the graph synced, without SM-19 promotions", () =>
    Effect.gen(function* () {
      const pinned = hex(50)
      const h = yield* start({ pinnedPeers: [pinned] })
      const p1 = yield* h.connect(1)
      const p50 = yield* h.connect(50)
      yield* p50.completeSync
      yield* settle
      expect(yield* h.manager.isGraphSynced).toBe(true)
      // p1 is still the initial syncer and still passive
      expect(yield* roles(h.manager)).toEqual({ active: [], passive: [1], pinned: [50] })
      yield* p1.completeSync
      yield* settle
      expect(yield* roles(h.manager)).toEqual({ active: [1], passive: [], pinned: [50] })
    }))

  it.scoped("SM-18: after losing every peer, the next one does a new historical sync although the graph is synced", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 2 })
      yield* syncedNetwork(h, 2)
      yield* h.disconnect(1)
      yield* h.disconnect(2)
      const p3 = yield* h.connect(3)
      expect(yield* historical(p3)).toBe(1)
      expect(p3.options.syncType).toBe("PassiveSync") // SM-16.2: passive regardless of graph-synced
      const p4 = yield* h.connect(4)
      expect(yield* historical(p4)).toBe(0)
      expect(p4.options.syncType).toBe("ActiveSync") // graph synced, active slots free
      yield* p3.completeSync
      yield* settle
      expect(yield* roles(h.manager)).toEqual({ active: [3, 4], passive: [], pinned: [] })
    }))
})

describe("SyncManager: removing syncers (PruneSyncState)", () => {
  it.scoped("SM-23: an active peer disconnecting is replaced by exactly one random chansSynced passive", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 2 })
      const fakes = yield* syncedNetwork(h, 5)
      const before = yield* roles(h.manager)
      const gone = before.active[0]
      yield* h.disconnect(gone)
      const after = yield* roles(h.manager)
      expect(after.active.length).toBe(2)
      expect(after.passive.length).toBe(2)
      const newcomers = after.active.filter((n) => !before.active.includes(n))
      expect(newcomers.length).toBe(1)
      expect(before.passive).toContain(newcomers[0])
      for (const n of before.passive) {
        expect(yield* transitions(fakes[n - 1])).toEqual(n === newcomers[0] ? ["ActiveSync"] : [])
      }
    }))

  it.scoped("SM-23 (beyond lnd): a passive syncer idle after a failed sync replaces a lost active one once eligible", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const fakes = yield* syncedNetwork(h, 2)
      const r = yield* roles(h.manager)
      const passive = fakes[r.passive[0] - 1]
      yield* passive.setState("syncingChans")
      yield* passive.failSync("reply timeout")
      yield* TestClock.adjust("5 seconds")
      yield* h.disconnect(r.active[0])
      expect(yield* roles(h.manager)).toEqual({ active: r.passive, passive: [], pinned: [] })
    }))

  it.scoped("SM-23: with no chansSynced passive the active count drops", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const fakes = yield* syncedNetwork(h, 3)
      const r = yield* roles(h.manager)
      for (const n of r.passive) yield* fakes[n - 1].setState("queryNewChannels")
      yield* h.disconnect(r.active[0])
      expect(yield* roles(h.manager)).toEqual({ active: [], passive: r.passive, pinned: [] })
    }))

  it.scoped("SM-23: a prune interrupts exactly that peer's syncer; an unknown peer is a no-op", () =>
    Effect.gen(function* () {
      const h = yield* start()
      const p1 = yield* h.connect(1)
      const p2 = yield* h.connect(2)
      yield* h.disconnect(77)
      expect(yield* roles(h.manager)).toEqual({ active: [], passive: [1, 2], pinned: [] })
      yield* h.disconnect(2)
      expect(yield* Ref.get(p2.runInterrupted)).toBe(true)
      expect(yield* Ref.get(p2.runScopeClosed)).toBe(true)
      expect(yield* Ref.get(p1.runInterrupted)).toBe(false)
      expect(Option.isNone(yield* h.manager.syncer(hex(2)))).toBe(true)
    }))

  it.scoped("SM-12: a flapping peer gets a fresh syncer on reconnect", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      yield* syncedNetwork(h, 1)
      const old = yield* h.fake(1)
      yield* h.disconnect(1)
      const fresh = yield* h.connect(1)
      expect(fresh).not.toBe(old)
      expect(yield* Ref.get(old.runInterrupted)).toBe(true)
      expect(yield* Ref.get(fresh.runInterrupted)).toBe(false)
      expect(Option.getOrThrow(yield* h.manager.syncer(hex(1)))).toBe(fresh.syncer)
    }))

  it.scoped("SM-23 (beyond lnd): a syncer whose run ends by itself is removed and its active slot refilled", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      yield* syncedNetwork(h, 2)
      const r = yield* roles(h.manager)
      const dying = yield* h.fake(r.active[0])
      yield* dying.endRun
      yield* settle
      expect(yield* roles(h.manager)).toEqual({ active: r.passive, passive: [], pinned: [] })
      expect(yield* Ref.get(dying.runScopeClosed)).toBe(true)
      yield* h.disconnect(r.active[0]) // the later prune is a no-op
      expect(yield* roles(h.manager)).toEqual({ active: r.passive, passive: [], pinned: [] })
    }))
})

describe("SyncManager: rotation ticker", () => {
  it.scoped("SM-24: every 20 minutes one chansSynced active syncer is swapped for one chansSynced passive", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const fakes = yield* syncedNetwork(h, 3)
      const before = yield* roles(h.manager)
      yield* TestClock.adjust("19 minutes")
      expect(yield* roles(h.manager)).toEqual(before)
      yield* TestClock.adjust("1 minute")
      const after = yield* roles(h.manager)
      expect(after.active.length).toBe(1)
      expect(after.active[0]).not.toBe(before.active[0])
      expect(before.passive).toContain(after.active[0])
      expect(yield* transitions(fakes[before.active[0] - 1])).toEqual(["ActiveSync", "PassiveSync"])
      expect(yield* transitions(fakes[after.active[0] - 1])).toEqual(["ActiveSync"])
    }))

  it.scoped("SM-24: no chansSynced passive candidate means no rotation and nothing sent", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const fakes = yield* syncedNetwork(h, 3)
      const before = yield* roles(h.manager)
      for (const n of before.passive) yield* fakes[n - 1].setState("waitingQueryChanReply")
      yield* TestClock.adjust("20 minutes")
      expect(yield* roles(h.manager)).toEqual(before)
      for (const f of fakes) expect((yield* transitions(f)).length).toBeLessThanOrEqual(1)
    }))

  it.scoped("SM-24/SM-25: an active syncer that is not chansSynced is never rotated", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const fakes = yield* syncedNetwork(h, 3)
      const before = yield* roles(h.manager)
      yield* fakes[before.active[0] - 1].setState("syncingChans")
      yield* TestClock.adjust("1 hour")
      expect((yield* roles(h.manager)).active).toEqual(before.active)
      for (const n of before.passive) expect(yield* transitions(fakes[n - 1])).toEqual([])
    }))

  it.scoped("SM-24 port note: demotion succeeds but promotion times out (busy > 5 s): the active set shrinks", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const fakes = yield* syncedNetwork(h, 2)
      const before = yield* roles(h.manager)
      yield* fakes[before.passive[0] - 1].behave({ transitions: "timeout" })
      yield* TestClock.adjust("20 minutes")
      yield* TestClock.adjust("5 seconds")
      expect(yield* roles(h.manager)).toEqual({ active: [], passive: [1, 2], pinned: [] })
      // rotation never adds: the next tick has no active syncer to rotate
      yield* fakes[before.passive[0] - 1].behave({ transitions: "accept" })
      yield* TestClock.adjust("20 minutes")
      expect((yield* roles(h.manager)).active).toEqual([])
    }))

  it.scoped("SM-24 (beyond lnd): a passive syncer idle after a failed sync is rotated in once its backoff elapsed, not before", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const fakes = yield* syncedNetwork(h, 2)
      const before = yield* roles(h.manager)
      const passive = fakes[before.passive[0] - 1]
      yield* TestClock.adjust("1198 seconds")
      yield* passive.setState("syncingChans")
      yield* passive.failSync("reply timeout") // at 19:58: eligible again at 20:03
      yield* settle
      yield* TestClock.adjust("2 seconds") // rotation tick at 20:00
      expect(yield* roles(h.manager)).toEqual(before)
      yield* TestClock.adjust("20 minutes") // 40:00 (lnd: never, the syncer stays syncerIdle)
      expect(yield* roles(h.manager)).toEqual({ active: before.passive, passive: before.active, pinned: [] })
    }))

  it.scoped("SM-24/SM-29: a failed demotion leaves both syncers where they were", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const fakes = yield* syncedNetwork(h, 2)
      const before = yield* roles(h.manager)
      yield* fakes[before.active[0] - 1].behave({ transitions: "sendFails" })
      yield* TestClock.adjust("20 minutes")
      expect(yield* roles(h.manager)).toEqual(before)
      expect(yield* transitions(fakes[before.passive[0] - 1])).toEqual([])
    }))
})

describe("SyncManager: historical ticker", () => {
  it.scoped("SM-26: once the graph is synced each hourly tick resyncs with one random chansSynced non-pinned peer", () =>
    Effect.gen(function* () {
      const pinned = hex(50)
      const h = yield* start({ numActiveSyncers: 2, pinnedPeers: [pinned] })
      const fakes = yield* syncedNetwork(h, 4)
      const p50 = yield* h.connect(50)
      yield* p50.completeSync
      const total = Effect.map(
        Effect.forEach(fakes, historical),
        (counts) => counts.reduce((a, b) => a + b, 0)
      )
      expect(yield* total).toBe(1)
      yield* TestClock.adjust("1 hour")
      expect(yield* total).toBe(2)
      expect(yield* historical(p50)).toBe(1) // only its own per-connection sync (SM-18)
      // the resynced peer is busy now; completing it is not an initial-sync event: roles unchanged
      const r = yield* roles(h.manager)
      for (const f of fakes) yield* f.completeSync
      yield* settle
      expect(yield* roles(h.manager)).toEqual(r)
    }))

  it.scoped("SM-28: the historical tick falls through candidates that are busy or refuse", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const fakes = yield* syncedNetwork(h, 4)
      // peer 1 mid-sync, 2 and 3 refuse: only 4 can take it
      yield* fakes[0].setState("syncingChans")
      yield* fakes[1].behave({ historical: "exiting" })
      yield* fakes[2].behave({ historical: "exiting" })
      const before = yield* historical(fakes[3])
      yield* TestClock.adjust("1 hour")
      expect(yield* historical(fakes[3])).toBe(before + 1)
      expect(yield* historical(fakes[1])).toBe(0)
      expect(yield* historical(fakes[2])).toBe(0)
    }))

  it.scoped("SM-26/SM-28 (beyond lnd): a syncer idle after a failed sync is a tick candidate once its backoff elapsed", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const [p1, p2] = yield* syncedNetwork(h, 2)
      yield* p1.setState("syncingChans") // busy for the rest of the test
      yield* TestClock.adjust("3598 seconds")
      yield* p2.setState("waitingQueryRangeReply")
      yield* p2.failSync("reply timeout") // at 59:58: eligible again at 60:03
      yield* settle
      yield* TestClock.adjust("2 seconds") // tick at 60:00
      expect(yield* historical(p2)).toBe(0)
      yield* TestClock.adjust("1 hour") // tick at 2:00:00 (lnd: never, the syncer stays syncerIdle)
      expect(yield* historical(p2)).toBe(1)
    }))

  it.scoped("SM-26: a tick while every candidate is mid-sync does nothing", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const fakes = yield* syncedNetwork(h, 3)
      for (const f of fakes) yield* f.setState("waitingQueryRangeReply")
      const before = yield* Effect.forEach(fakes, historical)
      yield* TestClock.adjust("1 hour")
      expect(yield* Effect.forEach(fakes, historical)).toEqual(before)
    }))

  it.scoped("SM-26/SM-17: a tick before the graph is synced replaces a stalled initial syncer and restarts the ticker", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const p1 = yield* h.connect(1) // stalls: never completes
      const p2 = yield* h.connect(2)
      yield* TestClock.adjust("1 hour")
      expect(yield* historical(p2)).toBe(1)
      // p1's late completion is no longer the initial-sync event: nobody is promoted
      yield* p1.completeSync
      yield* settle
      expect((yield* roles(h.manager)).active).toEqual([])
      // p2 completing is: one promotion
      yield* p2.completeSync
      yield* settle
      expect((yield* roles(h.manager)).active.length).toBe(1)
    }))

  it.scoped("SM-17: assigning a new initial syncer restarts the hourly ticker (no back-to-back historical syncs)", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      yield* h.connect(1)
      const p2 = yield* h.connect(2)
      const p3 = yield* h.connect(3)
      yield* TestClock.adjust("50 minutes")
      yield* h.disconnect(1) // SM-22 assigns a replacement at t = 50 min
      const [first, other] = (yield* historical(p2)) === 1 ? [p2, p3] : [p3, p2]
      expect(yield* historical(first)).toBe(1)
      expect(yield* historical(other)).toBe(0)
      yield* TestClock.adjust("20 minutes") // t = 70 min: the old ticker would have fired at 60
      expect(yield* historical(other)).toBe(0)
      yield* TestClock.adjust("40 minutes") // t = 110 min: the restarted ticker fires; `first` is busy
      expect(yield* historical(other)).toBe(1)
    }))

  it.scoped("SM-17/SM-9: a tick of the replaced ticker, queued while the handler was busy assigning, is dropped", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      yield* h.connect(1) // initial syncer at t = 0: the ticker would fire at 60 min
      const p2 = yield* h.connect(2)
      const p3 = yield* h.connect(3)
      yield* p2.behave({ historical: "slow" })
      yield* p3.setState("queryNewChannels") // not a candidate for now
      yield* TestClock.adjust("3598 seconds") // t = 59:58
      yield* h.manager.pruneSyncState(hex(1)) // SM-22: p2 accepts only at 60:02, after the old tick at 60:00
      yield* TestClock.adjust("2 seconds")
      yield* p3.setState("chansSynced") // would take the stale tick's historical sync
      yield* TestClock.adjust("2 seconds")
      expect(yield* historical(p2)).toBe(1)
      expect(yield* historical(p3)).toBe(0)
      yield* TestClock.adjust("3599 seconds") // the restarted ticker fires at 2:00:02
      expect(yield* historical(p3)).toBe(0)
      yield* TestClock.adjust("1 second")
      expect(yield* historical(p3)).toBe(1)
    }))

  it.scoped("SM-17/SM-9: a signal from the replaced initial syncer, queued while the handler was busy, is ignored", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1 })
      const p1 = yield* h.connect(1) // stalls
      const p2 = yield* h.connect(2)
      const p3 = yield* h.connect(3)
      yield* p2.behave({ historical: "slow" })
      yield* p3.setState("queryNewChannels")
      yield* TestClock.adjust("1 hour") // SM-26: p2 is chosen, accepts at 1:00:04
      yield* p1.failSync("reply timeout") // p1's failure arrives while the handler waits on p2
      yield* p3.setState("chansSynced")
      yield* TestClock.adjust("4 seconds")
      // p2 is the initial syncer now; p1's stale failure must not move the sync on to p3
      expect(yield* historical(p2)).toBe(1)
      expect(yield* historical(p3)).toBe(0)
      yield* p2.completeSync
      yield* settle
      expect((yield* roles(h.manager)).active.length).toBe(1)
    }))

  it.scoped("SM-16.2/SM-26/SM-25: numActiveSyncers = 0: no historical sync, everyone passive, ticks do nothing", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 0 })
      const fakes = [yield* h.connect(1), yield* h.connect(2), yield* h.connect(3)]
      yield* fakes[0].completeSync // a syncer can still mark the graph synced
      yield* settle
      const p4 = yield* h.connect(4)
      expect(p4.options.syncType).toBe("PassiveSync")
      yield* TestClock.adjust("5 hours")
      for (const f of [...fakes, p4]) {
        expect(yield* historical(f)).toBe(0)
        expect(yield* transitions(f)).toEqual([])
      }
      expect(yield* roles(h.manager)).toEqual({ active: [], passive: [1, 2, 3, 4], pinned: [] })
    }))
})

describe("SyncManager: pinned peers", () => {
  it.scoped("SM-16.1: a pinned peer connecting first historical-syncs, is not the initial syncer; the next peer syncs too", () =>
    Effect.gen(function* () {
      const h = yield* start({ pinnedPeers: [hex(50)] })
      const p50 = yield* h.connect(50)
      expect(p50.options.syncType).toBe("PinnedSync")
      expect(p50.options.initialState).toBe("syncerIdle")
      expect(yield* historical(p50)).toBe(1)
      const p1 = yield* h.connect(1)
      expect(yield* historical(p1)).toBe(1)
      // the pinned sync completing is not the initial-sync event; p1's is
      yield* p50.completeSync
      yield* settle
      expect((yield* roles(h.manager)).active).toEqual([])
      yield* p1.completeSync
      yield* settle
      expect(yield* roles(h.manager)).toEqual({ active: [1], passive: [], pinned: [50] })
    }))

  it.scoped("SM-5: pinned syncers are not counted, never rotated or demoted, never tick candidates; pruned cleanly", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1, pinnedPeers: [hex(50), hex(51)] })
      const p50 = yield* h.connect(50)
      const p51 = yield* h.connect(51)
      yield* p50.completeSync
      yield* p51.completeSync
      yield* syncedNetwork(h, 3)
      expect((yield* roles(h.manager)).active.length).toBe(1)
      yield* TestClock.adjust("4 hours") // 12 rotations, 4 historical ticks
      for (const p of [p50, p51]) {
        expect(yield* transitions(p)).toEqual([])
        expect(yield* historical(p)).toBe(1)
      }
      expect((yield* roles(h.manager)).pinned).toEqual([50, 51])
      const active = (yield* roles(h.manager)).active
      yield* h.disconnect(50)
      expect(yield* Ref.get(p50.runInterrupted)).toBe(true)
      expect(yield* roles(h.manager)).toMatchObject({ active, pinned: [51] })
    }))

  it.scoped("SM-18: a pinned peer historical-syncs on every connection", () =>
    Effect.gen(function* () {
      const h = yield* start({ pinnedPeers: [hex(50)] })
      yield* syncedNetwork(h, 1)
      const first = yield* h.connect(50)
      yield* first.completeSync
      yield* h.disconnect(50)
      const second = yield* h.connect(50)
      expect(second).not.toBe(first)
      expect(yield* historical(second)).toBe(1)
    }))
})

describe("SyncManager: lookups", () => {
  it.scoped("SM-4/SM-9/SM-32: syncer(), syncers and gossipSyncers are snapshots of the three maps", () =>
    Effect.gen(function* () {
      const h = yield* start({ numActiveSyncers: 1, pinnedPeers: [hex(50)] })
      const fakes = yield* syncedNetwork(h, 2)
      const p50 = yield* h.connect(50)
      const r = yield* roles(h.manager)
      expect(r.pinned).toEqual([50])
      expect(r.active.length + r.passive.length).toBe(2)
      for (const f of [...fakes, p50]) {
        expect(Option.getOrThrow(yield* h.manager.syncer(f.nodeIdHex))).toBe(f.syncer)
        expect(Option.getOrThrow(yield* h.manager.syncer(f.nodeIdHex.toUpperCase()))).toBe(f.syncer)
      }
      expect(Option.isNone(yield* h.manager.syncer(hex(99)))).toBe(true)
      // SM-32 decision: pinned syncers are included, so they get gossip through their own filter
      const gossip = yield* h.manager.gossipSyncers
      expect([...gossip.keys()].map(numOf).sort((a, b) => a - b)).toEqual([1, 2, 50])
      expect(gossip.get(hex(50))).toBe(p50.syncer)
      // a snapshot does not change under later requests
      const snapshot = yield* h.manager.syncers
      yield* h.disconnect(1)
      expect(snapshot.length).toBe(3)
      expect((yield* h.manager.syncers).length).toBe(2)
    }))
})

describe("SyncManager: lifecycle", () => {
  it.effect("SM-10: closing the layer stops every syncer (pinned included) and leaves zero live fibers", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor.track
      const scope = yield* Scope.make()
      const { fakes, harness } = yield* Effect.gen(function* () {
        const h = yield* start({ numActiveSyncers: 1, pinnedPeers: [hex(50)] })
        yield* syncedNetwork(h, 3)
        yield* h.connect(50)
        yield* h.disconnect(2) // a retired syncer too
        yield* TestClock.adjust("90 minutes") // tickers running, a resync in progress
        return { fakes: yield* Ref.get(h.fakes.made), harness: h }
      }).pipe(Effect.provideService(Scope.Scope, scope), Effect.supervised(supervisor))
      expect((yield* supervisor.value).length).toBeGreaterThan(fakes.length)
      yield* Effect.supervised(harness.manager.stop, supervisor)
      yield* harness.manager.stop // idempotent
      for (const f of fakes) {
        expect(yield* Ref.get(f.runInterrupted)).toBe(true)
        expect(yield* Ref.get(f.runScopeClosed)).toBe(true)
      }
      expect(yield* harness.manager.syncers).toEqual([])
      yield* Scope.close(scope, Exit.void) // runs stop again through the finalizer
      expect(yield* supervisor.value).toEqual([])
    }).pipe(Effect.scoped))

  it.scoped("SM-10: stop waits for a pruned syncer still releasing, even after its peer reconnected", () =>
    Effect.gen(function* () {
      const h = yield* start()
      const old = yield* h.connect(1)
      yield* old.behave({ slowRelease: true })
      yield* h.manager.pruneSyncState(hex(1)) // acked without waiting for the release (SM-23)
      expect(yield* Ref.get(old.runScopeClosed)).toBe(false)
      const fresh = yield* h.connect(1) // takes the peer's FiberMap slot
      const stop = yield* Effect.fork(h.manager.stop)
      yield* settle
      expect(Option.isNone(yield* Fiber.poll(stop))).toBe(true)
      expect(yield* Ref.get(fresh.runScopeClosed)).toBe(true)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(stop)
      expect(yield* Ref.get(old.runScopeClosed)).toBe(true)
    }))

  it.scoped("SM-11/SM-12: after stop, initSyncState fails with SyncManagerExiting and pruneSyncState returns silently", () =>
    Effect.gen(function* () {
      const h = yield* start()
      yield* h.connect(1)
      yield* h.manager.stop
      const exit = yield* Effect.exit(h.manager.initSyncState(fakePeer(2)))
      expect(exit).toEqual(Exit.fail(new SyncManagerExiting()))
      yield* h.manager.pruneSyncState(hex(1))
      expect((yield* Ref.get(h.fakes.made)).length).toBe(1)
    }))

  it.scoped("SM-11/SM-12: requests waiting when stop happens: init fails with SyncManagerExiting, prune returns", () =>
    Effect.gen(function* () {
      const h = yield* start()
      yield* h.fakes.behaveByDefault({ historical: "timeout" })
      yield* h.manager.initSyncState(fakePeer(1)) // the handler now waits up to 5 s on the historical request
      const init = yield* Effect.fork(h.manager.initSyncState(fakePeer(2)))
      const prune = yield* Effect.fork(h.manager.pruneSyncState(hex(1)))
      yield* settle
      expect(Option.isNone(yield* Fiber.poll(init))).toBe(true)
      yield* h.manager.stop
      expect(yield* Fiber.await(init)).toEqual(Exit.fail(new SyncManagerExiting()))
      expect(Exit.isSuccess(yield* Fiber.await(prune))).toBe(true)
      expect((yield* Ref.get(h.fakes.made)).map((f) => numOf(f.nodeIdHex))).toEqual([1])
    }))
})

describe("SyncManager: randomness", () => {
  /** Which passive syncer the SM-19 promotion picks among five eligible ones, for a given seed. */
  const promotedWith = (seed: number) =>
    Effect.scoped(
      Effect.gen(function* () {
        const h = yield* start({ numActiveSyncers: 1 }, seed)
        yield* syncedNetwork(h, 5)
        // and which one the first rotation brings in
        yield* TestClock.adjust("20 minutes")
        const afterRotation = (yield* roles(h.manager)).active[0]
        return { afterRotation, history: yield* Effect.forEach(yield* Ref.get(h.fakes.made), transitions) }
      })
    )

  it.effect("SM-27: with a seeded Random the choices are reproducible", () =>
    Effect.gen(function* () {
      const a = yield* promotedWith(42)
      const b = yield* promotedWith(42)
      expect(a).toEqual(b)
      const outcomes = new Set<string>()
      for (let seed = 0; seed < 8; seed++) outcomes.add(JSON.stringify(yield* promotedWith(seed)))
      expect(outcomes.size).toBeGreaterThan(1)
    }))

  it.effect("SM-27: over many runs every eligible candidate gets chosen", () =>
    Effect.gen(function* () {
      const chosen = new Set<number>()
      for (let seed = 0; seed < 60 && chosen.size < 5; seed++) {
        const { history } = yield* promotedWith(seed)
        history.forEach((ts, i) => {
          if (ts[0] === "ActiveSync") chosen.add(i + 1)
        })
      }
      expect([...chosen].sort()).toEqual([1, 2, 3, 4, 5])
    }))
})
