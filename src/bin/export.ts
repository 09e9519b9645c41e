/**
 * `lnsync export --db <file|postgres://…> --format describegraph|jsonl [--out <file>]`: the stored graph as lnd's describegraph
 * JSON, or as JSON lines (one node or channel a line, in the HTTP API's shapes), to stdout or a file. Streamed a page
 * of rows at a time with the writer's backpressure respected, so a mainnet graph is never held in memory. A file is
 * written beside `--out` and renamed over it, so a reader never sees half an export.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option, Stream } from "effect"
import * as fs from "node:fs"
import type { Writable } from "node:stream"
import * as Node from "../layers/Node.js"
import { GraphQuery } from "../services/GraphQuery.js"
import { graphQueryPg, graphStorePg, load } from "./lazy.js"
import { CommandFailed, ExitCode } from "./terminal.js"

export type ExportFormat = "describegraph" | "jsonl"

const failedWrite = (target: string, cause: unknown) =>
  new CommandFailed({
    reason: `cannot write ${target}: ${cause instanceof Error ? cause.message : String(cause)}`,
    code: ExitCode.failed
  })

/** One piece to `out`, resuming when it has room again (or failing on its error). */
const writeTo = (out: Writable, target: string) => (text: string) =>
  Effect.async<void, CommandFailed>((resume) => {
    const onError = (cause: unknown) => resume(Effect.fail(failedWrite(target, cause)))
    out.once("error", onError)
    const done = () => {
      out.off("error", onError)
      resume(Effect.void)
    }
    if (out.write(text)) done()
    else out.once("drain", done)
  })

/** The export as text pieces (the API's JSON shapes load with it: they pull in the HTTP API, issue 18). */
export const exportStream = (format: ExportFormat) =>
  Stream.unwrap(
    Effect.zipWith(
      GraphQuery,
      load("the graph's JSON shapes (layers/http/GraphJson)", () => import("../layers/http/GraphJson.js")),
      (query, GraphJson) => (format === "describegraph" ? GraphJson.describeGraph(query) : GraphJson.jsonLines(query))
    )
  )

export const exportCommand = Command.make(
  "export",
  {
    db: Options.text("db").pipe(
      Options.optional,
      Options.withDescription("SQLite file or postgres:// URL of the graph (env LNSYNC_DB)")
    ),
    format: Options.choice("format", ["describegraph", "jsonl"]).pipe(
      Options.withDefault("describegraph" as const),
      Options.withDescription("describegraph: lnd's `lncli describegraph` JSON; jsonl: one node or channel a line")
    ),
    out: Options.text("out").pipe(Options.optional, Options.withDescription("file to write (default: stdout)"))
  },
  (o) =>
    Effect.gen(function* () {
      const db = Option.isSome(o.db) ? o.db.value : (yield* Node.config).db
      const [GraphStorePg, GraphQueryPg] = yield* Effect.all([graphStorePg, graphQueryPg])
      if (!GraphStorePg.isPostgresUrl(db) && !fs.existsSync(db)) {
        return yield* new CommandFailed({ reason: `no graph database at ${db}`, code: ExitCode.usage })
      }
      const pieces = exportStream(o.format).pipe(Stream.provideLayer(GraphQueryPg.layerWithStoreFor(db)))
      if (Option.isNone(o.out)) {
        return yield* Stream.runForEach(pieces, writeTo(process.stdout, "stdout"))
      }
      const out = o.out.value
      const partial = `${out}.partial`
      yield* Effect.acquireUseRelease(
        Effect.try({ try: () => fs.createWriteStream(partial), catch: (cause) => failedWrite(partial, cause) }),
        (file) =>
          Effect.gen(function* () {
            yield* Stream.runForEach(pieces, writeTo(file, partial))
            yield* Effect.async<void, CommandFailed>((resume) => {
              file.end(() => resume(Effect.void))
            })
            yield* Effect.try({ try: () => fs.renameSync(partial, out), catch: (cause) => failedWrite(out, cause) })
          }),
        (file, exit) =>
          Effect.sync(() => {
            file.destroy()
            if (exit._tag === "Failure") fs.rmSync(partial, { force: true })
          })
      )
      yield* Console.error(
        `${out}: ${o.format} export of ${GraphStorePg.isPostgresUrl(db) ? GraphStorePg.displayUrl(db) : db}`
      )
    })
).pipe(Command.withDescription("write a stored graph as lnd describegraph JSON or JSON lines"))
