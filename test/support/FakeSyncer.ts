/**
 * A scripted GossipSyncerFactory for SyncManager tests: each fake syncer follows the GossipSyncer contract
 * (GS-27..GS-30, GS-17; checked against the real syncer by test/GossipSyncer.contract.ts), lets the test drive its
 * state, and records what the manager asked.
 */
import type { Scope } from "effect"
import { Deferred, Effect, Option, Ref, Stream, SubscriptionRef } from "effect"
import type { Init } from "../../src/domain/Messages.js"
import {
  GossipSyncerExiting,
  type GossipSyncer,
  type GossipSyncerFactoryService,
  type GossipSyncerOptions,
  HistoricalSyncFailed,
  noSyncCounts,
  type SyncCounts,
  type SyncProgress,
  SyncTransitionFailed,
  type SyncerState,
  SyncTransitionTimeout,
  type SyncType
} from "../../src/services/GossipSyncer.js"
import type { Peer } from "../../src/services/Peer.js"
import { PeerDisconnected } from "../../src/services/Peer.js"

/**
 * How a fake answers the manager. "timeout" waits the real 5 s enqueue timeout (GS-27/29) on the TestClock; "slow"
 * accepts a historical sync after 4 s (a busy syncer, still within the timeout). `slowRelease` makes the scope given
 * to `run` take 1 s to close after interruption.
 */
export interface FakeBehaviour {
  readonly transitions: "accept" | "timeout" | "exiting" | "sendFails"
  readonly historical: "accept" | "slow" | "timeout" | "exiting"
  readonly slowRelease: boolean
}

export interface FakeSyncer {
  readonly peer: Peer
  readonly nodeIdHex: string
  readonly options: GossipSyncerOptions
  readonly syncer: GossipSyncer
  /** Sync types the syncer switched to (GS-28: a transition to its current type is not recorded). */
  readonly transitions: Ref.Ref<ReadonlyArray<SyncType>>
  /** Historical syncs accepted (GS-29). */
  readonly historicalRequests: Ref.Ref<number>
  readonly behaviour: Ref.Ref<FakeBehaviour>
  /** Changes how this fake answers from now on. */
  readonly behave: (patch: Partial<FakeBehaviour>) => Effect.Effect<void>
  readonly setState: (state: SyncerState) => Effect.Effect<void>
  /** GS-20/21/23: the sync in progress completes: chansSynced, the armed signal fires, the graph is marked synced. */
  readonly completeSync: Effect.Effect<void>
  /**
   * Issue 16: the sync in progress reports `progress` (as the real one does once its range replies are in); a
   * completed or failed sync clears it.
   */
  readonly setProgress: (progress: SyncProgress) => Effect.Effect<void>
  /** `completeSync`, reporting that the sync fetched `counts` (`lastCompleted`). */
  readonly completeSyncWith: (counts: SyncCounts) => Effect.Effect<void>
  /**
   * GS-17/GS-51: the sync in progress fails; `lastFailure` says why, the syncer is idle in syncerIdle and the armed
   * signal fails.
   */
  readonly failSync: (reason: string) => Effect.Effect<void>
  /** Makes `run` end by itself, as a syncer that hit a fatal error. */
  readonly endRun: Effect.Effect<void>
  readonly runStarted: Deferred.Deferred<void>
  /** Set when the manager interrupted `run`. */
  readonly runInterrupted: Ref.Ref<boolean>
  /** Set when the scope given to `run` was closed (its resources released). */
  readonly runScopeClosed: Ref.Ref<boolean>
}

export interface FakeSyncerControl {
  readonly factory: GossipSyncerFactoryService
  /** Every fake made, in creation order. */
  readonly made: Ref.Ref<ReadonlyArray<FakeSyncer>>
  /** The most recent fake for a peer (dies if none). */
  readonly latest: (nodeIdHex: string) => Effect.Effect<FakeSyncer>
  /** Behaviour given to fakes made from now on. */
  readonly defaultBehaviour: Ref.Ref<FakeBehaviour>
  readonly behaveByDefault: (patch: Partial<FakeBehaviour>) => Effect.Effect<void>
}

const accepting = (state: SyncerState) => state === "chansSynced" || state === "syncerIdle"

