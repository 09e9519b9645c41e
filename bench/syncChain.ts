/**
 * bench:sync-chain — bench:sync with the BOLT 7 funding check on (issue 15) beside the same sync without it, as a
 * ratio. The chain source is bitcoind JSON-RPC against the in-suite chain server on loopback (in this process),
 * serving a synthetic chain that holds a real P2WSH 2-of-2 funding output for every channel of the mainnet-size
 * graph. Each run is a fresh node syncing from the same serving peer (a child process) into a fresh SQLite file;
 * timed from dialing until synced, reconciled and written, and (with the check) until every parked announcement
 * has come back and been written. Last line: the headline.
 */
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import type { ChannelAnnouncement } from "../src/domain/Messages.js"
import { fromHex } from "../src/domain/Hex.js"
import * as Bitcoind from "../src/layers/chain/Bitcoind.js"
import * as GraphStoreSqlite from "../src/layers/graph/GraphStoreSqlite.js"
import * as Node from "../src/layers/Node.js"
import { runSync } from "../src/bin/run.js"
import type { ChainSource } from "../src/services/ChainSource.js"
import { GossipPipeline } from "../src/services/GossipPipeline.js"
import { GraphStore } from "../src/services/GraphStore.js"
import * as ChainServer from "../src/testing/chain/ChainServer.js"
import { SyntheticChain } from "../src/testing/chain/SyntheticChain.js"
import { deriveKey, GENERATED_TIP } from "../src/testing/GraphGenerator.js"
import { mainnetGraph } from "./support/mainnetGraph.js"
import { startServer } from "./support/servingPeer.js"
import { decodeAll } from "./support/signatureFloor.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const outDir = path.join(here, "out")
const channels = Number(process.env.BENCH_CHANNELS ?? 54_000)

/** One sync into a fresh file; with `chainSource`, waits until the store holds `expected` channels. */
const syncOnce = (
  server: { readonly nodeIdHex: string; readonly port: number },
  label: string,
  expected: number,
  chainSource: Layer.Layer<ChainSource> | undefined
) =>
  Effect.gen(function* () {
    const filename = path.join(outDir, `sync-chain-${label}.sqlite`)
    for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(filename + suffix, { force: true })
    const node = Node.layer({
      chain: BITCOIN_MAINNET,
      nodePrivateKey: deriveKey(`lnsync/bench/sync-chain/${label}`),
      store: GraphStoreSqlite.layer({ filename }),
      bestHeight: Effect.succeed(GENERATED_TIP),
      chainSource
    })
    const started = performance.now()
    const counts = yield* Effect.gen(function* () {
      yield* runSync([{ nodeId: fromHex(server.nodeIdHex), host: "127.0.0.1", port: server.port }], {
        untilSynced: true,
        progress: "none"
      })
      const store = yield* GraphStore
      const pipeline = yield* GossipPipeline
      // parked announcements come back after the sync's own messages: wait for the last of them
      for (;;) {
        yield* pipeline.flush
        const c = yield* store.counts
        if (c.channels >= expected) return c
        yield* Effect.sleep("100 millis")
      }
    }).pipe(Effect.provide(node), Effect.scoped)
    const seconds = (performance.now() - started) / 1000
    const msgs = counts.channels + counts.updates + counts.nodes
    console.log(
      `${label}: ${counts.channels} channels, ${counts.updates} updates, ${counts.nodes} nodes in ${
        seconds.toFixed(2)
      } s (${Math.round(msgs / seconds)} msg/s)`
    )
    return seconds
  })

const program = Effect.gen(function* () {
  fs.mkdirSync(outDir, { recursive: true })
  const graph = mainnetGraph(channels)
  const anns = decodeAll(graph.messages).filter((m): m is ChannelAnnouncement => m._tag === "ChannelAnnouncement")
  const chain = SyntheticChain.forAnnouncements(anns, GENERATED_TIP)
  const chainServer = yield* ChainServer.make(chain)
  const server = yield* startServer(channels)
  const without = yield* syncOnce(server, "without", anns.length, undefined)
  // BENCH_CHAIN_BLOCKS_PER_CALL / BENCH_CHAIN_WORKERS: try other batch sizes than the defaults (32 blocks, 4 workers)
  const knob = (name: string) => (process.env[name] === undefined ? undefined : Number(process.env[name]))
  const workers = knob("BENCH_CHAIN_WORKERS")
  const source = Bitcoind.layer({
    url: chainServer.rpcUrl,
    user: ChainServer.RPC_USER,
    password: ChainServer.RPC_PASSWORD,
    blocksPerCall: knob("BENCH_CHAIN_BLOCKS_PER_CALL"),
    asyncCheck: workers === undefined ? undefined : { workers }
  })
  const withCheck = yield* syncOnce(server, "with-chain-check", anns.length, source)
  console.log(
    `chain server: ${chainServer.received()} requests (${
      [...chainServer.requests].map(([k, v]) => `${k} ${v}`).join(", ")
    })`
  )
  console.log(
    `sync-chain: ${anns.length} channels; without chain check ${
      without.toFixed(1)
    } s, with (bitcoind RPC on loopback) ${withCheck.toFixed(1)} s; ${(withCheck / without).toFixed(2)}× without`
  )
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  }
)
