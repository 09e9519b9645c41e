/**
 * Starts `servePeers.ts` (several rate-limited serving peers behind counting proxies, in one child process) and
 * reads its stdio protocol: the graph's gossip bytes, each peer's node id and public port, and on request the bytes
 * each proxy has seen.
 */
import { Data, Effect } from "effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { processCpuSeconds } from "./servingPeer.js"

const here = path.dirname(fileURLToPath(import.meta.url))

/** The serving process exited, or did not answer as `servePeers.ts` does. */
export class ServingPeersError extends Data.TaggedError("ServingPeersError")<{ readonly reason: string }> {
  override get message() {
    return `serving peers: ${this.reason}`
  }
}

export interface ServedBytes {
  /** Bytes the peer sent to the syncer (the proxy's count of its outbound TCP stream). */
  readonly served: number
  /** Bytes the syncer sent to the peer. */
  readonly received: number
}

export interface ServingPeers {
  /** Messages and raw bytes of the whole graph each peer serves (what the peers' limiters count per message). */
  readonly graphMessages: number
  readonly gossipBytes: number
  readonly peers: ReadonlyArray<{ readonly nodeIdHex: string; readonly port: number }>
  /** What the child said its limits are (one line). */
  readonly limits: string
  /** Each peer's byte counts so far, in peer order. */
  readonly bytes: Effect.Effect<ReadonlyArray<ServedBytes>, ServingPeersError>
  readonly cpuSeconds: () => number
}

export interface ServingPeersOptions {
  readonly channels: number
  readonly peers: number
  /** Outbound bytes per second per peer (lnd's default is 51,200). */
  readonly bytesPerSecond: number
}

/**
 * Starts the serving process and waits for its READY line (loading the graph is not timed); kills it when the scope
 * closes.
 */
export const startServingPeers = (options: ServingPeersOptions) =>
  Effect.acquireRelease(
    Effect.async<{ readonly peers: ServingPeers; readonly kill: () => void }, ServingPeersError>((resume) => {
      // BENCH_SERVER_NODE_ARGS: extra node flags for the serving process (e.g. "--cpu-prof --cpu-prof-dir bench/out/prof")
      const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter((a) => a.length > 0)
      const child = spawn(process.execPath, [...extra, "--import", "tsx", path.join(here, "servePeers.ts")], {
        stdio: ["pipe", "pipe", "inherit"],
        env: {
          ...process.env,
          BENCH_CHANNELS: String(options.channels),
          BENCH_PEERS: String(options.peers),
          BENCH_PEER_RATE: String(options.bytesPerSecond)
        }
      })
      const lines = readline.createInterface({ input: child.stdout })
      let graph: { readonly messages: number; readonly bytes: number } | undefined
      const peers: Array<{ readonly nodeIdHex: string; readonly port: number }> = []
      // `bytes` requests in flight (answered in order: the child answers one BYTES line with one block)
      const waiting: Array<(answer: Effect.Effect<ReadonlyArray<ServedBytes>, ServingPeersError>) => void> = []
      let block: Array<ServedBytes> = []
      let exited: ServingPeersError | undefined
      const kill = () => {
        // SIGTERM lets it exit normally (profiles get written); SIGKILL if it lingers
        child.kill("SIGTERM")
        setTimeout(() => child.kill("SIGKILL"), 5000).unref()
      }
      const bytes = Effect.async<ReadonlyArray<ServedBytes>, ServingPeersError>((answer) => {
        if (exited !== undefined) return answer(Effect.fail(exited))
        waiting.push(answer)
        child.stdin.write("BYTES\n")
      })
      lines.on("line", (line) => {
        const fields = line.split(" ")
        if (fields[0] === "GRAPH") graph = { messages: Number(fields[1]), bytes: Number(fields[2]) }
        else if (fields[0] === "PEER") peers.push({ nodeIdHex: fields[2]!, port: Number(fields[3]) })
        else if (fields[0] === "BYTES" && fields[1] === "END") {
          const done = block
          block = []
          waiting.shift()?.(Effect.succeed(done))
        } else if (fields[0] === "BYTES") block.push({ served: Number(fields[2]), received: Number(fields[3]) })
        else if (fields[0] === "READY") {
          if (graph === undefined || peers.length !== options.peers) {
            return resume(Effect.fail(new ServingPeersError({ reason: `READY before every PEER line: ${line}` })))
          }
          resume(Effect.succeed({
            peers: {
              graphMessages: graph.messages,
              gossipBytes: graph.bytes,
              peers,
              limits: line.slice("READY ".length),
              bytes,
              cpuSeconds: () => processCpuSeconds(child.pid)
            },
            kill
          }))
        }
      })
      child.on("exit", (code) => {
        const error = new ServingPeersError({ reason: `exited with ${code}` })
        exited = error
        for (const answer of waiting.splice(0)) answer(Effect.fail(error))
        resume(Effect.fail(error))
      })
    }),
    (started) => Effect.sync(started.kill)
  ).pipe(Effect.map((started) => started.peers))
