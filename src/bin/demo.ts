/**
 * `lnsync demo` (what `npm start` runs): a deterministic signed graph split over simulated peers on loopback, and
 * a fresh node that dials them over BOLT 8 and syncs into SQLite. It ends by checking the database holds exactly
 * the union of what the peers served.
 */
import { Clock, Effect } from "effect"
import * as fs from "node:fs"
import { BITCOIN_REGTEST } from "../domain/Chain.js"
import { deriveKey, GENERATED_TIP, generateGraph } from "../testing/GraphGenerator.js"
import { GraphStore } from "../services/GraphStore.js"
import * as GraphStoreSqlite from "../layers/graph/GraphStoreSqlite.js"
import { loadMainnetTopology } from "../testing/MainnetTopology.js"
import * as Node from "../layers/Node.js"
import { servingPeer, splitGraph } from "../testing/SimulatedNetwork.js"
import type { ProgressMode } from "./run.js"
import { logIdentity, runSync, summaryLine } from "./run.js"
import type { Terminal } from "./terminal.js"

export interface DemoOptions {
  readonly channels: number
  readonly peers: number
  readonly db: string
  readonly seed: number
  readonly progress: ProgressMode
  /** Where the status line goes (default: stderr). */
  readonly terminal?: Terminal | undefined
}

export interface DemoResult {
  /** Summary lines; the last is `synced: <C> channels, <U> updates, <N> nodes from <P> peers in <T> s`. */
  readonly lines: ReadonlyArray<string>
  /** The database holds exactly the generated graph (the union of the peers' parts). */
  readonly complete: boolean
}

export const runDemo = (options: DemoOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const topology = loadMainnetTopology()
      yield* Effect.logInfo(
        `generating ${options.channels} signed channels (${
          topology === undefined ? "synthetic shape" : `${topology.name} shape`
        }, seed ${options.seed})`
      )
      const graph = generateGraph({
        seed: options.seed,
        channels: options.channels,
        chainHash: BITCOIN_REGTEST,
        now,
        topology
      })
      const parts = splitGraph(graph, options.peers)
      const servers = yield* Effect.forEach(parts, (part, i) =>
        servingPeer(part, { chain: BITCOIN_REGTEST, name: `demo/${options.seed}/${i}` }).pipe(
          Effect.tap((s) =>
            Effect.logInfo(
              `peer ${
                i + 1
              }/${options.peers} serving ${part.channels.length} channels, ${part.updates.length} updates, ${part.nodes.length} nodes on ${s.address.host}:${s.address.port}`
            )
          )
        ))
      for (const suffix of ["", "-wal", "-shm"]) {
        fs.rmSync(`${options.db}${suffix}`, { force: true })
      }
      const node = Node.layer({
        chain: BITCOIN_REGTEST,
        nodePrivateKey: deriveKey(`lnsync/demo/${options.seed}/syncer/${now}`),
        store: GraphStoreSqlite.layer({ filename: options.db }),
        bestHeight: Effect.succeed(GENERATED_TIP)
      })
      return yield* Effect.gen(function* () {
        yield* logIdentity
        const report = yield* runSync(
          servers.map((s) =>
            s.address
          ),
          { untilSynced: true, progress: options.progress, terminal: options.terminal }
        )
        const held = yield* Effect.flatMap(GraphStore, (s) => s.counts)
        const complete = report.ok &&
          held.channels === graph.channelAnnouncements.length &&
          held.updates === graph.channelUpdates.length &&
          held.nodes === graph.nodeAnnouncements.length
        return {
          complete,
          lines: [
            `expected: ${graph.channelAnnouncements.length} channels, ${graph.channelUpdates.length} updates, ${graph.nodeAnnouncements.length} nodes (the union of ${servers.length} peers' parts) — ${
              complete ? "all synced" : "MISSING GOSSIP"
            }`,
            `database: ${options.db}`,
            ...report.peerLines,
            report.reason === undefined ? summaryLine(report) : `not synced: ${report.reason}`
          ]
        }
      }).pipe(Effect.provide(node))
    })
  )
