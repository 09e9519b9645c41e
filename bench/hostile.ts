/**
 * bench:hostile (issue 14) — a listening lnsync node under a query flood. The node runs in a child process (so only
 * its memory is measured) with a signed graph in a memory store and default limits. For N = 1, 5, 20 and 50
 * attackers, each from its own loopback address (the hardest case for per-address limits), this process opens BOLT 8
 * connections with an independent client built on the domain Noise code, sends `init`, then writes 64 KB
 * `query_short_channel_ids` (8,180 scids of channels the node has) as fast as the node reads them and never reads a
 * byte back; a dropped attacker reconnects at once. Two seconds in, a legitimate peer from another address
 * connects; it "got in" when the node's `init` and a pong for its ping arrived within 10 s.
 *
 * Prints, per N, the node's peak RSS during the flood as a ratio to its idle RSS, RSS after the attackers left, the
 * connector's byte-budget peaks, and whether the legitimate peer got in; the last line is the headline. Goal: peak
 * under 20 attackers at most 2× idle, and the legitimate peer always gets in. About a minute in all.
 */
import { Context, Effect, Either, Layer, Logger, LogLevel } from "effect"
import { fork } from "node:child_process"
import * as net from "node:net"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import { decodeMessage, encodeMessage } from "../src/domain/Codec.js"
import * as Features from "../src/domain/Features.js"
import { fromHex, toHex } from "../src/domain/Hex.js"
import type { ChannelAnnouncement, ChannelUpdate, Message, NodeAnnouncement } from "../src/domain/Messages.js"
import {
  ACT_TWO_SIZE,
  encryptFrame,
  FrameDecoder,
  generatePrivateKey,
  initiatorActOne,
  initiatorActTwo,
  type NoiseSession
} from "../src/domain/Noise.js"
import type { ShortChannelId } from "../src/domain/ShortChannelId.js"
import * as TcpPeerConnector from "../src/layers/net/TcpPeerConnector.js"
import * as Node from "../src/layers/Node.js"
import { GraphStore, layerMemory } from "../src/services/GraphStore.js"
import { NodeIdentity, PeerConnector } from "../src/services/PeerConnector.js"
import { deriveKey } from "../src/testing/GraphGenerator.js"
import { mainnetGraph } from "./support/mainnetGraph.js"

const CHANNELS = Number(process.env.BENCH_HOSTILE_CHANNELS ?? 5_000)
const ATTACKERS = (process.env.BENCH_HOSTILE_N ?? "1,5,20,50").split(",").map(Number)
const FLOOD_MS = Number(process.env.BENCH_HOSTILE_FLOOD_MS ?? 10_000)
const SETTLE_MS = 3_000
const LEGIT_AFTER_MS = 2_000
const LEGIT_DEADLINE_MS = 10_000
const SCIDS_PER_QUERY = 8_180 // 2 + 32 + 2 + 1 + 8 × 8,180 = 65,477 bytes: a 64 KB query

type ToChild = { readonly cmd: "reset" } | { readonly cmd: "sample" } | { readonly cmd: "gc" }
interface Ready {
  readonly ready: true
  readonly nodeId: string
  readonly port: number
  readonly scids: ReadonlyArray<string>
}
interface Sample {
  /** Longest event-loop stall since the last reset (ms): what a handshake waiting for its turn sees. */
  readonly maxLagMs: number
  readonly rss: number
  readonly peak: number
  readonly stats: TcpPeerConnector.ConnectorStats
}
type FromChild = Ready | Sample

// ---------------------------------------------------------------------------------------------------------------
// The node (child process)

/** The graph's messages decoded (the raw file's buffers are not kept: they would count as the node's idle memory). */
const loadGraph = () => {
  const channels: Array<ChannelAnnouncement> = []
  const updates: Array<ChannelUpdate> = []
  const nodes: Array<NodeAnnouncement> = []
  for (const raw of mainnetGraph(CHANNELS).messages) {
    const m = decodeMessage(raw)
    if (Either.isLeft(m)) throw new Error(`bench graph: ${m.left.reason}`)
    if (m.right._tag === "ChannelAnnouncement") channels.push(m.right)
    else if (m.right._tag === "ChannelUpdate") updates.push(m.right)
    else if (m.right._tag === "NodeAnnouncement") nodes.push(m.right)
  }
  return { channels, updates, nodes }
}

