/**
 * Child process for the crash-safety test: writes crash batches into a SQLite GraphStore, printing
 * "committed <n>" after each commit.
 *   graphWriter.ts <file> continuous          write batches 1, 2, ... until killed
 *   graphWriter.ts <file> hang <k>            commit batches 1..k-1, then apply batch k inside a transaction that
 *                                             is never committed, print "uncommitted <k>" and wait to be killed
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import * as GraphStoreSqlite from "../../src/layers/graph/GraphStoreSqlite.js"
import { GraphStore } from "../../src/services/GraphStore.js"
import { crashBatch } from "./crashBatches.js"

const [file, mode, k] = process.argv.slice(2)
const say = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))

const program = Effect.gen(function* () {
  const store = yield* GraphStore
  const sql = yield* SqlClient.SqlClient
  const hangAt = mode === "hang" ? Number(k) : Infinity
  for (let i = 1;; i++) {
    if (i === hangAt) {
      // the store's own transaction nests as a savepoint: its rows are written but never committed
      yield* sql.withTransaction(
        Effect.zipRight(store.applyBatch(crashBatch(i)), Effect.zipRight(say(`uncommitted ${i}`), Effect.never))
      )
    }
    yield* store.applyBatch(crashBatch(i))
    yield* say(`committed ${i}`)
  }
}).pipe(Effect.provide(GraphStoreSqlite.layerWithClient({ filename: file })))

Effect.runPromise(program).catch((error: unknown) => {
  process.stderr.write(`graphWriter failed: ${String(error)}\n`)
  process.exit(1)
})
