/**
 * GraphStoreError lives here, below `GraphStore.ts`, so that the store's machinery (the batch planner, the memory
 * store) can raise it without importing the public module that re-exports them (no import cycle).
 */
import { Data } from "effect"

export class GraphStoreError extends Data.TaggedError("GraphStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {}
