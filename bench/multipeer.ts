/**
 * bench:multipeer — a fresh lnsync node syncs the mainnet-size graph (BENCH_CHANNELS, default 54,000 channels) from
 * 8 loopback lnsync peers that each serve the whole graph at lnd's default 50 KiB/s (51,200 bytes per second)
 * outbound, into SQLite, through the real stack. One peer at that rate needs ~800 s for mainnet; the eight together
 * could do it in an eighth of that, if the sync splits the work.
 *
 * The serving peers run in one child process (`support/servePeers.ts`: their CPU and memory are not ours), each
 * behind a counting TCP proxy. Timed: from dialing until the graph is synced — the initial sync completed and its
 * messages flushed to the store (SM-6: the syncer flushes before it marks the graph synced, `awaitGraphSynced`).
 * Also timed, if it happens before BENCH_RECONCILE_DEADLINE (default 300 s from dialing): every peer reconciled
 * (the Reconciler's account, as `runSync --exit-when-synced` waits for it).
 *
 * The floor is the bytes that must move — every message of the graph once, as the peers' limiters count it (raw
 * gossip, type included) — over the peers' combined rate. The wire bytes the proxies saw are printed beside it: they
 * add BOLT 8 framing (34 bytes a message), the range replies and the queries.
 *
 * Printed beside the wall time: the syncing process's CPU-seconds (all its threads: the signature workers too) and
 * the pipeline's batches and write transactions until synced (`lnsync_gossip_batches`, the store write histogram's
 * count): gossip trickling in from rate-limited peers costs per batch, not only per message.
 */
import { Data, Duration, Effect, Fiber, Layer, Logger, LogLevel, Metric } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import { fromHex } from "../src/domain/Hex.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import * as Node from "../src/layers/Node.js"
import { GossipPipeline, GossipPipelineMetrics } from "../src/services/GossipPipeline.js"
import { GraphStore } from "../src/services/GraphStore.js"
import { PeerConnector } from "../src/services/PeerConnector.js"
import type { SyncAccount } from "../src/services/Reconciler.js"
import { Reconciler } from "../src/services/Reconciler.js"
import { SyncManager } from "../src/services/SyncManager.js"
import { deriveKey, GENERATED_TIP } from "../src/testing/GraphGenerator.js"
import type { ServedBytes } from "./support/servingPeers.js"
import { startServingPeers } from "./support/servingPeers.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const outDir = path.join(here, "out")
const channels = Number(process.env.BENCH_CHANNELS ?? 54_000)
const PEERS = 8
/** lnd's `DefaultPeerMsgBytesPerSecond` (50 KiB/s). */
const PEER_RATE = 51_200
const reconcileDeadline = Duration.seconds(Number(process.env.BENCH_RECONCILE_DEADLINE ?? 300))
/** The initial sync gives up after this (a bench that never ends measures nothing). */
const syncDeadline = Duration.seconds(Number(process.env.BENCH_SYNC_DEADLINE ?? 3600))
/** A progress line on stderr this often (0: none); it asks only the serving process, not the syncing one. */
const progressEvery = Duration.seconds(Number(process.env.BENCH_PROGRESS ?? 30))

class BenchTimeout extends Data.TaggedError("BenchTimeout")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

const fmt = (n: number) => n.toLocaleString("en-US")
const seconds = (ms: number) => (ms / 1000).toFixed(1)
const sum = (bytes: ReadonlyArray<ServedBytes>) => bytes.reduce((s, b) => s + b.served, 0)
const shares = (bytes: ReadonlyArray<ServedBytes>) => {
  const total = sum(bytes)
  return bytes.map((b) => (total === 0 ? 0 : (100 * b.served) / total))
}

/**
 * The pipeline's batches and write transactions so far (this process runs one pipeline: the serving peers' are in
 * theirs). Each batch costs a store read, a signature round trip and, if anything is new, a transaction.
 */
