/**
 * An HTTP server (node `http`, port 0 on loopback) serving a `SyntheticChain` through the subsets of the Esplora
 * REST API and bitcoind's JSON-RPC that `src/layers/chain/` uses: GET `/esplora/...` and POST `/rpc` (batches).
 * Test controls: `down` (every request answered 503), `hold` (requests wait until `release`: a slow backend), and
 * a count of calls by route (an RPC batch counts each of its calls; `received` counts HTTP requests). Closed with
 * its Scope.
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Effect } from "effect"
import type { Scope } from "effect"
import { toHex } from "../../domain/Hex.js"
import type { SyntheticChain, SynthTx } from "./SyntheticChain.js"

export interface ChainServer {
  readonly esploraUrl: string
  /** bitcoind RPC URL (user `lnsync`, password `secret`). */
  readonly rpcUrl: string
  /** When true every request gets a 503. */
  down: boolean
  /** When true requests wait until `release()`. */
  hold: boolean
  readonly release: () => void
  /** Requests received, by route (`tx`, `block-height`, `getblock`, ...). */
  readonly requests: Map<string, number>
  readonly waiting: () => number
  /** Requests received in all (503s included). */
  readonly received: () => number
  /** Resolves once `n` requests in all have been received (tests wait on this, not on timers). */
  readonly untilRequests: (n: number) => Effect.Effect<void>
}

export const RPC_USER = "lnsync"
export const RPC_PASSWORD = "secret"

const esploraTx = (chain: SyntheticChain, tx: SynthTx) => ({
  txid: tx.txid,
  vin: tx.vin.length === 0
    ? [{ is_coinbase: true }]
    : tx.vin.map((i) => ({ txid: i.txid, vout: i.vout, is_coinbase: false })),
  vout: tx.vout.map((o) => ({ scriptpubkey: toHex(o.scriptPubKey), value: Number(o.valueSat) })),
  status: { confirmed: true, block_height: chain.tip }
})

const rpcTx = (tx: SynthTx) => ({
  txid: tx.txid,
  vin: tx.vin.length === 0 ? [{ coinbase: "00" }] : tx.vin.map((i) => ({ txid: i.txid, vout: i.vout })),
  vout: tx.vout.map((o, n) => ({ value: Number(o.valueSat) / 1e8, n, scriptPubKey: { hex: toHex(o.scriptPubKey) } }))
})

/** Answers one Esplora path: [status, body]. */
const esplora = (chain: SyntheticChain, path: string, count: (route: string) => void): readonly [number, string] => {
  let m: RegExpExecArray | null
  if (path === "/blocks/tip/height") {
    count("tip")
    return [200, String(chain.tip)]
  }
  if ((m = /^\/block-height\/(\d+)$/.exec(path))) {
    count("block-height")
    const hash = chain.blockHash(Number(m[1]))
    return hash === undefined ? [404, "Block not found"] : [200, hash]
  }
  if ((m = /^\/block\/([0-9a-f]{64})\/txids$/.exec(path))) {
    count("txids")
    const h = chain.heightOf(m[1])
    return h === undefined ? [404, "Block not found"] : [200, JSON.stringify(chain.txs(h).map((t) => t.txid))]
  }
  if ((m = /^\/block\/([0-9a-f]{64})\/txs\/(\d+)$/.exec(path))) {
    count("txs")
    const h = chain.heightOf(m[1])
    if (h === undefined) return [404, "Block not found"]
    const start = Number(m[2])
    return [200, JSON.stringify(chain.txs(h).slice(start, start + 25).map((t) => esploraTx(chain, t)))]
  }
  if ((m = /^\/tx\/([0-9a-f]{64})\/outspend\/(\d+)$/.exec(path))) {
    count("outspend")
    return [200, JSON.stringify({ spent: chain.isSpent(m[1], Number(m[2])) })]
  }
  if ((m = /^\/tx\/([0-9a-f]{64})$/.exec(path))) {
    count("tx")
    const tx = chain.tx(m[1])
    return tx === undefined ? [404, "Transaction not found"] : [200, JSON.stringify(esploraTx(chain, tx))]
  }
  return [404, "not found"]
}

interface RpcRequest {
  readonly id: unknown
  readonly method: string
  readonly params: ReadonlyArray<unknown>
}

