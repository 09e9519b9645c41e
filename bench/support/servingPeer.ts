/**
 * The serving peer the sync benches sync from: `servePeer.ts` in a child process (so its CPU is measured apart from
 * the syncing process's), and the /proc CPU reading both benches report.
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))

/** User + system CPU seconds a process (`"<pid>"`) or thread (`"<pid>/task/<tid>"`) has used (Linux /proc; NaN elsewhere). */
export const processCpuSeconds = (pid: number | string | undefined): number => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // fields after the parenthesised command name: state is field 3, utime 14, stime 15 (in clock ticks, 100/s)
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

/** Starts the serving peer (serving `channels` channels) and waits for its READY line (it generates the graph on first use: not timed). */
export const startServer = (channels: number) =>
  Effect.acquireRelease(
    Effect.async<
      {
        readonly nodeIdHex: string
        readonly port: number
        readonly cpuSeconds: () => number
        readonly kill: () => void
      },
      Error
    >((resume) => {
      // BENCH_SERVER_NODE_ARGS: extra node flags for the serving peer (e.g. "--cpu-prof --cpu-prof-dir bench/out/prof")
      const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter((a) => a.length > 0)
      const child = spawn(process.execPath, [...extra, "--import", "tsx", path.join(here, "servePeer.ts")], {
        stdio: ["ignore", "pipe", "inherit"],
        env: { ...process.env, BENCH_CHANNELS: String(channels) }
      })
      const lines = readline.createInterface({ input: child.stdout })
      lines.on("line", (line) => {
        const m = /^READY ([0-9a-f]{66}) (\d+)$/.exec(line)
        if (m !== null) {
          resume(
            Effect.succeed({
              nodeIdHex: m[1]!,
              port: Number(m[2]),
              cpuSeconds: () => processCpuSeconds(child.pid),
              kill: () => {
                // SIGTERM lets it exit normally (profiles get written); SIGKILL if it lingers
                child.kill("SIGTERM")
                setTimeout(() => child.kill("SIGKILL"), 5000).unref()
              }
            })
          )
        }
      })
      child.on("exit", (code) => resume(Effect.fail(new Error(`serving peer exited with ${code}`))))
    }),
    (server) => Effect.sync(server.kill)
  )