const runNode = () => {
  const { channels, updates, nodes } = loadGraph()
  const scids = channels.map((c) => c.shortChannelId.toString())
  let peak = 0
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, 25)
  sampler.unref()
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()

  const program = Effect.gen(function* () {
    const key = deriveKey("lnsync/bench/hostile")
    const tcp = yield* TcpPeerConnector.make(
      TcpPeerConnector.makeConfig(key, BITCOIN_MAINNET, { listen: { host: "127.0.0.1", port: 0 } })
    )
    const connector = Layer.succeedContext(
      Context.make(PeerConnector, tcp).pipe(
        Context.add(NodeIdentity, { nodeId: tcp.nodeId, listenAddress: tcp.listenAddress })
      )
    )
    const context = yield* Layer.build(
      Node.layer({
        chain: BITCOIN_MAINNET,
        nodePrivateKey: key,
        store: layerMemory,
        connector,
        bestHeight: Effect.succeed(0xffffff),
        verifier: "in-thread",
        reconcile: false,
        // BENCH_HOSTILE_MSG_RATE: the global outbound rate (SM-30, bytes/s; per peer lnd's 51,200); default: the node's
        syncManager: {
          numActiveSyncers: 0,
          ...(process.env.BENCH_HOSTILE_MSG_RATE === undefined
            ? {}
            : {
              msgBytesPerSecond: Number(process.env.BENCH_HOSTILE_MSG_RATE),
              msgBytesBurst: 2 * Number(process.env.BENCH_HOSTILE_MSG_RATE),
              peerMsgBytesPerSecond: Math.min(51_200, Number(process.env.BENCH_HOSTILE_MSG_RATE))
            })
        }
      })
    )
    const store = Context.get(context, GraphStore)
    for (let i = 0; i < channels.length; i += 4096) {
      yield* store.applyBatch({ channels: channels.slice(i, i + 4096), updates: [], nodes: [] })
    }
    for (let i = 0; i < updates.length; i += 4096) {
      yield* store.applyBatch({ channels: [], updates: updates.slice(i, i + 4096), nodes: [] })
    }
    for (let i = 0; i < nodes.length; i += 4096) {
      yield* store.applyBatch({ channels: [], updates: [], nodes: nodes.slice(i, i + 4096) })
    }
    channels.length = 0
    updates.length = 0
    nodes.length = 0
    const port = tcp.listenAddress._tag === "Some" ? tcp.listenAddress.value.port : 0
    const send = (m: FromChild) => process.send?.(m)
    send({ ready: true, nodeId: toHex(tcp.nodeId), port, scids })
    yield* Effect.async<never>(() => {
      process.on("message", (m: ToChild) => {
        if (m.cmd === "gc") globalThis.gc?.()
        if (m.cmd === "reset") {
          peak = process.memoryUsage.rss()
          lag.reset()
        }
        Effect.runPromise(tcp.stats).then((stats) => {
          const rss = process.memoryUsage.rss()
          send({ rss, peak: Math.max(peak, rss), stats, maxLagMs: lag.max / 1e6 })
        }, () => undefined)
      })
    })
  })
  process.on("disconnect", () => process.exit(0))
  process.on("SIGTERM", () => process.exit(0))
  Effect.runPromise(
    Effect.scoped(program).pipe(Logger.withMinimumLogLevel(LogLevel.Error))
  ).catch((e: unknown) => {
    process.stderr.write(`bench node failed: ${String(e)}\n`)
    process.exit(1)
  })
}

// ---------------------------------------------------------------------------------------------------------------
// The clients (this process): raw sockets, the domain's BOLT 8 code

const GOSSIP_FEATURES = Features.fromBits([Features.GOSSIP_QUERIES.odd, Features.GOSSIP_QUERIES_EX.odd])
const initWire = encodeMessage({
  _tag: "Init",
  globalFeatures: new Uint8Array(0),
  features: GOSSIP_FEATURES,
  networks: [BITCOIN_MAINNET],
  remoteAddr: undefined,
  unknownTlvs: []
})

interface Client {
  readonly socket: net.Socket
  readonly session: NoiseSession
  /** Everything read after the handshake (only the legitimate peer reads). */
  readonly decoder: FrameDecoder
}

/** TCP connect from `localAddress`, BOLT 8 as initiator, our `init` sent. */
const connectClient = (
  port: number,
  nodeId: Uint8Array,
  localAddress: string,
  key: Uint8Array,
  onSocket: (socket: net.Socket) => void = () => undefined
): Promise<Client> =>
  new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress })
    onSocket(socket)
    socket.setNoDelay(true)
    // a node that never answers act one must not hold the client forever
    const timer = setTimeout(() => fail(new Error("no act two within 5 s")), 5_000)
    let buffered = Buffer.alloc(0)
    let state: ReturnType<typeof initiatorActOne>["state"] | undefined
    const fail = (e: Error) => {
      clearTimeout(timer)
      socket.destroy()
      reject(e)
    }
    socket.once("error", fail)
    socket.once("close", () => reject(new Error("closed during handshake")))
    socket.once("connect", () => {
      const one = initiatorActOne(key, nodeId)
      state = one.state
      socket.write(one.actOne)
    })
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      if (buffered.length < ACT_TWO_SIZE || state === undefined) return
      clearTimeout(timer)
      socket.off("data", onData)
      socket.pause()
      const two = initiatorActTwo(state, buffered.subarray(0, ACT_TWO_SIZE))
      if (Either.isLeft(two)) return fail(new Error(two.left.detail))
      socket.write(two.right.actThree)
      socket.write(Either.getOrThrow(encryptFrame(two.right.session.sender, initWire)))
      socket.removeAllListeners("close")
      socket.removeAllListeners("error")
      socket.on("error", () => undefined)
      const decoder = new FrameDecoder(two.right.session.receiver)
      decoder.push(buffered.subarray(ACT_TWO_SIZE))
      resolve({ socket, session: two.right.session, decoder })
    }
    socket.on("data", onData)
  })

