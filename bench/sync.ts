/**
 * bench:sync — the headline: a fresh lnsync node syncs a mainnet-size graph (17,000 nodes, 54,000 channels, 108,000
 * updates, 17,000 node announcements) from one loopback lnsync peer into SQLite, through the real stack: BOLT 8,
 * the GossipSyncer's range and scid queries, the validation pipeline on a worker pool, SQLite writes.
 *
 * The serving peer runs in a child process (its memory is not ours) with raised outbound limits, so the bench
 * measures the syncing side. Timed: from dialing until the graph is synced, reconciled and written. Peak RSS is this
 * process's high-water mark right after the sync. The floor — every signature of the graph through raw
 * `secp256k1.ecdsaVerify` on one worker per core — is measured afterwards in the same process (best of two).
 * Two headlines: wall time and CPU-seconds (all threads of this process, `process.cpuUsage`), each as a ratio to
 * the floor's; the CPU ratio is the one a shared machine does not distort.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import { deriveKey, GENERATED_TIP } from "../src/testing/GraphGenerator.js"
import { fromHex } from "../src/domain/Hex.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import * as Node from "../src/layers/Node.js"
import * as VerifyWorkerPool from "../src/layers/verify/VerifyWorkerPool.js"
import { runSync } from "../src/bin/run.js"
import { mainnetGraph } from "./support/mainnetGraph.js"
import { processCpuSeconds, startServer } from "./support/servingPeer.js"
import { decodeAll, floorRunWithCpu, signatureItems } from "./support/signatureFloor.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const outDir = path.join(here, "out")
const channels = Number(process.env.BENCH_CHANNELS ?? 54_000)

const program = Effect.gen(function* () {
  fs.mkdirSync(outDir, { recursive: true })
  const server = yield* startServer(channels)
  const filename = path.join(outDir, "sync.sqlite")
  for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(filename + suffix, { force: true })

  const node = Node.layer({
    chain: BITCOIN_MAINNET,
    nodePrivateKey: deriveKey("lnsync/bench/sync/syncer"),
    store: GraphStoreSqlite.layer({ filename }),
    bestHeight: Effect.succeed(GENERATED_TIP)
  })
  const mainThread = `${process.pid}/task/${process.pid}`
  const mainCpuBefore = processCpuSeconds(mainThread)
  const serverCpuBefore = server.cpuSeconds()
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const report = yield* runSync([{ nodeId: fromHex(server.nodeIdHex), host: "127.0.0.1", port: server.port }], {
    untilSynced: true,
    progress: "none"
  }).pipe(Effect.provide(node), Effect.scoped)
  const wallMs = performance.now() - started
  const peakRssMb = process.resourceUsage().maxRSS / 1024
  const cpu = process.cpuUsage(cpuBefore)
  const serverCpu = server.cpuSeconds() - serverCpuBefore
  const mainCpu = processCpuSeconds(mainThread) - mainCpuBefore
  // the serving peer shares the cores: what it used bounds what the syncing side could have had
  console.log(
    `cpu during sync: syncing process ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s (all threads; main thread ${
      mainCpu.toFixed(1)
    } s), serving peer ${serverCpu.toFixed(1)} s, of ${
      ((wallMs / 1000) * os.availableParallelism()).toFixed(1)
    } s available`
  )
  const msgs = report.counts.channels + report.counts.updates + report.counts.nodes
  console.log(
    `synced ${report.counts.channels} channels, ${report.counts.updates} updates, ${report.counts.nodes} nodes in ${
      (wallMs / 1000).toFixed(2)
    } s (${Math.round(msgs / (wallMs / 1000))} msg/s)`
  )

  // the floor, after the peak RSS was read: loading the graph here would otherwise count against the syncer
  const items = signatureItems(decodeAll(mainnetGraph(channels).messages))
  const pool = yield* VerifyWorkerPool.make({ threads: os.availableParallelism() })
  const floors = [yield* floorRunWithCpu(pool, items), yield* floorRunWithCpu(pool, items)]
  const floorMs = Math.min(...floors.map((f) => f.wallMs))
  const floorCpu = Math.min(...floors.map((f) => f.cpuSeconds))
  console.log(
    `floor: ${items.length} signatures, raw ecdsaVerify on ${os.availableParallelism()} threads: ${
      (floorMs / 1000).toFixed(2)
    } s, cpu ${floorCpu.toFixed(1)} s`
  )
  // cpu: what a shared machine does not distort (other processes stretch the wall time, not our CPU-seconds)
  const syncCpu = (cpu.user + cpu.system) / 1e6
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