const pipelineCounts = Effect.gen(function* () {
  const batches = (yield* Metric.value(GossipPipelineMetrics.batches)).count
  const writes = (yield* Metric.value(GossipPipelineMetrics.storeWriteSeconds)).count
  const received = (yield* Metric.value(GossipPipelineMetrics.received)).count
  return { batches, writes, received }
})

/** `reconciled: …` — how the Reconciler's account ended. */
const reconcileLine = (account: SyncAccount, ms: number) => {
  const completed = account.peers.filter((p) => p._tag === "Completed")
  const all = account.ended === "settled" && completed.length === PEERS
  if (all) {
    const initial = completed.filter((p) => p._tag === "Completed" && p.sync === "initial").length
    return `reconciled: all ${PEERS} peers in ${seconds(ms)} s from dialing (${initial} by the initial sync, ${
      PEERS - initial
    } reconciled after it)`
  }
  const others = account.peers.flatMap((p) =>
    p._tag === "Completed" ? [] : [`${p.nodeIdHex.slice(0, 8)} ${p._tag.toLowerCase()}: ${p.reason}`]
  )
  return `reconciled: not every peer within the ${
    Duration.format(reconcileDeadline)
  } deadline (account ended: ${account.ended} after ${seconds(ms)} s; ${completed.length}/${PEERS} completed${
    others.length > 0 ? `; ${others.join("; ")}` : ""
  })`
}

