// Preloaded into a process a bench measures (`node --import <this> …`): at exit it writes the whole process's CPU
// (all threads: process.cpuUsage is getrusage(RUSAGE_SELF)), its main thread's CPU (/proc, Linux) and its peak RSS
// to the JSON file named by BENCH_RESOURCES, with the peaks of its memory's parts (sampled). Plain JavaScript so it loads before anything else of the program.
import * as fs from "node:fs"

const out = process.env.BENCH_RESOURCES
const mainThreadSeconds = () => {
  try {
    const stat = fs.readFileSync(`/proc/${process.pid}/task/${process.pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}
/** The peaks of process.memoryUsage()'s parts, sampled every 250 ms: where the peak RSS is held. */
const peaks = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }
if (out !== undefined) {
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
        peakRssKb: process.resourceUsage().maxRSS,
        peakMb: Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, Math.round(v / 1048576)]))
      })
    )
  })
}
