/**
 * The job behind `lnsync sync` and `lnsync demo`: keep the given peers connected, let the SyncManager sync, show
 * progress, and (when asked) return once the initial sync and every peer's reconciliation are written.
 */
import { Clock, Duration, Effect, Fiber, Option, Schedule } from "effect"
import { toHex } from "../domain/Hex.js"
import { GossipPipeline } from "../services/GossipPipeline.js"
import type { GraphCounts } from "../services/GraphStore.js"
import { GraphStore } from "../services/GraphStore.js"
import type { PeerAddress } from "../services/PeerConnector.js"
import { NodeIdentity, PeerConnector } from "../services/PeerConnector.js"
import { Reconciler } from "../services/Reconciler.js"
import { SyncManager } from "../services/SyncManager.js"

export type ProgressMode = "tty" | "lines" | "none"

export interface SyncReport {
  readonly counts: GraphCounts
  readonly peers: number
  readonly seconds: number
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

/** One progress line: what is in the graph and what each syncer is doing. */
const progressLine = Effect.gen(function* () {
  const store = yield* GraphStore
  const manager = yield* SyncManager
  const counts = yield* store.counts
  const syncers = yield* manager.syncers
  const states = yield* Effect.forEach(syncers, (s) =>
    s.syncer.state.get.pipe(Effect.map((state) => `${s.nodeIdHex.slice(0, 8)}:${s.syncType.replace("Sync", "")}/${state}`))
  )
  return `graph: ${counts.channels} channels, ${counts.updates} updates, ${counts.nodes} nodes | ${plural(syncers.length, "peer")} ${states.join(" ")}`
})

const showProgress = (mode: ProgressMode) => {
  if (mode === "none") return Effect.void
  const every = mode === "tty" ? Duration.millis(500) : Duration.seconds(5)
  return progressLine.pipe(
    Effect.flatMap((line) =>
      mode === "tty" ? Effect.sync(() => process.stdout.write(`\r\x1b[2K${line.slice(0, (process.stdout.columns ?? 160) - 1)}`)) : Effect.logInfo(line)
    ),
    Effect.catchAll((e) => Effect.logDebug("progress: graph counts unavailable", e)),
    Effect.repeat(Schedule.spaced(every)),
    Effect.asVoid
  )
}

/** Logs `node_id@host:port` so peers (and operators) can dial us. */
export const logIdentity = Effect.gen(function* () {
  const identity = yield* NodeIdentity
  const id = toHex(identity.nodeId)
  yield* Option.match(identity.listenAddress, {
    onNone: () => Effect.logInfo(`lnsync node ${id} (not listening)`),
    onSome: (a) => Effect.logInfo(`lnsync node ${id}@${a.host}:${a.port}`)
  })
})

/**
 * Dials `peers` (reconnecting with backoff) and syncs. With `untilSynced` it returns once the graph is synced, every
 * connected peer has been reconciled and the pipeline has written everything; otherwise it runs until interrupted.
 */
export const runSync = (
  peers: ReadonlyArray<PeerAddress>,
  options: { readonly untilSynced: boolean; readonly progress: ProgressMode }
) =>
  Effect.gen(function* () {
    const connector = yield* PeerConnector
    const manager = yield* SyncManager
    const reconciler = yield* Reconciler
    const pipeline = yield* GossipPipeline
    const store = yield* GraphStore
    const started = yield* Clock.currentTimeMillis
    for (const peer of peers) yield* connector.keepConnected(peer)
    const progress = yield* Effect.fork(showProgress(options.progress))
    const finish = Effect.gen(function* () {
      yield* manager.awaitGraphSynced
      yield* reconciler.awaitIdle
      yield* pipeline.flush
      yield* Fiber.interrupt(progress)
      if (options.progress === "tty") process.stdout.write("\n")
      const counts = yield* store.counts
      const ended = yield* Clock.currentTimeMillis
      const report: SyncReport = {
        counts,
        peers: yield* reconciler.reconciled,
        seconds: (ended - started) / 1000
      }
      yield* Effect.logInfo(
        `graph synced: ${counts.channels} channels, ${counts.updates} updates, ${counts.nodes} nodes (${report.seconds.toFixed(1)} s)`
      )
      return report
    })
    if (options.untilSynced) return yield* finish
    yield* Effect.fork(finish)
    return yield* Effect.never
  })

export const summaryLine = (r: SyncReport): string =>
  `synced: ${r.counts.channels} channels, ${r.counts.updates} updates, ${r.counts.nodes} nodes from ${r.peers} peers in ${r.seconds.toFixed(1)} s`