const scidBytes = (scids: ReadonlyArray<ShortChannelId>, offset: number): Array<ShortChannelId> => {
  const out: Array<ShortChannelId> = []
  for (let i = 0; i < SCIDS_PER_QUERY; i++) out.push(scids[(offset + i) % scids.length]!)
  return out
}

/** One attacker: floods 64 KB queries, never reads, reconnects when dropped, until `stop`. */
const attacker = (port: number, nodeId: Uint8Array, localAddress: string, queries: ReadonlyArray<Uint8Array>) => {
  const key = generatePrivateKey()
  let stopped = false
  let current: net.Socket | undefined
  let connections = 0
  let sentBytes = 0
  const loop = async () => {
    while (!stopped) {
      let client: Client
      try {
        client = await connectClient(port, nodeId, localAddress, key, (s) => (current = s))
      } catch {
        await new Promise((r) => setTimeout(r, 50))
        continue
      }
      connections++
      await new Promise<void>((done) => {
        let i = 0
        const pump = () => {
          while (!stopped && !client.socket.destroyed) {
            const wire = queries[i++ % queries.length]!
            sentBytes += wire.length
            if (!client.socket.write(Either.getOrThrow(encryptFrame(client.session.sender, wire)))) return
          }
        }
        client.socket.on("drain", pump)
        client.socket.once("close", () => done())
        pump()
      })
    }
  }
  const running = loop()
  return {
    stop: async () => {
      stopped = true
      current?.destroy()
      await running
    },
    get connections() {
      return connections
    },
    get sentBytes() {
      return sentBytes
    }
  }
}

