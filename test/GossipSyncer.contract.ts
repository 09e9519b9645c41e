/**
 * The GossipSyncer contract the SyncManager and the Reconciler rely on (GS-27..GS-30, GS-17, GS-51), as one suite
 * run against every implementation: the real syncer (GossipSyncerContract.test.ts) and the fake the manager's tests
 * use (FakeSyncerContract.test.ts), so the two cannot drift (issue 13: the fake's failed sync used to end in
 * `chansSynced` where the real one ends in `syncerIdle`).
 */
import { describe, expect, it } from "@effect/vitest"
import type { Scope } from "effect"
import { Duration, Effect, Either, Fiber, Option, SubscriptionRef, TestClock } from "effect"
import type { GossipSyncer, GossipSyncerOptions, SyncerState, SyncType } from "../src/services/GossipSyncer.js"
import { noSyncCounts } from "../src/services/GossipSyncer.js"

/** One syncer under test, its `run` forked in the test's scope, and the means to drive its peer. */
export interface ContractSubject {
  readonly syncer: GossipSyncer
  /** Lets the syncer's fibers run until they block. */
  readonly settle: Effect.Effect<void>
  /** The peer answers the historical sync in progress completely (an empty graph). */
  readonly completeSync: Effect.Effect<void>
  /** The historical sync in progress fails (the real peer stays silent past the reply timeout). */
  readonly failSync: Effect.Effect<void>
  /** How many times the syncer called `markGraphSynced` (SM-20). */
  readonly graphSynced: Effect.Effect<number>
  /** Ends the syncer's `run` as the manager does on a prune (interrupt). */
  readonly stop: Effect.Effect<void>
}

export type MakeSubject = (
  options: Pick<GossipSyncerOptions, "syncType" | "initialState">
) => Effect.Effect<ContractSubject, never, Scope.Scope>

const syncing: ReadonlyArray<SyncerState> = [
  "syncingChans",
  "waitingQueryRangeReply",
  "queryNewChannels",
  "waitingQueryChanReply"
]

const stateOf = (s: ContractSubject) => SubscriptionRef.get(s.syncer.state)

const tagOf = <E extends { readonly _tag: string }>(r: Either.Either<unknown, E>): string =>
  Either.isLeft(r) ? r.left._tag : "success"

/** A historical sync accepted and its synced signal armed, as the manager and the Reconciler do it. */
const startHistorical = (s: ContractSubject) =>
  Effect.gen(function* () {
    yield* s.syncer.historicalSync
    // GS-29: synchronous, the syncer has left chansSynced/syncerIdle when the request returns (SM-17)
    expect(syncing).toContain(yield* stateOf(s))
    const signal = yield* s.syncer.resetSyncedSignal
    return yield* Effect.fork(Effect.either(signal))
  })