export const makeFakeSyncerFactory: Effect.Effect<FakeSyncerControl> = Effect.gen(function* () {
  const made = yield* Ref.make<ReadonlyArray<FakeSyncer>>([])
  const defaultBehaviour = yield* Ref.make<FakeBehaviour>({
    transitions: "accept",
    historical: "accept",
    slowRelease: false
  })

  const make = (peer: Peer, options: GossipSyncerOptions) =>
    Effect.gen(function* () {
      const peerHex = peer.nodeIdHex
      const syncType = yield* Ref.make<SyncType>(options.syncType)
      const state = yield* SubscriptionRef.make<SyncerState>(options.initialState)
      const transitions = yield* Ref.make<ReadonlyArray<SyncType>>([])
      const historicalRequests = yield* Ref.make(0)
      const behaviour = yield* Ref.make(yield* Ref.get(defaultBehaviour))
      const armed = yield* Ref.make<Deferred.Deferred<void, HistoricalSyncFailed | GossipSyncerExiting> | undefined>(
        undefined
      )
      const runStarted = yield* Deferred.make<void>()
      const runEnd = yield* Deferred.make<void>()
      /** Set when `run` ended (interrupted or by itself): like the real syncer, it then refuses every request. */
      const exited = yield* Deferred.make<void>()
      const exiting = new GossipSyncerExiting({ peer: peerHex })
      const failIfExited = Effect.flatMap(
        Deferred.isDone(exited),
        (done) => (done ? Effect.fail(exiting) : Effect.void)
      )
      const lastFailure = yield* Ref.make<Option.Option<HistoricalSyncFailed>>(Option.none())
      const lastCompleted = yield* Ref.make<Option.Option<SyncCounts>>(Option.none())
      const progress = yield* Ref.make<Option.Option<SyncProgress>>(Option.none())
      const runInterrupted = yield* Ref.make(false)
      const runScopeClosed = yield* Ref.make(false)

      const timeout = Effect.sleep("5 seconds").pipe(
        Effect.zipRight(Effect.fail(new SyncTransitionTimeout({ peer: peerHex })))
      )

      const syncer: GossipSyncer = {
        peer,
        syncType: Ref.get(syncType),
        state,
        processSyncTransition: (to) =>
          Effect.gen(function* () {
            yield* failIfExited
            const b = yield* Ref.get(behaviour)
            if (b.transitions === "timeout") return yield* timeout
            if (b.transitions === "exiting") return yield* new GossipSyncerExiting({ peer: peerHex })
            // GS-27: only accepted in chansSynced/idle; a busy syncer makes the caller wait out the 5 s.
            if (!accepting(yield* SubscriptionRef.get(state))) return yield* timeout
            if (b.transitions === "sendFails") {
              return yield* new SyncTransitionFailed({ peer: peerHex, reason: "send failed" })
            }
            if ((yield* Ref.get(syncType)) === to) return // GS-28: same type, nothing sent
            yield* Ref.set(syncType, to)
            yield* Ref.update(transitions, (ts) => [...ts, to])
          }),
        historicalSync: Effect.gen(function* () {
          yield* failIfExited
          const b = yield* Ref.get(behaviour)
          if (b.historical === "timeout") return yield* timeout
          if (b.historical === "exiting") return yield* new GossipSyncerExiting({ peer: peerHex })
          if (b.historical === "slow") yield* Effect.sleep("4 seconds")
          if (!accepting(yield* SubscriptionRef.get(state))) return yield* timeout
          // GS-29: synchronous; the syncer has left chansSynced when this returns.
          yield* Ref.update(historicalRequests, (n) => n + 1)
          yield* SubscriptionRef.set(state, "syncingChans")
        }),
        resetSyncedSignal: Effect.gen(function* () {
          // GS-30: already fired if the syncer is in chansSynced now; a syncer that has exited never will; a signal
          // already armed is shared with its first caller
          const signal = (yield* Ref.get(armed)) ??
            (yield* Deferred.make<void, HistoricalSyncFailed | GossipSyncerExiting>())
          if ((yield* SubscriptionRef.get(state)) === "chansSynced") yield* Deferred.succeed(signal, undefined)
          else if (yield* Deferred.isDone(exited)) yield* Deferred.fail(signal, exiting)
          else yield* Ref.set(armed, signal)
          return Deferred.await(signal)
        }),
        lastFailure: Ref.get(lastFailure),
        lastCompleted: Ref.get(lastCompleted),
        progress: Ref.get(progress)
      }

      const fireArmed = (
        fire: (d: Deferred.Deferred<void, HistoricalSyncFailed | GossipSyncerExiting>) => Effect.Effect<boolean>
      ) => Effect.flatMap(Ref.getAndSet(armed, undefined), (d) => (d === undefined ? Effect.void : fire(d)))

      const run: Effect.Effect<void, never, Scope.Scope> = Effect.gen(function* () {
        yield* Effect.addFinalizer(() =>
          Ref.get(behaviour).pipe(
            Effect.flatMap((b) => (b.slowRelease ? Effect.sleep("1 second") : Effect.void)),
            Effect.zipRight(Ref.set(runScopeClosed, true))
          )
        )
        yield* Deferred.succeed(runStarted, undefined)
        yield* Deferred.await(runEnd)
      }).pipe(
        Effect.onInterrupt(() => Ref.set(runInterrupted, true)),
        Effect.ensuring(
          Deferred.succeed(exited, undefined).pipe(Effect.zipRight(fireArmed((d) => Deferred.fail(d, exiting))))
        )
      )

      const completeSyncWith = (counts: SyncCounts) =>
        Ref.set(lastCompleted, Option.some(counts)).pipe(
          Effect.zipRight(Ref.set(progress, Option.none())),
          Effect.zipRight(SubscriptionRef.set(state, "chansSynced")),
          Effect.zipRight(fireArmed((d) => Deferred.succeed(d, undefined))),
          Effect.zipRight(options.markGraphSynced)
        )

      const fake: FakeSyncer = {
        peer,
        nodeIdHex: peerHex,
        options,
        syncer,
        transitions,
        historicalRequests,
        behaviour,
        behave: (patch) => Ref.update(behaviour, (b): FakeBehaviour => ({ ...b, ...patch })),
        setState: (s) => SubscriptionRef.set(state, s),
        setProgress: (p) => Ref.set(progress, Option.some(p)),
        completeSync: completeSyncWith(noSyncCounts),
        completeSyncWith,
        failSync: (reason) => {
          const failure = new HistoricalSyncFailed({ peer: peerHex, reason })
          // like the real syncer: the reason is readable before the state says the sync failed
          return Ref.set(lastFailure, Option.some(failure)).pipe(
            Effect.zipRight(Ref.set(progress, Option.none())),
            Effect.zipRight(SubscriptionRef.set(state, "syncerIdle")),
            Effect.zipRight(fireArmed((d) => Deferred.fail(d, failure)))
          )
        },
        endRun: Deferred.succeed(runEnd, undefined),
        runStarted,
        runInterrupted,
        runScopeClosed
      }
      yield* Ref.update(made, (all) => [...all, fake])
      return { syncer, run }
    })

  return {
    factory: { make },
    made,
    defaultBehaviour,
    behaveByDefault: (patch) => Ref.update(defaultBehaviour, (b): FakeBehaviour => ({ ...b, ...patch })),
    latest: (nodeIdHex) =>
      Ref.get(made).pipe(
        Effect.flatMap((all) => {
          const found = all.filter((f) => f.nodeIdHex === nodeIdHex).at(-1)
          return found === undefined ? Effect.dieMessage(`no fake syncer for ${nodeIdHex}`) : Effect.succeed(found)
        })
      )
  }
})

