/**
 * bench:resync — the same lnsync node synced twice from the same serving peer (issue 18): first into a fresh SQLite
 * file, then, in a new process over the same (now up-to-date) file, again. With extended queries the second sync's
 * range replies carry timestamps and checksums, so it asks only for channels whose updates differ and for node
 * announcements it lacks: it should cost a few percent of the first.
 *
 * Each sync runs in a process of its own (bench/support/resyncNode.ts: Node.layer + GraphStoreSqlite, `runSync`
 * until synced, as bench/sync.ts), timed inside it from building the node until the graph is synced and written;
 * its CPU-seconds are that process's (all threads). The serving peer is bench/sync.ts's (its own process, the
 * mainnet-size graph). Bytes moved are counted by a TCP proxy between the two (BOLT 8 wire bytes, each way).
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import type { ByteCounts, CountingProxy } from "./support/countingProxy.js"
import { startCountingProxy } from "./support/countingProxy.js"
import type { ResyncRunResult } from "./support/resyncNode.js"
import { startServer } from "./support/servingPeer.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const outDir = path.join(here, "out")
const channels = Number(process.env.BENCH_CHANNELS ?? 54_000)

interface Measured {
  readonly run: ResyncRunResult
  readonly bytes: ByteCounts
  readonly serverCpuSeconds: number
}

/** Runs the syncing node once in a child process; its log lines are passed through, labelled. */
const runNode = (label: string, db: string, peer: string) =>
  Effect.async<ResyncRunResult, Error>((resume) => {
    // BENCH_NODE_ARGS: extra node flags for the syncing runs (e.g. "--cpu-prof --cpu-prof-dir bench/out/prof")
    const extra = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a.length > 0)
    const child = spawn(process.execPath, [...extra, "--import", "tsx", path.join(here, "support", "resyncNode.ts")], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, RESYNC_DB: db, RESYNC_PEER: peer }
    })
    let result: ResyncRunResult | undefined
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      if (line.startsWith("RESULT ")) result = JSON.parse(line.slice("RESULT ".length)) as ResyncRunResult
      else console.log(`  [${label}] ${line}`)
    })
    child.on("close", (code) => {
      if (code === 0 && result !== undefined) resume(Effect.succeed(result))
      else resume(Effect.fail(new Error(`${label} sync: node exited with ${code}`)))
    })
  })

/** Waits (briefly) until the proxy's connections are closed, so their last bytes are counted. */
const settled = (proxy: CountingProxy) =>
  Effect.gen(function* () {
    for (let i = 0; i < 100 && proxy.counts().open > 0; i++) yield* Effect.sleep("20 millis")
    return proxy.counts()
  })

const sync = (label: string, db: string, peer: string, proxy: CountingProxy, serverCpu: () => number) =>
  Effect.gen(function* () {
    proxy.reset()
    const serverBefore = serverCpu()
    const run = yield* runNode(label, db, peer)
    const bytes = yield* settled(proxy)
    const measured: Measured = { run, bytes, serverCpuSeconds: serverCpu() - serverBefore }
    const c = run.counts
    console.log(
      `${label} sync: ${run.wallSeconds.toFixed(2)} s wall, ${run.cpuSeconds.toFixed(2)} CPU-s (syncing process, ` +
        `all threads), serving peer ${measured.serverCpuSeconds.toFixed(2)} CPU-s; bytes to peer ${bytes.toPeer}, ` +
        `from peer ${bytes.fromPeer} (${bytes.toPeer + bytes.fromPeer} total, ${bytes.connections} connection${
          bytes.connections === 1 ? "" : "s"
        }); store ${c.channels} channels, ${c.updates} updates, ${c.nodes} nodes; peak RSS ${
          Math.round(run.peakRssMb)
        } MB`
    )
    for (const line of run.peerLines) console.log(`  ${label}: ${line}`)
    for (const f of run.fetched) console.log(`  ${label}: requested/received ${JSON.stringify(f.fetched)}`)
    if (!run.ok) return yield* Effect.fail(new Error(`${label} sync did not complete: ${run.reason}`))
    return measured
  })

const ratio = (second: number, first: number) => (first === 0 ? Number.NaN : second / first)
const times = (r: number) => (r < 0.01 ? r.toFixed(4) : r.toFixed(3))

const program = Effect.gen(function* () {
  fs.mkdirSync(outDir, { recursive: true })
  const server = yield* startServer(channels)
  const proxy = yield* startCountingProxy(server.port)
  const db = path.join(outDir, "resync.sqlite")
  for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(db + suffix, { force: true })
  const peer = `${server.nodeIdHex}@127.0.0.1:${proxy.port}`

  const first = yield* sync("first", db, peer, proxy, server.cpuSeconds)
  const second = yield* sync("second", db, peer, proxy, server.cpuSeconds)

  const bytes = (m: Measured) => m.bytes.toPeer + m.bytes.fromPeer
  const [b1, b2] = [bytes(first), bytes(second)]
  const [t1, t2] = [first.run.wallSeconds, second.run.wallSeconds]
  console.log(
    `second/first: wall ${times(ratio(t2, t1))}×, CPU-s ${
      times(ratio(second.run.cpuSeconds, first.run.cpuSeconds))
    }×, bytes to peer ${times(ratio(second.bytes.toPeer, first.bytes.toPeer))}×, bytes from peer ${
      times(ratio(second.bytes.fromPeer, first.bytes.fromPeer))
    }×`
  )
  console.log(
    `resync: ${t2.toFixed(2)} s and ${b2} bytes vs first sync ${t1.toFixed(2)} s and ${b1} bytes; ${
      times(ratio(t2, t1))
    }× time, ${times(ratio(b2, b1))}× bytes`
  )
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  }
)
