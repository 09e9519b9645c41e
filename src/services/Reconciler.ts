/**
 * Reconciler: once the graph is synced, run one historical sync with every other gossip peer, one peer at a time,
 * once per connection. Beyond lnd (which syncs the whole range with one peer and then only takes live gossip from
 * the others, catching up by one random peer an hour): Eclair and CLN reconcile with each peer, and with extended
 * queries (timestamps + checksums) that costs only the range replies plus what actually differs. It is how an
 * operator who points lnsync at three peers ends with the union of their graphs rather than one peer's view.
 *
 * It never touches the SyncManager's state: it only asks syncers that are idle in `chansSynced` for a historical
 * sync (GS-29), exactly as the manager's historical ticker does, so SM rules hold unchanged.
 */
import type { Scope } from "effect"
import { Context, Effect, Layer, Option, Queue, Ref, Stream, SubscriptionRef } from "effect"
import type { GossipSyncer } from "./GossipSyncer.js"
import { PeerConnector } from "./PeerConnector.js"
import { SyncManager } from "./SyncManager.js"

export interface ReconcilerService {
  /** Peers whose reconciliation has not finished yet (queued or running). */
  readonly pending: Effect.Effect<number>
  /** Peers reconciled so far on this run (each connection counts once). */
  readonly reconciled: Effect.Effect<number>
  /** Completes when the graph is synced and no reconciliation is queued or running. */
  readonly awaitIdle: Effect.Effect<void>
}

export class Reconciler extends Context.Tag("lnsync/Reconciler")<Reconciler, ReconcilerService>() {}

/** Waits until the syncer is idle in `chansSynced`, the only state that accepts a historical sync promptly. */
const awaitChansSynced = (syncer: GossipSyncer): Effect.Effect<void> =>
  syncer.state.changes.pipe(
    Stream.filter((s) => s === "chansSynced"),
    Stream.take(1),
    Stream.runDrain
  )

const reconcileOne = (syncer: GossipSyncer): Effect.Effect<void> =>
  Effect.gen(function* () {
    yield* awaitChansSynced(syncer)
    yield* syncer.historicalSync
    const done = yield* syncer.resetSyncedSignal
    yield* done
    yield* Effect.logInfo("reconciled with peer").pipe(Effect.annotateLogs({ peer: syncer.peer.nodeIdHex }))
  }).pipe(
    // a failed reconciliation (timeout, lying peer, syncer gone) only costs this peer its turn
    Effect.catchAll((e) =>
      Effect.logWarning("reconciliation failed", e._tag).pipe(Effect.annotateLogs({ peer: syncer.peer.nodeIdHex }))
    )
  )

/** Peers queued for reconciliation; bounded by the number of connections, deduplicated by the `queued` set. */
const QUEUE_BOUND = 4096

export const make: Effect.Effect<ReconcilerService, never, SyncManager | PeerConnector | Scope.Scope> = Effect.gen(
  function* () {
    const manager = yield* SyncManager
    const connector = yield* PeerConnector
    const queue = yield* Queue.dropping<string>(QUEUE_BOUND)
    const queued = yield* Ref.make(new Set<string>())
    const running = yield* SubscriptionRef.make(0)
    const reconciled = yield* Ref.make(0)

    const forget = (nodeIdHex: string) =>
      Ref.update(queued, (s) => {
        const next = new Set(s)
        next.delete(nodeIdHex)
        return next
      })

    const enqueue = (nodeIdHex: string) =>
      Effect.gen(function* () {
        const fresh = yield* Ref.modify(queued, (s) => (s.has(nodeIdHex) ? [false, s] : [true, new Set(s).add(nodeIdHex)]))
        if (!fresh) return
        yield* SubscriptionRef.update(running, (n) => n + 1)
        // a full queue drops the peer: undo its accounting, or awaitIdle would wait for it forever
        if (!(yield* Queue.offer(queue, nodeIdHex))) {
          yield* forget(nodeIdHex)
          yield* SubscriptionRef.update(running, (n) => n - 1)
          yield* Effect.logWarning("reconciliation queue full; peer skipped").pipe(Effect.annotateLogs({ peer: nodeIdHex }))
        }
      })

    // one worker: reconciliations run one after another so they never compete with each other for the pipeline
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.gen(function* () {
          const nodeIdHex = yield* Queue.take(queue)
          yield* manager.awaitGraphSynced
          const syncer = yield* manager.syncer(nodeIdHex)
          if (Option.isSome(syncer)) {
            yield* reconcileOne(syncer.value)
            yield* Ref.update(reconciled, (n) => n + 1)
          }
          yield* forget(nodeIdHex)
          yield* SubscriptionRef.update(running, (n) => n - 1)
        })
      )
    )

    // every gossip peer that connects is queued; the peer the initial sync ran with is reconciled again, which with
    // extended queries costs one range exchange and nothing else
    const events = yield* connector.events
    yield* Effect.forkScoped(
      Stream.runForEach(events, (event) =>
        event._tag === "Connected" && event.peer.gossipQueries ? enqueue(event.peer.nodeIdHex) : Effect.void
      )
    )
    const already = yield* connector.connected
    for (const peer of already.values()) if (peer.gossipQueries) yield* enqueue(peer.nodeIdHex)

    return {
      pending: SubscriptionRef.get(running),
      reconciled: Ref.get(reconciled),
      awaitIdle: manager.awaitGraphSynced.pipe(
        Effect.zipRight(running.changes.pipe(Stream.filter((n) => n === 0), Stream.take(1), Stream.runDrain))
      )
    }
  }
)

export const layer: Layer.Layer<Reconciler, never, SyncManager | PeerConnector> = Layer.scoped(Reconciler, make)
