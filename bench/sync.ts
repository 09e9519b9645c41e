/**
 * bench:sync — the headline: a fresh lnsync node syncs a mainnet-size graph (17,000 nodes, 54,000 channels, 108,000
 * updates, 17,000 node announcements) from one loopback lnsync peer into SQLite, through the real stack: BOLT 8,
 * the GossipSyncer's range and scid queries, the validation pipeline on a worker pool, SQLite writes.
 *
 * The syncing node is what an operator runs: the compiled CLI, `node dist/bin/lnsync.js sync --exit-when-synced`
 * (`npm run bench:sync` builds it first), in a child process of its own, so its CPU and memory are its own and not
 * this script's or tsx's. `support/resources.mjs`, preloaded into it, writes its CPU-seconds (all threads, startup
 * included), its main thread's and its peak RSS when it exits. Its time is the one it reports itself (`synced: … in
 * T s`: from dialing until the graph is synced, reconciled and written). The serving peer runs in another child
 * process with raised outbound limits, so the bench measures the syncing side.
 *
 * The floor — every signature of the graph through raw `secp256k1.ecdsaVerify` on one worker per core — is measured
 * afterwards in this process (best of two). Two headlines: wall time and CPU-seconds, each as a ratio to the
 * floor's; the CPU ratio is the one a shared machine does not distort. The line before them splits the syncing
 * process's CPU: its main thread (and that thread's GC pauses), the other threads alive at exit (V8's helpers), and
 * the signature workers.
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as VerifyWorkerPool from "../src/layers/verify/VerifyWorkerPool.js"
import { mainnetGraph } from "./support/mainnetGraph.js"
import { startServer } from "./support/servingPeer.js"
import { decodeAll, floorRunWithCpu, signatureItems } from "./support/signatureFloor.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const outDir = path.join(here, "out")
const cli = path.join(here, "..", "dist", "bin", "lnsync.js")
const channels = Number(process.env.BENCH_CHANNELS ?? 54_000)

interface Resources {
  readonly cpuSeconds: number
  readonly mainThreadSeconds: number
  /** Threads other than the main one alive at exit: V8's GC and compiler helpers, libuv's pool (not the workers). */
  readonly otherThreadsSeconds: number
  readonly gcPauses: { readonly count: number; readonly seconds: number }
  readonly peakRssKb: number
  readonly peakMb: Readonly<Record<string, number>>
}

/** Runs the compiled CLI to completion: its stdout lines and the resources it used. */
const runCli = (args: ReadonlyArray<string>, resourcesFile: string) =>
  Effect.async<{ readonly lines: ReadonlyArray<string>; readonly resources: Resources }, Error>((resume) => {
    fs.rmSync(resourcesFile, { force: true })
    const extra = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a.length > 0)
    const child = spawn(
      process.execPath,
      [...extra, "--import", pathToFileURL(path.join(here, "support", "resources.mjs")).href, cli, ...args],
      {
        stdio: ["ignore", "pipe", "inherit"],
        env: { ...process.env, BENCH_RESOURCES: resourcesFile, LNSYNC_LOG_LEVEL: "warn" }
      }
    )
    let out = ""
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString()
    })
    child.on("exit", (code) => {
      if (code !== 0) return resume(Effect.fail(new Error(`lnsync sync exited with ${code}:\n${out}`)))
      const resources = JSON.parse(fs.readFileSync(resourcesFile, "utf8")) as Resources
      resume(Effect.succeed({ lines: out.split("\n").filter((l) => l.length > 0), resources }))
    })
  })

