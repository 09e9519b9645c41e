/**
 * The CLI's V8 heap policy, set before anything else loads (imported first by `lnsync.ts`). An initial sync
 * allocates about 1.2 GB of short-lived objects (decoded messages, batches, Effect fibers) around ~80 MB of live
 * data; V8's default lets the old generation grow to several times the live size between full collections, and a
 * mainnet sync peaked at ~510 MB of RSS. A heap-growing factor of 1.4 keeps it near the live size (bench:sync, issue
 * 18: ~315 MB peak, CPU within the run-to-run noise). Only the CLI does this: a program that embeds lnsync owns its
 * process's heap. A `--heap-growing-percent` given on the command line or in NODE_OPTIONS wins.
 */
import * as v8 from "node:v8"

export const HEAP_GROWING_PERCENT = 40

const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)]
  .some((arg) => arg.startsWith("--heap-growing-percent"))
if (!given) v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
