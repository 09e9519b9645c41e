/**
 * bench:multipeer's serving peers: BENCH_PEERS (default 8) lnsync nodes in this one process (so their CPU and
 * memory are not the syncing process's), each serving the whole mainnet-size graph from its own memory store, each
 * limited to BENCH_PEER_RATE (default lnd's 51,200) bytes per second outbound, each behind a counting TCP proxy.
 *
 * The limit is the syncer's own (GS-48, `outbound.ts`): every message a serving syncer sends — gossip replies,
 * range replies, `reply_short_channel_ids_end` — first takes its message size (type included, BOLT 8 framing not)
 * from a per-peer token bucket refilled at the rate, with a burst of one largest message plus a little, so the rate
 * holds from the first second. `Node.layer` fixes the per-peer burst at twice the rate (SyncManagerConfig), so the
 * node is composed here as `Node.layer` composes it, with the syncer's limits given directly. Each node's global
 * bucket (SM-30) keeps lnsync's default and is never tighter than the per-peer one; every node has its own, since
 * each build of the syncer factory makes one.
 *
 * The proxy (public port → node) counts the bytes that cross it each way, as the syncing side's socket sees them
 * (BOLT 8 frames: each message plus 34 bytes of length prefix and MACs; pings, init). Protocol on stdio:
 * `GRAPH <messages> <bytes>` (the raw gossip of the whole graph), one `PEER <i> <node_id> <port>` per peer, then
 * `READY`; the stdin line `BYTES` (and SIGTERM) prints `BYTES <i> <served> <received>` per peer, then `BYTES END`.
 */
import { Context, Effect, Either, Layer, Logger, LogLevel } from "effect"
import type { CountingProxy } from "./countingProxy.js"
import { startCountingProxy } from "./countingProxy.js"
import * as readline from "node:readline"
import { BITCOIN_MAINNET } from "../../src/domain/Chain.js"
import { decodeMessage } from "../../src/domain/Codec.js"
import { toHex } from "../../src/domain/Hex.js"
import { MAX_MESSAGE_SIZE } from "../../src/domain/Limits.js"
import type { ChannelAnnouncement, ChannelUpdate, NodeAnnouncement } from "../../src/domain/Messages.js"
import * as Node from "../../src/layers/Node.js"
import * as TcpPeerConnector from "../../src/layers/net/TcpPeerConnector.js"
import * as ChainSource from "../../src/services/ChainSource.js"
import * as GossipPipeline from "../../src/services/GossipPipeline.js"
import * as GossipSyncer from "../../src/services/GossipSyncer.js"
import type { GraphBatch } from "../../src/services/GraphStore.js"
import { GraphStore, layerMemory } from "../../src/services/GraphStore.js"
import { NodeIdentity } from "../../src/services/PeerConnector.js"
import * as SignatureVerifier from "../../src/services/SignatureVerifier.js"
import { SyncManager } from "../../src/services/SyncManager.js"
import { SyncManagerDefaults } from "../../src/services/SyncManagerConfig.js"
import * as SyncNode from "../../src/services/SyncNode.js"
import { deriveKey } from "../../src/testing/GraphGenerator.js"
import { mainnetGraph } from "./mainnetGraph.js"

const peerCount = Number(process.env.BENCH_PEERS ?? 8)
const peerRate = Number(process.env.BENCH_PEER_RATE ?? 51_200)
/** One largest message (BOLT 8: 65,535 bytes, type included) fits the bucket; 1 KiB more is the "little". */
const peerBurst = MAX_MESSAGE_SIZE + 1024
/** SM-30: lnsync's default global cap, raised only if the per-peer rate would pass it (SM-3: global > per peer). */
const globalRate = Math.max(SyncManagerDefaults.msgBytesPerSecond, 2 * peerRate)
const globalBurst = Math.max(SyncManagerDefaults.msgBytesBurst, 2 * globalRate)

const WRITE_CHUNK = 4096

/**
 * One serving node: `Node.layer` with no active syncers (SM-16.2: it never asks the syncer for anything), no
 * Reconciler and no chain watcher, and the syncer's outbound limits set here instead of derived from the
 * SyncManagerConfig.
 */