const rpc = (chain: SyntheticChain, req: RpcRequest, count: (route: string) => void) => {
  count(req.method)
  const ok = (result: unknown) => ({ id: req.id, result, error: null })
  const err = (code: number, message: string) => ({ id: req.id, result: null, error: { code, message } })
  switch (req.method) {
    case "getblockcount":
      return ok(chain.tip)
    case "getblockhash": {
      const hash = chain.blockHash(Number(req.params[0]))
      return hash === undefined ? err(-8, "Block height out of range") : ok(hash)
    }
    case "getblock": {
      const h = chain.heightOf(String(req.params[0]))
      if (h === undefined) return err(-5, "Block not found")
      // verbosity 1 (bitcoind's default): txids only; 2: every transaction decoded
      const verbosity = req.params[1] === undefined ? 1 : Number(req.params[1])
      return ok({ hash: req.params[0], height: h, tx: chain.txs(h).map((t) => (verbosity >= 2 ? rpcTx(t) : t.txid)) })
    }
    case "getrawtransaction": {
      // without -txindex bitcoind finds a confirmed transaction only in the block named by the third parameter
      const h = chain.heightOf(String(req.params[2]))
      const tx = h === undefined ? undefined : chain.txs(h).find((t) => t.txid === String(req.params[0]))
      return tx === undefined ? err(-5, "No such mempool or blockchain transaction") : ok(rpcTx(tx))
    }
    case "gettxout": {
      const txid = String(req.params[0])
      const vout = Number(req.params[1])
      const out = chain.tx(txid)?.vout[vout]
      return out === undefined || chain.isSpent(txid, vout)
        ? ok(null)
        : ok({ value: Number(out.valueSat) / 1e8, scriptPubKey: { hex: toHex(out.scriptPubKey) } })
    }
    default:
      return err(-32601, "Method not found")
  }
}

/** Starts the server over `chain` in the current Scope. */
export const make = (chain: SyntheticChain): Effect.Effect<ChainServer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const held: Array<() => void> = []
    const requests = new Map<string, number>()
    const count = (route: string) => requests.set(route, (requests.get(route) ?? 0) + 1)
    let received = 0
    const waiters: Array<{ readonly n: number; readonly done: () => void }> = []
    const control = { down: false, hold: false }
    const answer = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => {
      if (control.down) {
        res.writeHead(503).end("down")
        return
      }
      const path = new URL(req.url ?? "/", "http://x").pathname
      if (req.method === "GET" && path.startsWith("/esplora/")) {
        const [status, text] = esplora(chain, path.slice("/esplora".length), count)
        res.writeHead(status, {
          "content-type": status === 200 && text.startsWith("[") || text.startsWith("{")
            ? "application/json"
            : "text/plain"
        })
        res.end(text)
        return
      }
      if (req.method === "POST" && path === "/rpc") {
        const expected = `Basic ${Buffer.from(`${RPC_USER}:${RPC_PASSWORD}`).toString("base64")}`
        if (req.headers.authorization !== expected) {
          res.writeHead(401).end()
          return
        }
        const parsed: unknown = JSON.parse(body)
        const calls = (Array.isArray(parsed) ? parsed : [parsed]) as ReadonlyArray<RpcRequest>
        const results = calls.map((c) => rpc(chain, c, count))
        res.writeHead(200, { "content-type": "application/json" })
        res.end(JSON.stringify(Array.isArray(parsed) ? results : results[0]))
        return
      }
      res.writeHead(404).end()
    }
    const server = http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        received++
        for (const w of waiters.splice(0)) {
          if (received >= w.n) w.done()
          else waiters.push(w)
        }
        const body = Buffer.concat(chunks).toString("utf8")
        if (control.hold) held.push(() => answer(req, body, res))
        else answer(req, body, res)
      })
    })
    const port = yield* Effect.acquireRelease(
      Effect.async<number>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const h of held.splice(0)) h()
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
    )
    const base = `http://127.0.0.1:${port}`
    return {
      esploraUrl: `${base}/esplora`,
      rpcUrl: `${base}/rpc`,
      get down() {
        return control.down
      },
      set down(v: boolean) {
        control.down = v
      },
      get hold() {
        return control.hold
      },
      set hold(v: boolean) {
        control.hold = v
      },
      release: () => {
        for (const h of held.splice(0)) h()
      },
      requests,
      waiting: () => held.length,
      received: () => received,
      untilRequests: (n) =>
        Effect.async<void>((resume) => {
          if (received >= n) resume(Effect.void)
          else waiters.push({ n, done: () => resume(Effect.void) })
        })
    }
  })