/** The legitimate peer: connects, waits for the node's init, pings, waits for the pong. Milliseconds, or the failure. */
const legitimate = async (port: number, nodeId: Uint8Array): Promise<Either.Either<number, string>> => {
  const started = performance.now()
  let socket: net.Socket | undefined
  const attempt = async (): Promise<Either.Either<number, string>> => {
    const client = await connectClient(port, nodeId, "127.0.0.2", generatePrivateKey(), (s) => (socket = s))
    const seen: Array<Message["_tag"]> = []
    return await new Promise((resolve) => {
      const onData = (chunk: Buffer) => {
        client.decoder.push(chunk)
        for (;;) {
          const next = client.decoder.next()
          if (Either.isLeft(next)) return resolve(Either.left(next.left.detail))
          if (next.right === undefined) return
          const m = decodeMessage(next.right)
          if (Either.isLeft(m)) return resolve(Either.left(m.left.reason))
          seen.push(m.right._tag)
          if (m.right._tag === "Init") {
            const ping = encodeMessage({ _tag: "Ping", numPongBytes: 16, ignored: new Uint8Array(0) })
            client.socket.write(Either.getOrThrow(encryptFrame(client.session.sender, ping)))
          }
          if (m.right._tag === "Pong") return resolve(Either.right(performance.now() - started))
        }
      }
      client.socket.on("data", onData)
      client.socket.resume()
      // the node's init may have come in with act two
      onData(Buffer.alloc(0))
      client.socket.once("close", () => resolve(Either.left(`closed after ${seen.join(",") || "nothing"}`)))
    })
  }
  const deadline = new Promise<Either.Either<number, string>>((r) =>
    setTimeout(() => r(Either.left(`no init and pong within ${LEGIT_DEADLINE_MS} ms`)), LEGIT_DEADLINE_MS)
  )
  try {
    return await Promise.race([attempt().catch((e: unknown) => Either.left(String(e))), deadline])
  } finally {
    socket?.destroy()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The bench

const debug = (what: string) => {
  if (process.env.BENCH_HOSTILE_DEBUG !== undefined) {
    process.stderr.write(`[${(performance.now() / 1000).toFixed(1)}] ${what}\n`)
  }
}
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const main = async () => {
  const started = performance.now()
  const child = fork(fileURLToPath(import.meta.url), ["--node"], {
    // BENCH_HOSTILE_NODE_ARGS: extra node flags for the node (e.g. "--cpu-prof --cpu-prof-dir bench/out/prof")
    execArgv: [
      "--expose-gc",
      ...(process.env.BENCH_HOSTILE_NODE_ARGS ?? "").split(" ").filter((a) => a.length > 0),
      "--import",
      "tsx"
    ],
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  const replies: Array<(m: FromChild) => void> = []
  let ready: ((m: Ready) => void) | undefined
  const readyP = new Promise<Ready>((r) => (ready = r))
  child.on("message", (m: FromChild) => {
    if ("ready" in m) ready?.(m)
    else replies.shift()?.(m)
  })
  const ask = (cmd: ToChild["cmd"]) =>
    new Promise<Sample>((r) => {
      replies.push(r as (m: FromChild) => void)
      child.send({ cmd })
    })
  try {
    const info = await readyP
    console.log(`node ready on port ${info.port} (${((performance.now() - started) / 1000).toFixed(0)} s)`)
    const nodeId = fromHex(info.nodeId)
    const scids = info.scids.map((s) => BigInt(s) as ShortChannelId)
    const queries = [0, 1, 2, 3].map((k) =>
      encodeMessage({
        _tag: "QueryShortChannelIds",
        chainHash: BITCOIN_MAINNET,
        shortIds: { encoding: 0, ids: scidBytes(scids, k * 1_000) },
        queryFlags: undefined,
        unknownTlvs: []
      })
    )
    await sleep(1_000)
    await ask("gc")
    await sleep(1_000)
    let idle = 0
    for (let i = 0; i < 10; i++) {
      idle += (await ask("sample")).rss
      await sleep(100)
    }
    idle /= 10
    console.log(
      `bench:hostile — node with ${CHANNELS} channels, idle RSS ${mb(idle)}; query ${queries[0]!.length} bytes; flood ${
        FLOOD_MS / 1000
      } s per N`
    )
    const results: Array<{ n: number; ratio: number; legit: boolean }> = []
    for (const n of ATTACKERS) {
      process.stdout.write(`N=${n} …\n`)
      await ask("gc")
      await ask("reset")
      const attackers = Array.from(
        { length: n },
        (_, i) =>
          attacker(info.port, nodeId, `127.0.${1 + Math.floor((i + 10) / 250)}.${((i + 10) % 250) + 1}`, queries)
      )
      await sleep(LEGIT_AFTER_MS)
      debug("legitimate peer connecting")
      const legit = await legitimate(info.port, nodeId)
      debug(`legitimate: ${JSON.stringify(legit)}`)
      const remaining = FLOOD_MS - LEGIT_AFTER_MS - (Either.isRight(legit) ? legit.right : LEGIT_DEADLINE_MS)
      if (remaining > 0) await sleep(remaining)
      const during = await ask("sample")
      debug("sampled")
      const connections = attackers.reduce((a, x) => a + x.connections, 0)
      const sent = attackers.reduce((a, x) => a + x.sentBytes, 0)
      await Promise.all(attackers.map((a) => a.stop()))
      debug("attackers stopped")
      await sleep(SETTLE_MS)
      await ask("gc")
      const after = await ask("sample")
      const ratio = during.peak / idle
      results.push({ n, ratio, legit: Either.isRight(legit) })
      console.log(
        `N=${String(n).padStart(2)}: peak RSS ${ratio.toFixed(2)}× idle (${mb(during.peak)}), after ${
          (after.rss / idle).toFixed(2)
        }×; legitimate peer ${
          Either.isRight(legit) ? `got in (${legit.right.toFixed(0)} ms)` : `did NOT get in: ${legit.left}`
        }; attacker connections ${connections}, ${mb(sent)} of queries written; budget peaks in ${
          mb(during.stats.peakInboundBytes)
        } out ${
          mb(during.stats.peakOutboundBytes)
        }; inbound peers ${during.stats.inboundPeers}; longest event-loop stall ${during.maxLagMs.toFixed(0)} ms`
      )
    }
    const at20 = results.find((r) => r.n === 20) ?? results[results.length - 1]!
    const allIn = results.every((r) => r.legit)
    console.log(
      `headline: peak RSS under ${at20.n} flooding peers ${at20.ratio.toFixed(2)}× idle (goal ≤ 2×: ${
        at20.ratio <= 2 ? "met" : "NOT met"
      }); legitimate peer got in under every load: ${allIn ? "yes" : "NO"} (${
        ((performance.now() - started) / 1000).toFixed(0)
      } s)`
    )
  } finally {
    child.kill("SIGTERM")
  }
}

if (process.argv.includes("--node")) runNode()
else {main().catch((e: unknown) => {
    console.error(e)
    process.exit(1)
  })}
