/**
 * Reconciler (issue 13: every sync finishes; issue 18: several peers at once) over the real SyncManager with fake
 * syncers (checked against the real syncer by GossipSyncer.contract.ts) and an in-memory connector; TestClock drives
 * every deadline.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Scope } from "effect"
import {
  Clock,
  ConfigProvider,
  Context,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Random,
  Ref,
  Stream,
  SubscriptionRef,
  TestClock
} from "effect"
import * as Node from "../src/layers/Node.js"
import { GossipSyncerFactory } from "../src/services/GossipSyncer.js"
import type { Peer } from "../src/services/Peer.js"
import { PeerConnector } from "../src/services/PeerConnector.js"
import type { PeerOutcome, ReconcilerService, ReconcilerSettings } from "../src/services/Reconciler.js"
import * as Reconciler from "../src/services/Reconciler.js"
import type { SyncManagerService } from "../src/services/SyncManager.js"
import { SyncManager } from "../src/services/SyncManager.js"
import { layerSyncManagerConfig } from "../src/services/SyncManagerConfig.js"
import type { FakeSyncer, FakeSyncerControl } from "./support/FakeSyncer.js"
import { fakeNodeIdHex as hex, fakePeer, makeFakeSyncerFactory } from "./support/FakeSyncer.js"
import { makeMemoryPeerConnector } from "./support/MemoryPeerConnector.js"

const settle = Effect.repeatN(TestClock.adjust(0), 5)

interface Harness {
  readonly manager: SyncManagerService
  readonly reconciler: ReconcilerService
  readonly fakes: FakeSyncerControl
  /** The peer connects (connector event, then the manager's initSyncState as SyncNode does); its fake syncer. */
  readonly connect: (n: number) => Effect.Effect<FakeSyncer>
  readonly disconnect: (n: number) => Effect.Effect<void>
}

const start = (settings?: Partial<ReconcilerSettings>): Effect.Effect<Harness, never, Scope.Scope> =>
  Effect.gen(function* () {
    const fakes = yield* makeFakeSyncerFactory
    const connector = yield* makeMemoryPeerConnector
    const managerLayer = SyncManager.layer.pipe(
      Layer.provide(Layer.succeed(GossipSyncerFactory, fakes.factory)),
      Layer.provide(layerSyncManagerConfig({ numActiveSyncers: 1 }))
    )
    const config = settings === undefined ? Layer.empty : Reconciler.layerReconcilerConfig(settings)
    const layer = Reconciler.layer.pipe(
      Layer.provideMerge(Layer.mergeAll(managerLayer, Layer.succeed(PeerConnector, connector.service))),
      Layer.provide(config)
    )
    const context = yield* Layer.build(layer).pipe(Effect.orDie, Effect.withRandom(Random.make("reconciler")))
    const manager = Context.get(context, SyncManager)
    const peers = new Map<number, Peer>()
    return {
      manager,
      reconciler: Context.get(context, Reconciler.Reconciler),
      fakes,
      connect: (n) =>
        Effect.gen(function* () {
          const peer = fakePeer(n)
          peers.set(n, peer)
          yield* connector.attach(peer)
          yield* Effect.orDie(manager.initSyncState(peer))
          yield* settle
          return yield* fakes.latest(hex(n))
        }),
      disconnect: (n) =>
        connector.detach(hex(n), "closed by test").pipe(
          Effect.zipRight(manager.pruneSyncState(hex(n))),
          Effect.zipRight(settle)
        )
    }
  })

const historical = (f: FakeSyncer) => Ref.get(f.historicalRequests)
const historicals = (fs: ReadonlyArray<FakeSyncer>) => Effect.forEach(fs, historical)

/** How many of these fakes are syncing now (a historical sync accepted, GS-29, not ended, the syncer still running). */
const inFlight = (fs: ReadonlyArray<FakeSyncer>) =>
  Effect.map(
    Effect.forEach(fs, (f) =>
      Effect.zipWith(
        SubscriptionRef.get(f.syncer.state),
        Ref.get(f.runInterrupted),
        (state, gone) => state === "syncingChans" && !gone
      )),
    (syncing) => syncing.filter((b) => b).length
  )

/**
 * The most syncs ever in flight at once among these fakes: counted again on every state change of any of them (a
 * count read after the change never exceeds the true one, and an excess would last until the test ends a sync).
 */
