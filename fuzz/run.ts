/**
 * `npm run fuzz [-- --seed N --count N --only NAME]`: feeds every wire decoder mutated real vectors and random
 * bytes (see fuzz/targets.ts), bounded (`--count` inputs in total, default 1,000,000) and seeded (`--seed`,
 * default 1: the same seed gives the same inputs). One line per decoder, then findings, then a headline line.
 * Exit code 1 when anything crashed or an accepted input broke its decoder's contract.
 */
import { formatLine } from "./engine.js"
import { DEFAULT_SIZE_FLOOR, runSuite } from "./targets.js"

const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const seed = Number(flag("seed") ?? 1)
const count = Number(flag("count") ?? 1_000_000)
const only = flag("only")
if (!Number.isInteger(seed) || !Number.isInteger(count) || count < 1) {
  console.error("usage: npm run fuzz -- [--seed <int>] [--count <int>] [--only <decoder name part>]")
  process.exit(2)
}

const started = performance.now()
console.log(
  `fuzz: seed ${seed}, ${count} inputs, node ${process.version}; alloc = Δ(V8 used heap + external memory) per decode, ` +
    `ratio = alloc / max(size, ${DEFAULT_SIZE_FLOOR / 1024} KiB); zlib judged per inflated byte`
)
const reports = await runSuite({ seed, count, only, onReport: (r) => console.log(formatLine(r)) })
for (const r of reports) {
  for (const f of r.findings) console.log(`  ${r.name} ${f.verdict}: ${f.reason}\n    input ${f.inputHex}`)
}
const sum = (k: "inputs" | "crashes" | "mismatches" | "slow" | "unmeasured") => reports.reduce((s, r) => s + r[k], 0)
const judged = reports.reduce((w, r) => (r.worstRatio > w.worstRatio ? r : w))
const peak = reports.reduce((w, r) => (r.maxBytes > w.maxBytes ? r : w))
console.log(
  `fuzz: ${sum("inputs")} inputs over ${reports.length} decoders in ${
    ((performance.now() - started) / 1000).toFixed(0)
  } s: ` +
    `${sum("crashes")} crashes, ${sum("mismatches")} mismatches, ${sum("slow")} slower than 1 ms, ` +
    `worst allocation ${judged.worstRatio.toFixed(1)}x its size (${judged.name}), largest ${
      (peak.maxBytes / 1024).toFixed(0)
    } KiB (${peak.name})` +
    (sum("unmeasured") > 0 ? `, ${sum("unmeasured")} unmeasured (GC)` : "")
)
process.exitCode = sum("crashes") + sum("mismatches") > 0 ? 1 : 0
