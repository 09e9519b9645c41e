/**
 * A loopback TCP proxy that counts the bytes it carries each way: the syncing node dials the proxy (with the serving
 * peer's node id), the proxy pipes to the serving peer. What it counts is BOLT 8 wire bytes (handshake, frame
 * headers and MACs included), measured outside lnsync, so src/ needs no byte metrics for it.
 */
import { Effect } from "effect"
import * as net from "node:net"

export interface ByteCounts {
  /** Bytes the syncing node sent to the peer. */
  readonly toPeer: number
  /** Bytes the peer sent to the syncing node. */
  readonly fromPeer: number
  /** Connections the syncing node opened through the proxy. */
  readonly connections: number
  /** Of those, still open (a closed one's bytes are all counted). */
  readonly open: number
}

export interface CountingProxy {
  readonly port: number
  /** The counts since the proxy started or since the last `reset`. */
  readonly counts: () => ByteCounts
  readonly reset: () => void
}

/** Starts the proxy on 127.0.0.1 (an ephemeral port) in front of `127.0.0.1:<upstreamPort>`; closed with the scope. */
export const startCountingProxy = (upstreamPort: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly proxy: CountingProxy; readonly close: () => void }, Error>((resume) => {
      const tally = { toPeer: 0, fromPeer: 0, connections: 0 }
      const sockets = new Set<net.Socket>()
      const clients = new Set<net.Socket>()
      const server = net.createServer((client) => {
        tally.connections += 1
        clients.add(client)
        client.on("close", () => clients.delete(client))
        const upstream = net.connect({ host: "127.0.0.1", port: upstreamPort })
        for (const s of [client, upstream]) {
          sockets.add(s)
          s.on("close", () => sockets.delete(s))
          s.setNoDelay(true)
        }
        client.on("data", (chunk: Buffer) => {
          tally.toPeer += chunk.length
        })
        upstream.on("data", (chunk: Buffer) => {
          tally.fromPeer += chunk.length
        })
        client.pipe(upstream)
        upstream.pipe(client)
        // either side ending or failing ends the other, as a direct connection would
        client.on("error", () => upstream.destroy())
        upstream.on("error", () => client.destroy())
        client.on("close", () => upstream.destroy())
        upstream.on("close", () => client.destroy())
      })
      server.on("error", (e) => resume(Effect.fail(e)))
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        if (address === null || typeof address === "string") {
          resume(Effect.fail(new Error("counting proxy: no port")))
          return
        }
        resume(Effect.succeed({
          // close() waits for open connections: end them too
          close: () => {
            server.close()
            for (const s of sockets) s.destroy()
          },
          proxy: {
            port: address.port,
            counts: () => ({ ...tally, open: clients.size }),
            reset: () => {
              tally.toPeer = 0
              tally.fromPeer = 0
              tally.connections = 0
            }
          }
        }))
      })
    }),
    ({ close }) => Effect.sync(close)
  ).pipe(Effect.map(({ proxy }) => proxy))
