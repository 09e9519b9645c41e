/**
 * The SyncManager's errors live here, below `SyncManager.ts` (which re-exports them), so the machinery can raise
 * them without importing the public module that imports it back (no import cycle).
 */
import { Data } from "effect"

/** SM-11: the manager is stopping or stopped (lnd's `ErrSyncManagerExiting`). */
export class SyncManagerExiting extends Data.TaggedError("SyncManagerExiting")<{}> {
  override readonly message = "sync manager exiting"
}
