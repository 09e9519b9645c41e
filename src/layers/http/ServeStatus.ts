/**
 * What the HTTP API says about syncing: whether the graph is ready to be served and, when lnsync is syncing, each
 * peer's sync status. `lnsync serve` alone is ready once the database is open (`layerStandalone`); `lnsync sync
 * --http` is ready once the SyncManager says the graph is synced (SM-6) and reports its `syncRecords`
 * (`layerSyncManager`).
 */
import { Context, Effect, Layer, Option } from "effect"
import { SyncManager } from "../../services/SyncManager.js"

export interface PeerSyncStatus {
  readonly nodeId: string
  /** The role the SyncManager gave the peer's syncer (SM-4), null if it has none right now. */
  readonly syncType: string | null
  /** The syncer's state (GS-2), null if it has none right now. */
  readonly state: string | null
  readonly completedSyncs: number
  readonly failures: number
  readonly lastFailure: string | null
  readonly completedInitial: boolean
  readonly syncing: boolean
}

export interface ServeStatusService {
  readonly mode: "serve" | "sync"
  readonly graphSynced: Effect.Effect<boolean>
  readonly peers: Effect.Effect<ReadonlyArray<PeerSyncStatus>>
}

export class ServeStatus extends Context.Tag("lnsync/http/ServeStatus")<ServeStatus, ServeStatusService>() {}

/** Serving a database file alone: it is as synced as it will get. */
export const layerStandalone: Layer.Layer<ServeStatus> = Layer.succeed(ServeStatus, {
  mode: "serve",
  graphSynced: Effect.succeed(true),
  peers: Effect.succeed([])
})

/** Serving while syncing: readiness and per-peer status from the SyncManager (a consistent snapshot, SM-9). */
export const layerSyncManager: Layer.Layer<ServeStatus, never, SyncManager> = Layer.effect(
  ServeStatus,
  Effect.map(SyncManager, (manager) => ({
    mode: "sync" as const,
    graphSynced: manager.isGraphSynced,
    peers: Effect.gen(function* () {
      const records = yield* manager.syncRecords
      const syncers = new Map((yield* manager.syncers).map((s) => [s.nodeIdHex, s] as const))
      const out: Array<PeerSyncStatus> = []
      for (const [nodeId, record] of records) {
        const snapshot = syncers.get(nodeId)
        out.push({
          nodeId,
          syncType: snapshot?.syncType ?? null,
          state: snapshot === undefined ? null : yield* snapshot.syncer.state.get,
          completedSyncs: record.completed,
          failures: record.failures,
          lastFailure: Option.getOrNull(record.lastFailure),
          completedInitial: record.completedInitial,
          syncing: record.syncing
        })
      }
      return out.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))
    })
  }))
)