const servingNode = (name: string) => {
  const chain = BITCOIN_MAINNET
  const configs = Node.layerServiceConfig({ chain, syncManager: { numActiveSyncers: 0 } })
  const pipeline = GossipPipeline.layer.pipe(
    Layer.provide(Layer.merge(SignatureVerifier.layerInThread, ChainSource.layerNone)),
    Layer.provide(configs),
    Layer.provideMerge(layerMemory)
  )
  const factory = GossipSyncer.layer.pipe(
    Layer.provide(
      GossipSyncer.configLayer({
        chainHash: chain,
        bestHeight: Effect.succeed(0xffffff),
        peerBytesPerSecond: peerRate,
        peerBurstBytes: peerBurst,
        globalBytesPerSecond: globalRate,
        globalBurstBytes: globalBurst
      })
    ),
    Layer.provide(pipeline)
  )
  const manager = SyncManager.layer.pipe(Layer.provide(factory), Layer.provide(configs))
  const connector = TcpPeerConnector.layer(
    TcpPeerConnector.makeConfig(deriveKey(`lnsync/bench/multipeer/${name}`), chain, {
      listen: { host: "127.0.0.1", port: 0 }
    })
  )
  return SyncNode.layer.pipe(Layer.provideMerge(Layer.mergeAll(manager, connector, pipeline)))
}

const decodeGraph = (messages: ReadonlyArray<Uint8Array>): GraphBatch => {
  const channels: Array<ChannelAnnouncement> = []
  const updates: Array<ChannelUpdate> = []
  const nodes: Array<NodeAnnouncement> = []
  for (const raw of messages) {
    const m = decodeMessage(raw)
    if (Either.isLeft(m)) throw new Error(`bench graph: ${m.left.reason}`)
    if (m.right._tag === "ChannelAnnouncement") channels.push(m.right)
    else if (m.right._tag === "ChannelUpdate") updates.push(m.right)
    else if (m.right._tag === "NodeAnnouncement") nodes.push(m.right)
  }
  return { channels, updates, nodes }
}

const program = Effect.gen(function* () {
  const raw = mainnetGraph(Number(process.env.BENCH_CHANNELS ?? 54_000)).messages
  const gossipBytes = raw.reduce((sum, m) => sum + m.length, 0)
  const graph = decodeGraph(raw)
  process.stdout.write(`GRAPH ${raw.length} ${gossipBytes}\n`)

  const proxies: Array<CountingProxy> = []
  for (let i = 0; i < peerCount; i++) {
    const scope = yield* Effect.scope
    // a serving node's own chatter would drown the bench's output; every fiber it forks inherits this level
    const context = yield* Layer.buildWithScope(servingNode(`peer${i}`), scope).pipe(
      Logger.withMinimumLogLevel(LogLevel.Warning)
    )
    const store = Context.get(context, GraphStore)
    // our own signed data: straight into the store, announcements before the updates and nodes that need them
    for (let j = 0; j < graph.channels.length; j += WRITE_CHUNK) {
      yield* store.applyBatch({ channels: graph.channels.slice(j, j + WRITE_CHUNK), updates: [], nodes: [] })
    }
    for (let j = 0; j < graph.updates.length; j += WRITE_CHUNK) {
      yield* store.applyBatch({ channels: [], updates: graph.updates.slice(j, j + WRITE_CHUNK), nodes: [] })
    }
    for (let j = 0; j < graph.nodes.length; j += WRITE_CHUNK) {
      yield* store.applyBatch({ channels: [], updates: [], nodes: graph.nodes.slice(j, j + WRITE_CHUNK) })
    }
    const identity = Context.get(context, NodeIdentity)
    const listen = identity.listenAddress
    if (listen._tag === "None") return yield* Effect.dieMessage("serving peer is not listening")
    const proxy = yield* startCountingProxy(listen.value.port)
    proxies.push(proxy)
    process.stdout.write(`PEER ${i} ${toHex(identity.nodeId)} ${proxy.port}\n`)
  }

  const printBytes = () => {
    const lines = proxies.map((p, i) => `BYTES ${i} ${p.counts().fromPeer} ${p.counts().toPeer}\n`).join("")
    process.stdout.write(`${lines}BYTES END\n`)
  }
  const commands = readline.createInterface({ input: process.stdin })
  commands.on("line", (line) => {
    if (line.trim() === "BYTES") printBytes()
  })
  // the parent gone: nothing left to serve
  commands.on("close", () => process.exit(0))
  // a normal exit on SIGTERM (diagnostics such as --cpu-prof are written), with the counts
  process.on("SIGTERM", () => {
    printBytes()
    process.exit(0)
  })
  process.stdout.write(
    `READY ${peerCount} peers, ${peerRate} B/s each (burst ${peerBurst}), global ${globalRate} B/s (burst ${globalBurst})\n`
  )
  return yield* Effect.never
})

Effect.runPromise(Effect.scoped(program)).catch((e: unknown) => {
  process.stderr.write(`serving peers failed: ${String(e)}\n`)
  process.exit(1)
})