const maxInFlight = (fs: ReadonlyArray<FakeSyncer>) =>
  Effect.gen(function* () {
    const max = yield* Ref.make(0)
    const changes = Stream.mergeAll(fs.map((f) => f.syncer.state.changes), { concurrency: "unbounded" })
    yield* Effect.forkScoped(
      Stream.runForEach(changes, () => Effect.flatMap(inFlight(fs), (n) => Ref.update(max, (m) => Math.max(m, n))))
    )
    yield* settle
    return max
  })

/** Today's order, from before the Reconciler ran several peers at once. */
const oneAtATime: Partial<ReconcilerSettings> = { concurrency: 1 }

/** An outcome's tag and its detail, short enough to compare whole accounts. */
const brief = (o: PeerOutcome): string =>
  o._tag === "Completed"
    ? `${parseInt(o.nodeIdHex.slice(-8), 16)} Completed ${o.sync}`
    : `${parseInt(o.nodeIdHex.slice(-8), 16)} ${o._tag}: ${o.reason}`

const account = (h: Harness, deadline?: Duration.DurationInput) =>
  Effect.map(h.reconciler.account(deadline), (a) => ({ ...a, peers: a.peers.map(brief) }))

describe("Reconciler with concurrency 1: every peer once, one at a time", () => {
  it.scoped("the peer that completed the initial sync is not reconciled again; the others are, one after another", () =>
    Effect.gen(function* () {
      const h = yield* start(oneAtATime)
      const [p1, p2, p3] = [yield* h.connect(1), yield* h.connect(2), yield* h.connect(3)]
      expect([yield* historical(p2), yield* historical(p3)]).toEqual([0, 0]) // nothing before the graph is synced
      yield* p1.completeSync
      yield* settle
      expect(yield* historical(p1)).toBe(1) // the initial sync only (issue 13, item 6)
      expect([yield* historical(p2), yield* historical(p3)]).toEqual([1, 0])
      yield* p2.completeSync
      yield* settle
      expect(yield* historical(p3)).toBe(1)
      yield* p3.completeSync
      yield* settle
      yield* h.reconciler.awaitIdle
      expect(yield* h.reconciler.reconciled).toBe(3)
      expect(yield* account(h)).toEqual({
        peers: ["1 Completed initial", "2 Completed reconcile", "3 Completed reconcile"],
        graphSynced: true,
        ended: "settled"
      })
    }))

  it.scoped("a peer whose reconciliation fails is passed over with its reason; the next one goes on", () =>
    Effect.gen(function* () {
      const h = yield* start(oneAtATime)
      const [p1, p2, p3] = [yield* h.connect(1), yield* h.connect(2), yield* h.connect(3)]
      yield* p1.completeSync
      yield* settle
      yield* p2.failSync("reply_channel_range gap")
      yield* settle
      expect(yield* historical(p3)).toBe(1)
      yield* p3.completeSync
      yield* h.reconciler.awaitIdle
      expect((yield* account(h)).peers).toEqual([
        "1 Completed initial",
        "2 Failed: reply_channel_range gap",
        "3 Completed reconcile"
      ])
    }))

  it.scoped("a peer busy past busyTimeout is skipped with the reason; the next one goes on", () =>
    Effect.gen(function* () {
      const h = yield* start(oneAtATime)
      const [p1, p2, p3] = [yield* h.connect(1), yield* h.connect(2), yield* h.connect(3)]
      yield* p2.setState("waitingQueryRangeReply") // a sync of its own that never ends
      yield* p1.completeSync
      yield* settle
      yield* TestClock.adjust(Duration.millis(2 * 60_000 - 1))
      expect(yield* historical(p3)).toBe(0)
      yield* TestClock.adjust(Duration.millis(1))
      yield* settle
      expect(yield* historical(p3)).toBe(1)
      expect(yield* historical(p2)).toBe(0)
      yield* p3.completeSync
      yield* h.reconciler.awaitIdle
      expect((yield* account(h)).peers).toEqual([
        "1 Completed initial",
        "2 Skipped: busy for 2m",
        "3 Completed reconcile"
      ])
    }))

  it.scoped("a peer that disconnects mid-reconciliation is passed over at once", () =>
    Effect.gen(function* () {
      const h = yield* start(oneAtATime)
      const [p1, p2, p3] = [yield* h.connect(1), yield* h.connect(2), yield* h.connect(3)]
      yield* p1.completeSync
      yield* settle
      expect(yield* historical(p2)).toBe(1)
      yield* h.disconnect(2)
      expect(yield* historical(p3)).toBe(1)
      yield* p3.completeSync
      yield* h.reconciler.awaitIdle
      expect((yield* account(h)).peers).toEqual([
        "1 Completed initial",
        "2 Disconnected: closed by test",
        "3 Completed reconcile"
      ])
    }))

  it.scoped("a reconciliation that never ends counts as failed after syncTimeout (configurable)", () =>
    Effect.gen(function* () {
      const h = yield* start({ ...oneAtATime, syncTimeout: Duration.minutes(3) })
      const [p1, p2, p3] = [yield* h.connect(1), yield* h.connect(2), yield* h.connect(3)]
      yield* p1.completeSync
      yield* settle
      expect(yield* historical(p2)).toBe(1) // and then nothing from the peer, with no reply timeout (lnd mode)
      yield* TestClock.adjust("3 minutes")
      yield* settle
      expect(yield* historical(p3)).toBe(1)
      yield* p3.completeSync
      yield* h.reconciler.awaitIdle
      expect((yield* account(h)).peers[1]).toBe("2 Failed: sync did not finish within 3m")
    }))

  it.scoped("a peer whose sync already failed on this connection waits until the others had their turn", () =>
    Effect.gen(function* () {
      const h = yield* start(oneAtATime)
      const [p1, p2, p3] = [yield* h.connect(1), yield* h.connect(2), yield* h.connect(3)]
      yield* p1.failSync("no reply_channel_range within 2m") // p1 had the initial sync
      yield* settle
      const initial = (yield* historical(p2)) === 1 ? p2 : p3
      const other = initial === p2 ? p3 : p2
      yield* initial.completeSync
      yield* TestClock.adjust("5 seconds") // p1's backoff is over: it could take a sync, but the good peer goes first
      yield* settle
      expect([yield* historical(p1), yield* historical(other)]).toEqual([1, 1])
      yield* other.completeSync
      yield* settle
      expect(yield* historical(p1)).toBe(2)
      yield* p1.failSync("no reply_channel_range within 2m")
      yield* h.reconciler.awaitIdle
      expect((yield* account(h)).peers[0]).toBe("1 Failed: no reply_channel_range within 2m")
    }))

  it.scoped("a Completed outcome carries what the sync fetched (the syncer's lastCompleted)", () =>
    Effect.gen(function* () {
      const h = yield* start(oneAtATime)
      const [p1, p2] = [yield* h.connect(1), yield* h.connect(2)]
      const initialCounts = {
        channelsRequested: 3,
        channelsReceived: 3,
        updatesReceived: 5,
        nodesRequested: 0,
        nodesReceived: 2
      }
      const reconcileCounts = {
        channelsRequested: 1,
        channelsReceived: 0,
        updatesReceived: 0,
        nodesRequested: 0,
        nodesReceived: 0
      }
      yield* p1.completeSyncWith(initialCounts)
      yield* settle
      yield* p2.completeSyncWith(reconcileCounts)
      yield* h.reconciler.awaitIdle
      const fetched = (yield* h.reconciler.account()).peers.map((o) =>
        o._tag === "Completed" ? [o.sync, o.fetched] : [o._tag]
      )
      expect(fetched).toEqual([["initial", initialCounts], ["reconcile", reconcileCounts]])
    }))

  it.scoped("a peer that reconnects while its old connection is being reconciled gets its own turn", () =>
    Effect.gen(function* () {
      const h = yield* start(oneAtATime)
      const [p1] = [yield* h.connect(1), yield* h.connect(2)]
      yield* p1.completeSync
      yield* settle
      yield* h.disconnect(2)
      const again = yield* h.connect(2)
      expect(yield* historical(again)).toBe(1)
      yield* again.completeSync
      yield* h.reconciler.awaitIdle
      expect((yield* account(h)).peers).toEqual(["1 Completed initial", "2 Completed reconcile"])
    }))

  it.scoped("never two in flight: each peer starts when the one before it ended, in the order they connected", () =>
    Effect.gen(function* () {
      const h = yield* start(oneAtATime)
      const [p1, ...others] = yield* Effect.forEach([1, 2, 3, 4], h.connect)
      const max = yield* maxInFlight(others)
      yield* p1.completeSync
      yield* settle
      for (const [i, p] of others.entries()) {
        expect(yield* historicals(others)).toEqual(others.map((_, j) => (j <= i ? 1 : 0)))
        yield* TestClock.adjust("1 minute") // time does not start the next one; the end of this one does
        expect(yield* historicals(others)).toEqual(others.map((_, j) => (j <= i ? 1 : 0)))
        yield* p.completeSync
        yield* settle
      }
      yield* h.reconciler.awaitIdle
      expect(yield* Ref.get(max)).toBe(1)
      expect(yield* h.reconciler.reconciled).toBe(4)
    }))
})

