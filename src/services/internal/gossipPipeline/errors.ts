/**
 * The pipeline's errors live here, below `GossipPipeline.ts` (which re-exports them), so the stage modules can
 * raise them without importing the public module that imports them back (no import cycle).
 */
import { Data } from "effect"
import type { GraphStoreError } from "../../GraphStore.js"

/**
 * `flush`: gossip submitted before it may not have reached the store — a write (or the store reads a batch needed)
 * failed since the previous flush, or the store's last write failed and it has not written successfully since.
 * `cause` is the store's first such error. Whoever flushes to mark a sync complete must not (SM-6, SM-20).
 */
export class GossipPipelineStoreFailed extends Data.TaggedError("GossipPipelineStoreFailed")<{
  readonly cause: GraphStoreError
}> {
  override get message(): string {
    return `gossip could not be written to the graph store (${this.cause.operation}): ${String(this.cause.cause)}`
  }
}
