/**
 * The GossipSyncer's errors live here, below `GossipSyncer.ts` (which re-exports them), so the fiber modules can
 * raise them without importing the public module that imports them back (no import cycle).
 */
import { Data } from "effect"

/** GS-27/GS-29: the syncer did not accept the request within the transition timeout (5 s). */
export class SyncTransitionTimeout extends Data.TaggedError("SyncTransitionTimeout")<{ readonly peer: string }> {}

/** The syncer is stopping or stopped. */
export class GossipSyncerExiting extends Data.TaggedError("GossipSyncerExiting")<{ readonly peer: string }> {}

/** A sync transition could not send its `gossip_timestamp_filter` (GS-28). */
export class SyncTransitionFailed extends Data.TaggedError("SyncTransitionFailed")<{
  readonly peer: string
  readonly reason: string
}> {}

/**
 * Why a historical sync failed; the SyncManager moves the sync to another peer. `kind` "store": what the peer sent
 * could not be written (the pipeline's flush failed), so the graph is not synced even though the peer did its part
 * (SM-20: no graph-synced signal); absent or "peer": the peer's fault (timeout, lying replies, no gossip_queries).
 */
export class HistoricalSyncFailed extends Data.TaggedError("HistoricalSyncFailed")<{
  readonly peer: string
  readonly reason: string
  readonly kind?: "peer" | "store" | undefined
}> {}