describe("Reconciler: several peers at once (issue 18)", () => {
  it.scoped("after the initial sync every other peer's reconciliation is in flight at once (default concurrency)", () =>
    Effect.gen(function* () {
      const h = yield* start()
      const [p1, ...others] = yield* Effect.forEach([1, 2, 3, 4, 5, 6], h.connect)
      expect(yield* inFlight(others)).toBe(0) // nothing before the graph is synced
      yield* p1.completeSync
      yield* settle
      // all five asked at once, at the same virtual instant: no reconciliation waited for another
      expect(yield* Clock.currentTimeMillis).toBe(0)
      expect(yield* historicals(others)).toEqual([1, 1, 1, 1, 1])
      expect(yield* inFlight(others)).toBe(5)
      expect(yield* historical(p1)).toBe(1) // the initial sync only
      expect(yield* h.reconciler.pending).toBe(5)
      const idle = yield* Effect.fork(h.reconciler.awaitIdle)
      for (const p of [...others].reverse()) { // they end in any order
        yield* settle
        expect(idle.unsafePoll()).toBeNull()
        yield* p.completeSync
      }
      yield* Fiber.join(idle)
      expect(yield* h.reconciler.pending).toBe(0)
      expect(yield* h.reconciler.reconciled).toBe(6)
      expect(yield* historicals(others)).toEqual([1, 1, 1, 1, 1]) // once per connection
      expect((yield* account(h)).peers).toEqual([
        "1 Completed initial",
        "2 Completed reconcile",
        "3 Completed reconcile",
        "4 Completed reconcile",
        "5 Completed reconcile",
        "6 Completed reconcile"
      ])
    }))

  it.scoped("never more than `concurrency` in flight; a queued peer starts as one ends, in the order they connected", () =>
    Effect.gen(function* () {
      const h = yield* start({ concurrency: 3 })
      const [p1, ...others] = yield* Effect.forEach([1, 2, 3, 4, 5, 6, 7, 8], h.connect)
      const [p2, p3, _p4, p5, p6, p7, p8] = others
      const max = yield* maxInFlight(others)
      yield* p1.completeSync
      yield* settle
      expect(yield* historicals(others)).toEqual([1, 1, 1, 0, 0, 0, 0])
      yield* TestClock.adjust("5 minutes") // waiting frees no worker; only an ended reconciliation does
      expect(yield* historicals(others)).toEqual([1, 1, 1, 0, 0, 0, 0])
      yield* p3!.completeSync
      yield* settle
      expect(yield* historicals(others)).toEqual([1, 1, 1, 1, 0, 0, 0])
      yield* p2!.failSync("reply_channel_range gap") // a failure frees its worker too
      yield* settle
      expect(yield* historicals(others)).toEqual([1, 1, 1, 1, 1, 0, 0])
      yield* h.disconnect(4) // and so does a disconnect
      expect(yield* historicals(others)).toEqual([1, 1, 1, 1, 1, 1, 0])
      expect(yield* inFlight(others)).toBe(3)
      expect(yield* h.reconciler.pending).toBe(4) // three running, one queued
      for (const p of [p5, p6, p7, p8]) {
        yield* p!.completeSync
        yield* settle
      }
      yield* h.reconciler.awaitIdle
      expect(yield* Ref.get(max)).toBe(3)
      expect(yield* historicals(others)).toEqual([1, 1, 1, 1, 1, 1, 1])
      expect((yield* account(h)).peers).toEqual([
        "1 Completed initial",
        "2 Failed: reply_channel_range gap",
        "3 Completed reconcile",
        "4 Disconnected: closed by test",
        "5 Completed reconcile",
        "6 Completed reconcile",
        "7 Completed reconcile",
        "8 Completed reconcile"
      ])
    }))

  it.scoped("a peer whose sync already failed starts only after every other queued peer started", () =>
    Effect.gen(function* () {
      const h = yield* start({ concurrency: 2 })
      const [p1, ...rest] = yield* Effect.forEach([1, 2, 3, 4, 5], h.connect)
      const max = yield* maxInFlight([p1, ...rest])
      yield* p1.failSync("no reply_channel_range within 2m") // p1 had the initial sync; another peer takes it over
      yield* settle
      const initial = rest[(yield* historicals(rest)).indexOf(1)]!
      const others = rest.filter((p) => p !== initial) // in the order they connected
      yield* initial.completeSync
      yield* TestClock.adjust("5 seconds") // p1's backoff is over: it could take a sync, but the good peers go first
      yield* settle
      expect(yield* historicals(others)).toEqual([1, 1, 0])
      expect(yield* historical(p1)).toBe(1)
      yield* others[0]!.completeSync
      yield* settle
      expect(yield* historicals(others)).toEqual([1, 1, 1]) // the last good peer took the free worker
      expect(yield* historical(p1)).toBe(1)
      yield* others[1]!.completeSync
      yield* settle
      expect(yield* historical(p1)).toBe(2) // its turn, once
      yield* p1.failSync("no reply_channel_range within 2m")
      yield* others[2]!.completeSync
      yield* h.reconciler.awaitIdle
      expect(yield* Ref.get(max)).toBe(2)
      const peers = (yield* account(h)).peers
      expect(peers[0]).toBe("1 Failed: no reply_channel_range within 2m")
      expect(peers.slice(1).filter((o) => o.endsWith("Completed reconcile"))).toHaveLength(3)
      expect(peers.slice(1).filter((o) => o.endsWith("Completed initial"))).toHaveLength(1)
    }))

  it.scoped("each peer's busyTimeout and syncTimeout run from its own start; account and awaitIdle wait for all", () =>
    Effect.gen(function* () {
      const h = yield* start({ syncTimeout: Duration.minutes(3) })
      const [p1, p2, p3, p4, , p6] = yield* Effect.forEach([1, 2, 3, 4, 5, 6], h.connect)
      yield* p3!.setState("waitingQueryRangeReply") // a sync of its own that never ends
      const accounted = yield* Effect.fork(account(h))
      const idle = yield* Effect.fork(h.reconciler.awaitIdle)
      yield* p1!.completeSync
      yield* settle
      expect(yield* historicals([p2!, p3!, p4!, p6!])).toEqual([1, 0, 1, 1])
      yield* p2!.completeSync
      yield* p4!.failSync("reply_channel_range gap")
      yield* h.disconnect(5)
      yield* TestClock.adjust("2 minutes") // p3's busyTimeout, counted from time 0 with the others
      yield* settle
      expect(accounted.unsafePoll()).toBeNull()
      expect(idle.unsafePoll()).toBeNull() // p6 is still syncing
      yield* TestClock.adjust("1 minute") // p6's syncTimeout, from time 0 too: not after the others' turns
      yield* settle
      yield* Fiber.join(idle)
      expect(yield* Clock.currentTimeMillis).toBe(3 * 60_000)
      expect(yield* Fiber.join(accounted)).toEqual({
        peers: [
          "1 Completed initial",
          "2 Completed reconcile",
          "3 Skipped: busy for 2m",
          "4 Failed: reply_channel_range gap",
          "5 Disconnected: closed by test",
          "6 Failed: sync did not finish within 3m"
        ],
        graphSynced: true,
        ended: "settled"
      })
      expect(yield* h.reconciler.reconciled).toBe(2)
    }))

  it.scoped("a peer that reconnects while its old connection is in flight is not reconciled twice at once", () =>
    Effect.gen(function* () {
      const h = yield* start()
      const [p1, p2, p3] = yield* Effect.forEach([1, 2, 3], h.connect)
      yield* p1!.completeSync
      yield* settle
      expect(yield* historicals([p2!, p3!])).toEqual([1, 1])
      yield* h.disconnect(2)
      const again = yield* h.connect(2)
      expect(yield* historical(again)).toBe(1) // its new connection's own turn, on a free worker
      yield* again.completeSync
      yield* p3!.completeSync
      yield* h.reconciler.awaitIdle
      expect(yield* historical(p2!)).toBe(1)
      expect((yield* account(h)).peers).toEqual([
        "1 Completed initial",
        "2 Completed reconcile",
        "3 Completed reconcile"
      ])
    }))

  it.effect("LNSYNC_RECONCILE_CONCURRENCY reaches the Reconciler's settings; absent or 0 is 8, below 0 is refused", () =>
    Effect.gen(function* () {
      const read = (env: Record<string, string>) =>
        Node.config.pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" })),
          Effect.exit
        )
      const concurrency = (env: Record<string, string>) =>
        Effect.map(
          read(env),
          Exit.map((c) => Node.settingsFromConfig(c, new Uint8Array(32).fill(1)).reconciler?.concurrency)
        )
      expect(yield* concurrency({ LNSYNC_RECONCILE_CONCURRENCY: "3" })).toEqual(Exit.succeed(3))
      expect(yield* concurrency({})).toEqual(Exit.succeed(Reconciler.ReconcilerDefaults.concurrency))
      expect(yield* concurrency({ LNSYNC_RECONCILE_CONCURRENCY: "0" })).toEqual(Exit.succeed(8))
      const refused = yield* read({ LNSYNC_RECONCILE_CONCURRENCY: "-1" })
      expect(Exit.isFailure(refused) && String(refused.cause)).toContain("RECONCILE_CONCURRENCY")
    }))
})

