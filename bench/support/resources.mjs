// Preloaded into a process a bench measures (`node --import <this> …`): at exit it writes the whole process's CPU
// (all threads: process.cpuUsage is getrusage(RUSAGE_SELF)), its main thread's CPU (/proc, Linux), the CPU of the
// other threads still alive at exit (V8's platform helpers: parallel and concurrent GC, background compilation;
// node's libuv pool) — worker threads have exited by then, so theirs is the rest — the main thread's GC pauses
// (perf_hooks 'gc' entries) and its peak RSS to the JSON file named by BENCH_RESOURCES, with the peaks of its
// memory's parts (sampled). Plain JavaScript so it loads before anything else of the program.
import * as fs from "node:fs"
import { PerformanceObserver } from "node:perf_hooks"

const out = process.env.BENCH_RESOURCES
/** A thread's user + system CPU-seconds from /proc (Linux); NaN where there is no /proc. */
const threadSeconds = (tid) => {
  try {
    const stat = fs.readFileSync(`/proc/${process.pid}/task/${tid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}
const mainThreadSeconds = () => threadSeconds(process.pid)
/** The threads other than the main one that are alive now, summed (one that ended between listing and reading: 0). */
const otherThreadsSeconds = () => {
  try {
    return fs.readdirSync(`/proc/${process.pid}/task`).filter((tid) => Number(tid) !== process.pid)
      .reduce((sum, tid) => sum + (threadSeconds(tid) || 0), 0)
  } catch {
    return Number.NaN
  }
}
/** The main thread's GC pauses: count and milliseconds (scavenges, mark-compacts, incremental marking steps). */
const gcPauses = { count: 0, ms: 0 }
/** The peaks of process.memoryUsage()'s parts, sampled every 250 ms: where the peak RSS is held. */
const peaks = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }
if (out !== undefined) {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcPauses.count += 1
      gcPauses.ms += entry.duration
    }
  }).observe({ entryTypes: ["gc"] })
  setInterval(() => {
    const m = process.memoryUsage()
    for (const k of Object.keys(peaks)) peaks[k] = Math.max(peaks[k], m[k])
  }, 250).unref()
  process.on("exit", () => {
    const cpu = process.cpuUsage()
    fs.writeFileSync(
      out,
      JSON.stringify({
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        mainThreadSeconds: mainThreadSeconds(),
        otherThreadsSeconds: otherThreadsSeconds(),
        gcPauses: { count: gcPauses.count, seconds: gcPauses.ms / 1000 },
        peakRssKb: process.resourceUsage().maxRSS,
        peakMb: Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, Math.round(v / 1048576)]))
      })
    )
  })
}
