/**
 * The CLI's V8 heap policy, set before anything else loads (imported first by `lnsync.ts`). An initial sync
 * allocates about 1.2 GB of short-lived objects (decoded messages, batches, Effect fibers) around ~80 MB of live
 * data; V8's default lets the old generation grow to several times the live size between full collections, and a
 * mainnet sync peaked at ~510 MB of RSS. A small heap-growing factor keeps it near the live size (1.4 at first:
 * issue 18, bench:sync ~315 MB peak, CPU within the run-to-run noise). Only the CLI does this: a program that embeds
 * lnsync owns its process's heap. A `--heap-growing-percent` given on the command line or in NODE_OPTIONS wins.
 *
 * 70 since the range accumulator stopped keeping its channels (~255k fewer live objects mid-sync). Three interleaved
 * bench:sync pairs on a shared machine: 40 gave 1.70/1.64/1.87× floor CPU (V8 helper threads 5.8–7.4 s), peak RSS
 * 247–251 MB; 70 gave 1.61/1.64/1.69× (5.7–6.3 s), 259–263 MB. Fewer major collections, still well under 300 MB.
 */
import * as v8 from "node:v8"

export const HEAP_GROWING_PERCENT = 70

const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)]
  .some((arg) => arg.startsWith("--heap-growing-percent"))
if (!given) v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
