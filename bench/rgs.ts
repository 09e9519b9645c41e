/**
 * bench:rgs — Rapid Gossip Sync snapshots of the mainnet-size graph (bench/support/mainnetGraph.ts: 54k channels,
 * 108k updates, 17k node announcements, signed) held in the SQLite store, as `lnsync rgs` builds them.
 *
 * Measures, for v1 and v2: a full snapshot and 24-hour and 3-hour incrementals — build time (reading the store,
 * decoding, encoding) and size, as a ratio to the signed gossip it stands for (the announcements and updates it
 * carries, plus node announcements for v2) and gzipped (what an HTTP server with compression sends). The full v1
 * snapshot is then applied by LDK's own client (lightningdevkit WASM) to check it at this scale and time it. The last
 * line is the headline.
 */
import { Effect, Stream } from "effect"
import * as ldk from "lightningdevkit"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import * as zlib from "node:zlib"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import { decodeMessage } from "../src/domain/Codec.js"
import type { ChannelAnnouncement, ChannelUpdate, NodeAnnouncement } from "../src/domain/Messages.js"
import * as Rgs from "../src/domain/RapidGossipSync.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import { GraphStore } from "../src/services/GraphStore.js"
import * as RapidGossipSync from "../src/services/RapidGossipSync.js"
import { mainnetGraph } from "./support/mainnetGraph.js"

const BATCH = 1_000
const HOUR = 3600

