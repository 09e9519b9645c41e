/**
 * A serving lnsync peer in its own process (so the syncing side's memory is measured alone): loads the shared
 * mainnet-size graph, serves it on a loopback BOLT 8 listener with raised outbound limits, and prints
 * `READY <node_id> <port>` once listening. Runs until killed.
 */
import { Effect, Either } from "effect"
import { BITCOIN_MAINNET } from "../../src/domain/Chain.js"
import { decodeMessage } from "../../src/domain/Codec.js"
import { toHex } from "../../src/domain/Hex.js"
import type { ChannelAnnouncement, ChannelUpdate, NodeAnnouncement } from "../../src/domain/Messages.js"
import { servingPeer } from "../../src/testing/SimulatedNetwork.js"
import { mainnetGraph } from "./mainnetGraph.js"

const graph = mainnetGraph(Number(process.env.BENCH_CHANNELS ?? 54_000))
const channels: Array<ChannelAnnouncement> = []
const updates: Array<ChannelUpdate> = []
const nodes: Array<NodeAnnouncement> = []
for (const raw of graph.messages) {
  const m = decodeMessage(raw)
  if (Either.isLeft(m)) throw new Error(`bench graph: ${m.left.reason}`)
  if (m.right._tag === "ChannelAnnouncement") channels.push(m.right)
  else if (m.right._tag === "ChannelUpdate") updates.push(m.right)
  else if (m.right._tag === "NodeAnnouncement") nodes.push(m.right)
}

// a normal exit on SIGTERM, so diagnostics such as --cpu-prof are written
process.on("SIGTERM", () => process.exit(0))

Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      // 256 MiB/s: the serving side must never be what the bench measures (lnd's 50 KiB/s would take 15 minutes)
      const peer = yield* servingPeer({ channels, updates, nodes }, {
        chain: BITCOIN_MAINNET,
        name: "bench/sync",
        bytesPerSecond: 256 * 1024 * 1024
      })
      process.stdout.write(`READY ${toHex(peer.nodeId)} ${peer.address.port}\n`)
      return yield* Effect.never
    })
  )
).catch((e: unknown) => {
  process.stderr.write(`serving peer failed: ${String(e)}\n`)
  process.exit(1)
})