const emptyInit: Init = {
  _tag: "Init",
  globalFeatures: new Uint8Array(0),
  features: new Uint8Array(0),
  networks: undefined,
  remoteAddr: undefined,
  unknownTlvs: []
}

/** Node id `02` followed by `n` as 32 big-endian bytes: a well-formed compressed key as far as config checks go. */
export const fakeNodeId = (n: number): Uint8Array => {
  const id = new Uint8Array(33)
  id[0] = 0x02
  new DataView(id.buffer).setUint32(29, n)
  return id
}

export const fakeNodeIdHex = (n: number): string => Buffer.from(fakeNodeId(n)).toString("hex")

/** A peer that sends nothing; enough for the manager, which never touches the wire itself. */
export const fakePeer = (n: number, options: { readonly gossipQueries?: boolean } = {}): Peer => {
  const nodeId = fakeNodeId(n)
  const nodeIdHex = fakeNodeIdHex(n)
  return {
    nodeId,
    nodeIdHex,
    direction: "outbound",
    localInit: emptyInit,
    remoteInit: emptyInit,
    gossipQueries: options.gossipQueries ?? true,
    gossipQueriesEx: options.gossipQueries ?? true,
    send: () => Effect.void,
    sendRaw: () => Effect.void,
    messages: Stream.never,
    disconnect: () => Effect.void,
    closed: Effect.never.pipe(Effect.as(new PeerDisconnected({ nodeId: nodeIdHex, reason: "never" })))
  }
}