const ms = (start: number) => performance.now() - start
const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`

const main = Effect.gen(function* () {
  const graph = mainnetGraph()
  if (graph.generatedSeconds > 0) {
    console.log(`generated the mainnet-size graph in ${graph.generatedSeconds.toFixed(1)} s`)
  }
  const channels: Array<ChannelAnnouncement> = []
  const updates: Array<ChannelUpdate> = []
  const nodes: Array<NodeAnnouncement> = []
  let rawTotal = 0
  for (const raw of graph.messages) {
    rawTotal += raw.length
    const m = decodeMessage(raw)
    if (m._tag === "Left") return yield* Effect.dieMessage(`undecodable message: ${m.left.message}`)
    if (m.right._tag === "ChannelAnnouncement") channels.push(m.right)
    else if (m.right._tag === "ChannelUpdate") updates.push(m.right)
    else if (m.right._tag === "NodeAnnouncement") nodes.push(m.right)
  }
  console.log(
    `graph: ${channels.length} channels, ${updates.length} updates, ${nodes.length} node announcements; ` +
      `${(rawTotal / 1024 / 1024).toFixed(1)} MiB of signed gossip`
  )

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-bench-rgs-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
  const results = yield* Effect.gen(function* () {
    const store = yield* GraphStore
    const t0 = performance.now()
    yield* Stream.fromIterable([
      ...chunks(channels).map((c) => ({ channels: c, updates: [], nodes: [] })),
      ...chunks(updates).map((u) => ({ channels: [], updates: u, nodes: [] })),
      ...chunks(nodes).map((n) => ({ channels: [], updates: [], nodes: n }))
    ]).pipe(Stream.runForEach((batch) => store.applyBatch(batch)))
    console.log(`stored in ${(ms(t0) / 1000).toFixed(1)} s (SQLite, ${dir})`)

    const build = (format: RapidGossipSync.SnapshotFormat, since: number) =>
      Effect.gen(function* () {
        // one warm-up build, then the best of two (wall time, and the process's CPU time: the bench machine is shared)
        const options = { format, since, chainHash: BITCOIN_MAINNET, now: graph.now }
        let best = Infinity
        let bestCpu = Infinity
        let snapshot = yield* RapidGossipSync.buildSnapshot(store, options)
        for (let i = 0; i < 2; i++) {
          const t = performance.now()
          const c = process.cpuUsage()
          snapshot = yield* RapidGossipSync.buildSnapshot(store, options)
          const cpu = process.cpuUsage(c)
          best = Math.min(best, ms(t))
          bestCpu = Math.min(bestCpu, (cpu.user + cpu.system) / 1000)
        }
        const gzip = zlib.gzipSync(snapshot.bytes, { level: 9 }).length
        const scope = since === 0 ? "full" : `since -${Math.round((graph.now - since) / HOUR)} h`
        console.log(
          `${format} ${scope.padEnd(11)}: ${String(snapshot.channels).padStart(5)} channels, ${
            String(snapshot.updates).padStart(6)
          } updates, ${String(snapshot.nodes).padStart(5)} nodes; ${kib(snapshot.bytes.length).padStart(8)} = ${
            ((100 * snapshot.bytes.length) / snapshot.rawBytes).toFixed(1)
          }% of the ${kib(snapshot.rawBytes)} of gossip it replaces (gzip ${kib(gzip)}); built in ${
            best.toFixed(0)
          } ms (${bestCpu.toFixed(0)} ms CPU)`
        )
        return { snapshot, ms: best, cpuMs: bestCpu, gzip }
      })
    const out = {
      v1: yield* build("v1", 0),
      v2: yield* build("v2", 0)
    }
    for (const format of ["v1", "v2"] as const) {
      yield* build(format, Rgs.alignTimestamp(graph.now - 24 * HOUR))
      yield* build(format, Rgs.alignTimestamp(graph.now - 3 * HOUR))
    }
    return out
  }).pipe(Effect.provide(GraphStoreSqlite.layer({ filename: path.join(dir, "graph.db"), chain: BITCOIN_MAINNET })))

  // LDK's own client applies the full v1 snapshot (v2 takes as long again: every log record crosses into JS)
  const require = createRequire(import.meta.url)
  yield* Effect.promise(() =>
    ldk.initializeWasmFromBinary(
      fs.readFileSync(path.join(path.dirname(require.resolve("lightningdevkit/package.json")), "liblightningjs.wasm"))
    )
  )
  const logger = ldk.Logger.new_impl({ log: () => {} })
  const network = ldk.NetworkGraph.constructor_new(ldk.Network.LDKNetwork_Bitcoin, logger)
  const sync = ldk.RapidGossipSync.constructor_new(network, logger)
  const tApply = performance.now()
  const cApply = process.cpuUsage()
  const r = sync.update_network_graph_no_std(
    results.v1.snapshot.bytes,
    ldk.Option_u64Z.constructor_some(BigInt(graph.now))
  )
  const applyMs = ms(tApply)
  const applyCpu = process.cpuUsage(cApply)
  const applyCpuMs = (applyCpu.user + applyCpu.system) / 1000
  if (!r.is_ok()) return yield* Effect.dieMessage("LDK rejected the full v1 snapshot")
  const readOnly = network.read_only()
  const held = readOnly.list_channels().length
  readOnly.free() // a read lock: the bindings insist it is released by hand
  if (held !== results.v1.snapshot.channels) {
    return yield* Effect.dieMessage(`LDK holds ${held} channels of the ${results.v1.snapshot.channels} sent`)
  }
  console.log(
    `LDK (lightningdevkit 0.1, WASM): applied the full v1 snapshot in ${applyMs.toFixed(0)} ms (${
      applyCpuMs.toFixed(0)
    } ms CPU), ${held} channels`
  )

  const { v1, v2 } = results
  console.log(
    `rgs: full v1 snapshot of ${v1.snapshot.channels} channels / ${v1.snapshot.updates} updates = ${
      kib(v1.snapshot.bytes.length)
    }, ` +
      `${((100 * v1.snapshot.bytes.length) / v1.snapshot.rawBytes).toFixed(1)}% of its raw gossip (${
        (v1.snapshot.rawBytes / v1.snapshot.bytes.length).toFixed(1)
      }x smaller), built in ${v1.ms.toFixed(0)} ms (${
        v1.cpuMs.toFixed(0)
      } ms CPU); v2 with ${v2.snapshot.nodes} nodes ${kib(v2.snapshot.bytes.length)} = ${
        ((100 * v2.snapshot.bytes.length) / v2.snapshot.rawBytes).toFixed(1)
      }%, ${v2.ms.toFixed(0)} ms; LDK applies v1 in ${applyMs.toFixed(0)} ms (${applyCpuMs.toFixed(0)} ms CPU)`
  )
}).pipe(Effect.scoped)

const chunks = <A>(all: ReadonlyArray<A>): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < all.length; i += BATCH) out.push(all.slice(i, i + BATCH))
  return out
}

Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
