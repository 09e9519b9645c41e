/**
 * Modules a command loads only when it runs (issue 18: the CLI's startup cost). `lnsync sync` and `--help` used to
 * load every command's code at start: the HTTP API (the `@effect/platform` index with its swagger and scalar UI
 * bundles, ~5 MB of source each), the `@effect/platform-node` index (cluster, RPC, undici, ws) and node-postgres —
 * ~0.4 CPU-seconds and ~25 MB of heap that a sync into SQLite never uses. Commands import them here instead.
 *
 * A module that cannot be loaded is a broken install, not something to retry or ignore: a `CommandFailed` naming
 * the module and why, exit 70 (a bug, `ExitCode.software`).
 */
import { Effect } from "effect"
import { loadFailure } from "../layers/loading.js"
import { CommandFailed, ExitCode } from "./terminal.js"

/** `load()` of the module that `what` names (for the message), failing with CommandFailed when it cannot load. */
export const load = <M>(what: string, load: () => Promise<M>): Effect.Effect<M, CommandFailed> =>
  Effect.tryPromise({
    try: load,
    catch: (cause) =>
      new CommandFailed({
        reason: loadFailure(what, cause),
        code: ExitCode.software
      })
  })

/** node-postgres and the SQL stores over `--db` (a SQLite file or a `postgres://` URL). */
export const graphStorePg = load(
  "the graph store (layers/graph/GraphStorePg)",
  () => import("../layers/graph/GraphStorePg.js")
)

/** The read side over `--db` (GraphQuery, distributions) for `serve`, `export` and `sync --http`. */
export const graphQueryPg = load(
  "the graph queries (layers/graph/GraphQueryPg)",
  () => import("../layers/graph/GraphQueryPg.js")
)