const program = Effect.gen(function* () {
  fs.mkdirSync(outDir, { recursive: true })
  const servers = yield* startServingPeers({ channels, peers: PEERS, bytesPerSecond: PEER_RATE })
  const filename = path.join(outDir, "multipeer.sqlite")
  for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(filename + suffix, { force: true })

  // built before the clock starts: the worker pool and the database are not the sync
  const node = yield* Layer.build(
    Node.layer({
      chain: BITCOIN_MAINNET,
      nodePrivateKey: deriveKey("lnsync/bench/multipeer/syncer"),
      store: GraphStoreSqlite.layer({ filename }),
      bestHeight: Effect.succeed(GENERATED_TIP)
    })
  )
  const timed = Effect.gen(function* () {
    const connector = yield* PeerConnector
    const manager = yield* SyncManager
    const reconciler = yield* Reconciler
    const pipeline = yield* GossipPipeline
    const store = yield* GraphStore
    console.log(`serving: ${PEERS} peers in one child process, ${servers.limits}`)

    const pipelineBefore = yield* pipelineCounts
    const cpuBefore = process.cpuUsage()
    const serverCpuBefore = servers.cpuSeconds()
    const started = performance.now()
    for (const p of servers.peers) {
      yield* connector.keepConnected({ nodeId: fromHex(p.nodeIdHex), host: "127.0.0.1", port: p.port })
    }
    // the account runs from dialing, as `runSync --exit-when-synced --deadline` does
    const reconciled = yield* Effect.fork(
      Effect.map(reconciler.account(reconcileDeadline), (account) => ({ account, ms: performance.now() - started }))
    )
    const progress = yield* Effect.fork(
      Duration.toMillis(progressEvery) <= 0 ? Effect.void : Effect.gen(function* () {
        const bytes = yield* servers.bytes
        const pct = shares(bytes).map((s) => s.toFixed(0)).join("/")
        console.error(
          `progress ${seconds(performance.now() - started)} s: ${fmt(sum(bytes))} B served; shares % ${pct}`
        )
      }).pipe(Effect.delay(progressEvery), Effect.forever, Effect.ignore)
    )

    yield* manager.awaitGraphSynced.pipe(
      Effect.zipRight(pipeline.flush),
      Effect.timeoutFail({
        duration: syncDeadline,
        onTimeout: () => new BenchTimeout({ reason: `graph not synced within ${Duration.format(syncDeadline)}` })
      })
    )
    const syncedMs = performance.now() - started
    const cpu = process.cpuUsage(cpuBefore)
    const peakRssMb = process.resourceUsage().maxRSS / 1024
    const serverCpu = servers.cpuSeconds() - serverCpuBefore
    const pipelineAtSync = yield* pipelineCounts
    const bytesAtSync = yield* servers.bytes
    const counts = yield* store.counts

    const { account, ms: reconciledMs } = yield* Fiber.join(reconciled)
    const bytesAtEnd = yield* servers.bytes
    const countsAtEnd = yield* store.counts
    yield* Fiber.interrupt(progress)
    return {
      syncedMs,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      batches: pipelineAtSync.batches - pipelineBefore.batches,
      writes: pipelineAtSync.writes - pipelineBefore.writes,
      received: pipelineAtSync.received - pipelineBefore.received,
      peakRssMb,
      serverCpu,
      bytesAtSync,
      counts,
      account,
      reconciledMs,
      bytesAtEnd,
      countsAtEnd
    }
  })
  const r = yield* Effect.provide(timed, node)

  const served = sum(r.bytesAtSync)
  const share = shares(r.bytesAtSync)
  r.bytesAtSync.forEach((b, i) => {
    const p = servers.peers[i]!
    console.log(
      `peer ${i} ${p.nodeIdHex.slice(0, 8)}: served ${fmt(b.served)} B (${share[i]!.toFixed(1)}%, ${
        fmt(Math.round(b.served / (r.syncedMs / 1000)))
      } B/s), received ${fmt(b.received)} B; by the end ${fmt(r.bytesAtEnd[i]!.served)} B`
    )
  })
  console.log(
    `split: the busiest peer served ${Math.max(...share).toFixed(1)}% of the bytes, the least busy ${
      Math.min(...share).toFixed(1)
    }% (an even split: ${(100 / PEERS).toFixed(1)}% each)`
  )
  const floorBytes = servers.gossipBytes
  const floorMs = (floorBytes / (PEERS * PEER_RATE)) * 1000
  console.log(
    `floor: ${fmt(floorBytes)} B of raw gossip (${
      fmt(servers.graphMessages)
    } messages, as the limiters count them) / (${PEERS} × ${fmt(PEER_RATE)} B/s) = ${seconds(floorMs)} s`
  )
  console.log(
    `wire: ${fmt(served)} B served to the syncer until synced (${
      (served / floorBytes).toFixed(2)
    }× the floor's bytes: BOLT 8 framing, range replies, repeats), ${fmt(sum(r.bytesAtEnd))} B by the end`
  )
  console.log(
    `syncing process: ${r.cpuSeconds.toFixed(1)} CPU-s (all threads) in ${seconds(r.syncedMs)} s; peak RSS ${
      Math.round(r.peakRssMb)
    } MB; serving process ${r.serverCpu.toFixed(1)} CPU-s`
  )
  console.log(
    `pipeline: ${fmt(r.batches)} batches for ${fmt(r.received)} messages until synced (${
      (r.received / Math.max(1, r.batches)).toFixed(1)
    } a batch), ${fmt(r.writes)} write transactions`
  )
  console.log(reconcileLine(r.account, r.reconciledMs))
  const c = r.counts
  const msgs = c.channels + c.updates + c.nodes
  const e = r.countsAtEnd
  console.log(
    `synced: ${fmt(c.channels)} channels, ${fmt(c.updates)} updates, ${fmt(c.nodes)} nodes in ${
      seconds(r.syncedMs)
    } s (${fmt(e.channels + e.updates + e.nodes)} messages by the end)`
  )
  console.log(
    `multipeer: ${msgs} msgs from ${PEERS} peers in ${seconds(r.syncedMs)} s; ${
      (r.syncedMs / floorMs).toFixed(2)
    }× bandwidth floor`
  )
})

// warnings and errors only: the node's info lines (connections, syncs, its shutdown after the headline) would
// otherwise interleave with the report and follow its last line
Effect.runPromise(Effect.scoped(program).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  }
)
