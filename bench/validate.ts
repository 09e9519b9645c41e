/**
 * bench:validate — the gossip pipeline validating and ingesting a mainnet-size signed graph (17,000 nodes, 54,000
 * channels, 108,000 updates, 17,000 node announcements) into SQLite, from memory.
 *
 * Input: the shared deterministic signed graph (bench/support/mainnetGraph.ts, cached in bench/out), decoded once
 * before timing (the pipeline takes decoded messages; the raw bytes it hashes and stores are the received ones).
 * Timed: `submit` of every message in 1,000-message chunks, as a syncer hands over a query reply (announcements,
 * then updates, then node announcements), until `flush` returns: rules, store pre-checks, signature checks on one
 * worker thread per core, SQLite writes.
 *
 * Floor: the same ~341,000 signatures (4 per announcement, 1 per update or node announcement, same hashes and
 * keys, packed once) through raw `secp256k1.ecdsaVerify` in the same worker threads (one per core). The machine is
 * shared, so floor and pipeline runs alternate (floor, then `BENCH_ROUNDS` × (pipeline, floor)) and each keeps its
 * best; R = best pipeline wall time / best floor.
 */
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import * as VerifyWorkerPool from "../src/layers/verify/VerifyWorkerPool.js"
import * as ChainSource from "../src/services/ChainSource.js"
import { GossipPipeline, layer as layerGossipPipeline } from "../src/services/GossipPipeline.js"
import { layerGossipPipelineConfig } from "../src/services/GossipPipelineConfig.js"
import { GraphStore } from "../src/services/GraphStore.js"
import { SignatureVerifier } from "../src/services/SignatureVerifier.js"
import { mainnetGraph } from "./support/mainnetGraph.js"
import { decodeAll, floorRun as makeFloorRun, signatureItems } from "./support/signatureFloor.js"

const CHUNK = 1_000
/** Pipeline runs (each between two floor runs); the best of each is compared. `BENCH_ROUNDS` overrides. */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2))
const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "out")

const seconds = (ms: number) => (ms / 1000).toFixed(2)

const program = Effect.gen(function* () {
  const threads = os.availableParallelism()
  const graph = mainnetGraph()
  if (graph.generatedSeconds > 0) {
    console.log(`generated and signed the graph in ${graph.generatedSeconds.toFixed(1)} s`)
  }
  const t0 = performance.now()
  const messages = decodeAll(graph.messages)
  const decodeMs = performance.now() - t0
  const count = { ChannelAnnouncement: 0, ChannelUpdate: 0, NodeAnnouncement: 0 }
  for (const m of messages) count[m._tag] += 1
  console.log(
    `graph: ${count.ChannelAnnouncement} channels, ${count.ChannelUpdate} updates, ${count.NodeAnnouncement} node announcements ` +
      `(${messages.length} messages; decoded in ${seconds(decodeMs)} s, not timed)`
  )

  // The floor on raw ecdsaVerify (no key cache), the pipeline on the pool as a node runs it.
  const pool = yield* VerifyWorkerPool.make({ threads })
  const items = signatureItems(messages)
  const floorRun = makeFloorRun(yield* VerifyWorkerPool.make({ threads, keyCache: false }), items)

  fs.mkdirSync(outDir, { recursive: true })
  const filename = path.join(outDir, "validate.sqlite")
  const pipelineRun = Effect.gen(function* () {
    for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(filename + suffix, { force: true })
    const layer = layerGossipPipeline.pipe(
      Layer.provideMerge(
        Layer.mergeAll(
          GraphStoreSqlite.layer({ filename }),
          Layer.succeed(SignatureVerifier, pool.verifier),
          ChainSource.layerNone,
          layerGossipPipelineConfig({ chainHash: BITCOIN_MAINNET })
        )
      )
    )
    // the graph's timestamps lie within 13 days before the start of today: fresh for the real clock
    return yield* Effect.gen(function* () {
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const s = performance.now()
      for (let i = 0; i < messages.length; i += CHUNK) yield* p.submit("bench-peer", messages.slice(i, i + CHUNK))
      yield* p.flush
      const wallMs = performance.now() - s
      const counts = yield* store.counts
      if (
        counts.channels !== count.ChannelAnnouncement || counts.updates !== count.ChannelUpdate ||
        counts.nodes !== count.NodeAnnouncement
      ) {
        return yield* Effect.dieMessage(`stored ${JSON.stringify(counts)}, expected every message of the graph`)
      }
      return wallMs
    }).pipe(Effect.provide(layer), Effect.scoped)
  })

  // The machine is shared: floor and pipeline alternate, and each keeps its best run.
  const floors: Array<number> = [yield* floorRun]
  const walls: Array<number> = []
  for (let r = 0; r < ROUNDS; r++) {
    walls.push(yield* pipelineRun)
    floors.push(yield* floorRun)
  }
  const floorMs = Math.min(...floors)
  const wallMs = Math.min(...walls)
  const rate = Math.round(messages.length / (wallMs / 1000))
  const ratio = wallMs / floorMs
  console.log(`signatures: ${items.length} on ${threads} worker threads`)
  console.log(`floor (raw ecdsaVerify, same threads), runs: ${floors.map((f) => `${seconds(f)} s`).join(", ")}`)
  console.log(`pipeline into SQLite (every message stored), runs: ${walls.map((w) => `${seconds(w)} s`).join(", ")}`)
  console.log(`validate: ${rate} msg/s; ${ratio.toFixed(2)}× floor`)
})

Effect.runPromise(Effect.scoped(program)).catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