export const gossipSyncerContract = (name: string, make: MakeSubject): void => {
  describe(`GossipSyncer contract: ${name}`, () => {
    const starts: ReadonlyArray<readonly [SyncType, SyncerState]> = [
      ["PassiveSync", "chansSynced"],
      ["ActiveSync", "chansSynced"],
      ["PinnedSync", "syncerIdle"]
    ]
    for (const [syncType, initialState] of starts) {
      it.scoped(`SM-15/SM-16.1: started as ${syncType} in ${initialState}, it stays there and keeps its type`, () =>
        Effect.gen(function* () {
          const s = yield* make({ syncType, initialState })
          expect(yield* stateOf(s)).toBe(initialState)
          expect(yield* s.syncer.syncType).toBe(syncType)
          expect(yield* s.graphSynced).toBe(0)
        }))
    }

    it.scoped("GS-30: the synced signal taken in chansSynced has already fired", () =>
      Effect.gen(function* () {
        const s = yield* make({ syncType: "PassiveSync", initialState: "chansSynced" })
        const signal = yield* s.syncer.resetSyncedSignal
        expect(yield* Effect.either(signal)).toEqual(Either.right(undefined))
      }))

    it.scoped("GS-20/GS-30/SM-20: a completed historical sync ends in chansSynced, fires the signal, marks the graph synced", () =>
      Effect.gen(function* () {
        const s = yield* make({ syncType: "PassiveSync", initialState: "chansSynced" })
        const waiting = yield* startHistorical(s)
        yield* s.completeSync
        expect(yield* Fiber.join(waiting)).toEqual(Either.right(undefined))
        expect(yield* stateOf(s)).toBe("chansSynced")
        expect(yield* s.graphSynced).toBeGreaterThanOrEqual(1)
      }))

    it.scoped("issue 13: lastFailure and lastCompleted are none on a fresh syncer; a completed sync reports what it fetched", () =>
      Effect.gen(function* () {
        const s = yield* make({ syncType: "PassiveSync", initialState: "chansSynced" })
        expect(yield* s.syncer.lastFailure).toEqual(Option.none())
        expect(yield* s.syncer.lastCompleted).toEqual(Option.none())
        const waiting = yield* startHistorical(s)
        yield* s.completeSync
        yield* Fiber.join(waiting)
        // the subjects' peers serve an empty graph: nothing wanted, nothing received
        expect(yield* s.syncer.lastCompleted).toEqual(Option.some(noSyncCounts))
        expect(yield* s.syncer.lastFailure).toEqual(Option.none())
      }))

    it.scoped("issue 16: progress is none on a fresh syncer, before the range replies are in, and after the sync ended", () =>
      Effect.gen(function* () {
        const s = yield* make({ syncType: "PassiveSync", initialState: "chansSynced" })
        expect(yield* s.syncer.progress).toEqual(Option.none())
        const first = yield* startHistorical(s)
        yield* s.settle
        expect(yield* s.syncer.progress).toEqual(Option.none())
        yield* s.failSync
        yield* Fiber.join(first)
        expect(yield* s.syncer.progress).toEqual(Option.none())
        const second = yield* startHistorical(s)
        yield* s.completeSync
        yield* Fiber.join(second)
        expect(yield* s.syncer.progress).toEqual(Option.none())
      }))

    it.scoped("GS-30: several callers may hold the synced signal at once; each gets the same sync's outcome", () =>
      Effect.gen(function* () {
        const s = yield* make({ syncType: "PassiveSync", initialState: "chansSynced" })
        const first = yield* startHistorical(s)
        const second = yield* Effect.fork(Effect.either(Effect.flatten(s.syncer.resetSyncedSignal)))
        yield* s.settle
        yield* s.failSync
        expect([tagOf(yield* Fiber.join(first)), tagOf(yield* Fiber.join(second))]).toEqual([
          "HistoricalSyncFailed",
          "HistoricalSyncFailed"
        ])
        const third = yield* startHistorical(s)
        const fourth = yield* Effect.fork(Effect.either(Effect.flatten(s.syncer.resetSyncedSignal)))
        yield* s.settle
        yield* s.completeSync
        expect([tagOf(yield* Fiber.join(third)), tagOf(yield* Fiber.join(fourth))]).toEqual(["success", "success"])
      }))

    it.scoped("GS-17: a failed historical sync ends in syncerIdle, fails the signal (HistoricalSyncFailed), marks nothing", () =>
      Effect.gen(function* () {
        const s = yield* make({ syncType: "PassiveSync", initialState: "chansSynced" })
        const waiting = yield* startHistorical(s)
        yield* s.failSync
        const result = yield* Fiber.join(waiting)
        expect(tagOf(result)).toBe("HistoricalSyncFailed")
        // lastFailure: the same failure, readable once the state says the sync failed
        const reason = Either.isLeft(result) && result.left._tag === "HistoricalSyncFailed" ? result.left.reason : ""
        expect(reason).not.toBe("")
        expect(Option.map(yield* s.syncer.lastFailure, (f) => f.reason)).toEqual(Option.some(reason))
        expect(yield* s.syncer.lastCompleted).toEqual(Option.none())
        expect(yield* stateOf(s)).toBe("syncerIdle")
        expect(yield* s.graphSynced).toBe(0)
        // a failed sync is not "synced": a signal taken now waits for a real completion
        const next = yield* Effect.fork(Effect.flatten(s.syncer.resetSyncedSignal))
        yield* s.settle
        expect(next.unsafePoll()).toBeNull()
        yield* Fiber.interrupt(next)
      }))

    it.scoped("GS-24/GS-29: after a failure the idle syncer accepts another historical sync, which can complete", () =>
      Effect.gen(function* () {
        const s = yield* make({ syncType: "PassiveSync", initialState: "chansSynced" })
        const first = yield* startHistorical(s)
        yield* s.failSync
        expect(tagOf(yield* Fiber.join(first))).toBe("HistoricalSyncFailed")
        const second = yield* startHistorical(s)
        yield* s.completeSync
        expect(yield* Fiber.join(second)).toEqual(Either.right(undefined))
        expect(yield* stateOf(s)).toBe("chansSynced")
      }))

    it.scoped("SM-16.1/SM-18: a pinned syncer idle from the start accepts its historical sync", () =>
      Effect.gen(function* () {
        const s = yield* make({ syncType: "PinnedSync", initialState: "syncerIdle" })
        const waiting = yield* startHistorical(s)
        yield* s.completeSync
        expect(yield* Fiber.join(waiting)).toEqual(Either.right(undefined))
        expect(yield* stateOf(s)).toBe("chansSynced")
      }))

    it.scoped("GS-27/GS-28/SM-29: processSyncTransition in chansSynced switches the type; to the same type it is a no-op", () =>
      Effect.gen(function* () {
        const s = yield* make({ syncType: "PassiveSync", initialState: "chansSynced" })
        yield* s.syncer.processSyncTransition("ActiveSync")
        expect(yield* s.syncer.syncType).toBe("ActiveSync")
        yield* s.syncer.processSyncTransition("ActiveSync")
        yield* s.syncer.processSyncTransition("PassiveSync")
        expect(yield* s.syncer.syncType).toBe("PassiveSync")
        expect(yield* stateOf(s)).toBe("chansSynced")
      }))

    it.scoped("GS-27/GS-29: a syncer busy with a sync refuses transitions and historical syncs after the 5 s timeout", () =>
      Effect.gen(function* () {
        const s = yield* make({ syncType: "PassiveSync", initialState: "chansSynced" })
        yield* startHistorical(s)
        const transition = yield* Effect.fork(Effect.either(s.syncer.processSyncTransition("ActiveSync")))
        const historical = yield* Effect.fork(Effect.either(s.syncer.historicalSync))
        yield* s.settle
        yield* TestClock.adjust(Duration.millis(4999))
        expect(transition.unsafePoll()).toBeNull()
        yield* TestClock.adjust(Duration.millis(1))
        expect(tagOf(yield* Fiber.join(transition))).toBe("SyncTransitionTimeout")
        expect(tagOf(yield* Fiber.join(historical))).toBe("SyncTransitionTimeout")
        expect(yield* s.syncer.syncType).toBe("PassiveSync")
      }))

    it.scoped("GS-4/SM-23: once run is interrupted, requests fail with GossipSyncerExiting and an armed signal fails too", () =>
      Effect.gen(function* () {
        const s = yield* make({ syncType: "PassiveSync", initialState: "chansSynced" })
        const waiting = yield* startHistorical(s)
        yield* s.stop
        expect(tagOf(yield* Fiber.join(waiting))).toBe("GossipSyncerExiting")
        expect(tagOf(yield* Effect.either(s.syncer.historicalSync))).toBe("GossipSyncerExiting")
        expect(tagOf(yield* Effect.either(s.syncer.processSyncTransition("ActiveSync")))).toBe("GossipSyncerExiting")
        // a signal taken after the end does not wait for a sync that will never come
        const late = yield* Effect.fork(Effect.either(Effect.flatten(s.syncer.resetSyncedSignal)))
        yield* s.settle
        expect(
          Option.map(
            Option.fromNullable(late.unsafePoll()),
            (exit) => exit._tag === "Success" ? tagOf(exit.value) : "died"
          )
        )
          .toEqual(Option.some("GossipSyncerExiting"))
      }))
  })
}