describe("Reconciler.account: what happened, for --exit-when-synced", () => {
  it.scoped("a silent peer alone: the account ends when its sync fails, with the reason and no synced graph", () =>
    Effect.gen(function* () {
      const h = yield* start()
      const p1 = yield* h.connect(1)
      const waiting = yield* Effect.fork(account(h))
      yield* settle
      expect(waiting.unsafePoll()).toBeNull()
      yield* p1.failSync("no reply_channel_range within 2m")
      yield* settle
      expect(yield* Fiber.join(waiting)).toEqual({
        peers: ["1 Failed: no reply_channel_range within 2m"],
        graphSynced: false,
        ended: "settled"
      })
    }))

  it.scoped("a silent peer and an honest one: the initial sync moves to the honest peer; the silent one fails again", () =>
    Effect.gen(function* () {
      const h = yield* start()
      const [p1, p2] = [yield* h.connect(1), yield* h.connect(2)]
      const waiting = yield* Effect.fork(account(h))
      yield* p1.failSync("no reply_channel_range within 2m")
      yield* settle
      expect(waiting.unsafePoll()).toBeNull() // p2 is syncing now
      expect(yield* historical(p2)).toBe(1)
      yield* p2.completeSync
      yield* settle
      // the Reconciler gives the silent peer its turn once its backoff (5 s) lets it take a sync
      yield* TestClock.adjust("5 seconds")
      yield* settle
      expect(yield* historical(p1)).toBe(2)
      expect(waiting.unsafePoll()).toBeNull()
      yield* p1.failSync("no reply_channel_range within 2m")
      yield* settle
      expect(yield* Fiber.join(waiting)).toEqual({
        peers: ["1 Failed: no reply_channel_range within 2m", "2 Completed initial"],
        graphSynced: true,
        ended: "settled"
      })
    }))

  it.scoped("every peer gone: the account ends, each one Disconnected (or what it came to before)", () =>
    Effect.gen(function* () {
      const h = yield* start()
      yield* h.connect(1)
      yield* h.connect(2)
      const waiting = yield* Effect.fork(account(h))
      yield* h.disconnect(1)
      yield* settle
      expect(waiting.unsafePoll()).toBeNull()
      yield* h.disconnect(2)
      expect(yield* Fiber.join(waiting)).toEqual({
        peers: ["1 Disconnected: closed by test", "2 Disconnected: closed by test"],
        graphSynced: false,
        ended: "noPeers"
      })
    }))

  it.scoped("the overall deadline ends it: peers still syncing are Skipped", () =>
    Effect.gen(function* () {
      const h = yield* start()
      yield* h.connect(1) // its initial sync never ends
      const waiting = yield* Effect.fork(account(h, "10 minutes"))
      yield* TestClock.adjust(Duration.millis(10 * 60_000 - 1))
      expect(waiting.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* Fiber.join(waiting)).toEqual({
        peers: ["1 Skipped: still syncing at the 10m deadline"],
        graphSynced: false,
        ended: "deadline"
      })
    }))

  it.scoped("the default deadline is accountDeadline from ReconcilerConfig", () =>
    Effect.gen(function* () {
      const h = yield* start({ accountDeadline: Duration.minutes(1) })
      yield* h.connect(1)
      const waiting = yield* Effect.fork(h.reconciler.account())
      yield* TestClock.adjust("1 minute")
      expect(Option.map(Option.fromNullable(waiting.unsafePoll()), (e) => e._tag)).toEqual(Option.some("Success"))
      expect((yield* Fiber.join(waiting)).ended).toBe("deadline")
    }))
})