const program = Effect.gen(function* () {
  fs.mkdirSync(outDir, { recursive: true })
  const server = yield* startServer(channels)
  const filename = path.join(outDir, "sync.sqlite")
  for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(filename + suffix, { force: true })

  if (!fs.existsSync(cli)) return yield* Effect.fail(new Error(`${cli} is missing: run npm run build first`))
  const serverCpuBefore = server.cpuSeconds()
  const { lines, resources } = yield* runCli([
    "sync",
    "--peer",
    `${server.nodeIdHex}@127.0.0.1:${server.port}`,
    "--db",
    filename,
    "--key-file",
    path.join(outDir, "sync.key"),
    "--exit-when-synced"
  ], path.join(outDir, "sync-resources.json"))
  const serverCpu = server.cpuSeconds() - serverCpuBefore
  // `synced: <C> channels, <U> updates, <N> nodes from <P> peers in <T> s` (src/bin/run.ts)
  const summary = lines.map((l) =>
    /^synced: (\d+) channels, (\d+) updates, (\d+) nodes from \d+ peers? in ([\d.]+) s$/.exec(l)
  )
    .find((m) => m !== null)
  if (summary === undefined) {
    return yield* Effect.fail(new Error(`no summary line from lnsync sync:\n${lines.join("\n")}`))
  }
  const msgs = Number(summary[1]) + Number(summary[2]) + Number(summary[3])
  const wallMs = Number(summary[4]) * 1000
  const syncCpu = resources.cpuSeconds
  const peakRssMb = resources.peakRssKb / 1024
  // the serving peer shares the cores: what it used bounds what the syncing side could have had
  console.log(
    `cpu: lnsync sync ${syncCpu.toFixed(1)} s (all threads, startup included; main thread ${
      resources.mainThreadSeconds.toFixed(1)
    } s), serving peer ${serverCpu.toFixed(1)} s, of ${
      ((wallMs / 1000) * os.availableParallelism()).toFixed(1)
    } s available`
  )
  console.log(
    `memory peaks (MB, sampled every 250 ms): ${
      Object.entries(resources.peakMb).map(([k, v]) => `${k} ${v}`).join(", ")
    }`
  )
  console.log(
    `synced ${summary[1]} channels, ${summary[2]} updates, ${summary[3]} nodes in ${(wallMs / 1000).toFixed(1)} s (${
      Math.round(msgs / (wallMs / 1000))
    } msg/s)`
  )

  // the floor, after the peak RSS was read: loading the graph here would otherwise count against the syncer
  const items = signatureItems(decodeAll(mainnetGraph(channels).messages))
  // raw ecdsaVerify: no key cache (the syncing node's workers keep node keys uncompressed; the floor does not)
  const pool = yield* VerifyWorkerPool.make({ threads: os.availableParallelism(), keyCache: false })
  const floors = [yield* floorRunWithCpu(pool, items), yield* floorRunWithCpu(pool, items)]
  const floorMs = Math.min(...floors.map((f) => f.wallMs))
  const floorCpu = Math.min(...floors.map((f) => f.cpuSeconds))
  console.log(
    `floor: ${items.length} signatures, raw ecdsaVerify on ${os.availableParallelism()} threads: ${
      (floorMs / 1000).toFixed(2)
    } s, cpu ${floorCpu.toFixed(1)} s`
  )
  // where the CPU above the floor goes: the signature workers' share is what the main thread and the helpers left
  const workers = syncCpu - resources.mainThreadSeconds - resources.otherThreadsSeconds
  console.log(
    `cpu split: main thread ${resources.mainThreadSeconds.toFixed(1)} s (GC pauses ${
      resources.gcPauses.seconds.toFixed(1)
    } s in ${resources.gcPauses.count}), other threads ${
      resources.otherThreadsSeconds.toFixed(1)
    } s (V8's GC and compiler helpers, libuv's pool), signature workers ${workers.toFixed(1)} s (floor ${
      floorCpu.toFixed(1)
    } s)`
  )
  // cpu: what a shared machine does not distort (other processes stretch the wall time, not our CPU-seconds)
  console.log(
    `sync: ${msgs} msgs in ${(wallMs / 1000).toFixed(1)} s; ${(wallMs / floorMs).toFixed(2)}× floor; cpu ${
      syncCpu.toFixed(1)
    } s = ${(syncCpu / floorCpu).toFixed(2)}× floor cpu; peak RSS ${Math.round(peakRssMb)} MB`
  )
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  }
)
