/**
 * The store's errors live here, below `GraphStore.ts`, so that the store's machinery (the batch planner, the memory
 * store) can raise them without importing the public module that re-exports them (no import cycle).
 */
import { Data } from "effect"
import { chainName, describe } from "../../../domain/Chain.js"
import type { ChainHash } from "../../../domain/Messages.js"

export class GraphStoreError extends Data.TaggedError("GraphStoreError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

/**
 * The database holds another chain's gossip than the one we were started for. Serving it would hand peers gossip
 * for the wrong chain (BOLT 7: they ignore it, or score it as misbehaviour), and syncing into it would mix chains;
 * so the store refuses to open.
 */
export class GraphStoreChainMismatch extends Data.TaggedError("GraphStoreChainMismatch")<{
  /** The database as the operator named it (a file name), for the message. */
  readonly database: string
  /** The chain recorded in the database. */
  readonly stored: ChainHash
  /** The chain we were started for. */
  readonly configured: ChainHash
}> {
  override get message(): string {
    const stored = chainName(this.stored)
    const hint = stored === undefined ? "use another --db" : `use --chain ${stored} or another --db`
    return `database ${this.database} holds bitcoin ${describe(this.stored)} gossip; lnsync was started for bitcoin ${
      describe(this.configured)
    } (${hint})`
  }
}
