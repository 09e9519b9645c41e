/**
 * ChainSource over bitcoind's JSON-RPC (Bitcoin Core, or anything speaking its RPC subset). For many blocks at
 * once (`blocksPerCall`, default 32), three HTTP requests each carrying a JSON-RPC batch: `getblockhash` for every
 * height, `getblock <hash> 1` (txids only, not every transaction's outputs) for every hash, then `gettxout` for
 * every funding output (the unspent output with its script and value). Only where `gettxout` answers null (spent,
 * or no such output) one more batch of `getrawtransaction <txid> true <blockhash>` (works without `-txindex` when
 * the block is given) tells a spent output (with its script, as BOLT 7 wants it checked) from a missing one.
 * Following the tip: `getblockcount`, and a block's inputs from `getblock <hash> 2`. Credentials: user and password, or
 * bitcoind's cookie file (`__cookie__:<password>`, re-read at each request since bitcoind rewrites it on restart).
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Effect, Layer } from "effect"
import type { Duration } from "effect"
import * as fs from "node:fs"
import { fromHex } from "../../domain/Hex.js"
import type { ChainBackend, ChainOutput, ChainSourceOptions, FundingOutput } from "../../services/ChainSource.js"
import { ChainSource, ChainSourceUnavailable, fromBackend } from "../../services/ChainSource.js"
import { bad, blockHashHex, type ChainHttpError, isRecord, parseJson, type ProbedBackend, send } from "./http.js"

export interface BitcoindConfig extends ChainSourceOptions {
  /** e.g. `http://127.0.0.1:8332`; credentials in the URL are used too. */
  readonly url: string
  readonly user?: string | undefined
  readonly password?: string | undefined
  /** bitcoind's `.cookie` file, used when no user/password is given. */
  readonly cookieFile?: string | undefined
  /** Per request (default 30 s: `getblock 2` of a full block is a few MB; 32 blocks' txids ~6 MB). */
  readonly timeout?: Duration.DurationInput | undefined
}

interface RpcCall {
  readonly method: string
  readonly params: ReadonlyArray<unknown>
}

/** An RPC error object: `code` -8 (height out of range) and -5 (not found) are answers, not failures. */
interface RpcError {
  readonly code: number
  readonly message: string
}

type RpcResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: RpcError }

const SATS_PER_BTC = 100_000_000

export const makeBackend = (client: HttpClient.HttpClient, config: BitcoindConfig): ProbedBackend => {
  const url = new URL(config.url)
  const urlUser = decodeURIComponent(url.username)
  const urlPassword = decodeURIComponent(url.password)
  url.username = ""
  url.password = ""
  const endpoint = url.toString()
  const timeout = config.timeout ?? "30 seconds"

  const credentials: Effect.Effect<readonly [string, string] | undefined, ChainSourceUnavailable> = Effect.suspend(
    () => {
      if (config.user !== undefined) return Effect.succeed([config.user, config.password ?? ""] as const)
      if (urlUser !== "") return Effect.succeed([urlUser, urlPassword] as const)
      const cookieFile = config.cookieFile
      if (cookieFile === undefined) return Effect.succeed(undefined)
      return Effect.try({
        try: () => {
          const text = fs.readFileSync(cookieFile, "utf8").trim()
          const at = text.indexOf(":")
          return [text.slice(0, at), text.slice(at + 1)] as const
        },
        catch: (e) =>
          new ChainSourceUnavailable({ operation: "cookie", cause: e instanceof Error ? e.message : String(e) })
      })
    }
  )

  /** One HTTP request carrying a JSON-RPC batch; results in call order. */
  const batch = (
    operation: string,
    calls: ReadonlyArray<RpcCall>
  ): Effect.Effect<ReadonlyArray<RpcResult>, ChainHttpError> =>
    calls.length === 0 ? Effect.succeed([]) : Effect.gen(function* () {
      const creds = yield* credentials
      let request = HttpClientRequest.post(endpoint).pipe(
        HttpClientRequest.bodyUnsafeJson(
          calls.map((c, id) => ({ jsonrpc: "1.0", id, method: c.method, params: c.params }))
        )
      )
      if (creds !== undefined) request = HttpClientRequest.basicAuth(request, creds[0], creds[1])
      const answer = yield* send(client, operation, request, timeout)
      if (answer.status === 401 || answer.status === 403) {
        return yield* Effect.fail(bad(operation, `RPC credentials refused (HTTP ${answer.status})`))
      }
      // a page that is not JSON-RPC at all: the URL names something else (what the startup probe reports)
      const body = yield* Effect.mapError(
        parseJson(operation, answer.text),
        (e) => answer.status === 404 ? bad(operation, "HTTP 404: no JSON-RPC here (not bitcoind?)") : e
      )
      if (!Array.isArray(body)) return yield* Effect.fail(bad(operation, `HTTP ${answer.status}: not a batch answer`))
      const out: Array<RpcResult> = new Array(calls.length)
      for (const item of body) {
        if (!isRecord(item) || typeof item.id !== "number" || item.id < 0 || item.id >= calls.length) continue
        const error = item.error
        out[item.id] = isRecord(error) && error !== null
          ? { ok: false, error: { code: Number(error.code), message: String(error.message) } }
          : { ok: true, value: item.result }
      }
      if (out.some((r) => r === undefined) || out.length !== calls.length) {
        return yield* Effect.fail(bad(operation, "a call of the batch got no answer"))
      }
      return out
    })

  const call = (operation: string, method: string, params: ReadonlyArray<unknown>) =>
    Effect.map(batch(operation, [{ method, params }]), (r) => r[0])

  const value = (operation: string, r: RpcResult) =>
    r.ok ? Effect.succeed(r.value) : Effect.fail(bad(operation, `RPC error ${r.error.code}: ${r.error.message}`))

  /** The block at `height` with its transactions (verbosity 2), or undefined past the tip. */
  const blockAt = (height: number) =>
    Effect.gen(function* () {
      const hash = yield* call("getblockhash", "getblockhash", [height])
      if (!hash.ok && hash.error.code === -8) return undefined
      const hashValue = yield* value("getblockhash", hash)
      const block = yield* Effect.flatMap(call("getblock", "getblock", [hashValue, 2]), (r) => value("getblock", r))
      if (!isRecord(block) || !Array.isArray(block.tx)) return yield* Effect.fail(bad("getblock", "no tx list"))
      return block.tx as ReadonlyArray<unknown>
    })

  const outputOfRaw = (txid: string, out: unknown): ChainOutput | undefined => {
    if (!isRecord(out) || typeof out.value !== "number" || !isRecord(out.scriptPubKey)) return undefined
    const hex = out.scriptPubKey.hex
    if (typeof hex !== "string") return undefined
    return { txid, scriptPubKey: fromHex(hex), valueSat: BigInt(Math.round(out.value * SATS_PER_BTC)) }
  }

  /** Values of a batch where `missing` RPC error codes mean "no such thing" (undefined). */
  const values = (operation: string, results: ReadonlyArray<RpcResult>, missing: ReadonlyArray<number>) =>
    Effect.forEach(
      results,
      (r) => !r.ok && missing.includes(r.error.code) ? Effect.succeed(undefined) : value(operation, r)
    )

  const fundingOutputs: ChainBackend["fundingOutputs"] = (blocks) =>
    Effect.gen(function* () {
      const hashes = yield* Effect.flatMap(
        batch("getblockhash", blocks.map((b) => ({ method: "getblockhash", params: [b.height] }))),
        (r) => values("getblockhash", r, [-8])
      )
      const known = blocks.flatMap((_, i) => (typeof hashes[i] === "string" ? [i] : []))
      const bodies = yield* Effect.flatMap(
        batch("getblock", known.map((i) => ({ method: "getblock", params: [hashes[i], 1] }))),
        (r) => values("getblock", r, [-5])
      )
      const txidsOf: Array<ReadonlyArray<unknown> | undefined> = blocks.map(() => undefined)
      for (const [k, i] of known.entries()) {
        const body = bodies[k]
        if (body === undefined) continue
        if (!isRecord(body) || !Array.isArray(body.tx)) return yield* Effect.fail(bad("getblock", "no tx list"))
        txidsOf[i] = body.tx
      }
      // every output the refs name in a block we have, one gettxout each
      const wanted: Array<
        { readonly block: number; readonly ref: number; readonly txid: string; readonly vout: number }
      > = []
      blocks.forEach((b, i) =>
        b.refs.forEach((r, k) => {
          const txid = txidsOf[i]?.[r.txIndex]
          if (typeof txid === "string") wanted.push({ block: i, ref: k, txid, vout: r.outputIndex })
        })
      )
      const utxos = yield* Effect.flatMap(
        batch("gettxout", wanted.map((w) => ({ method: "gettxout", params: [w.txid, w.vout, false] }))),
        (r) => values("gettxout", r, [])
      )
      const found: Array<Array<FundingOutput | undefined>> = blocks.map((b) => b.refs.map(() => undefined))
      const gone: Array<(typeof wanted)[number]> = []
      wanted.forEach((w, j) => {
        const utxo = utxos[j]
        const out = utxo === null || utxo === undefined ? undefined : outputOfRaw(w.txid, utxo)
        if (out === undefined) gone.push(w)
        else found[w.block][w.ref] = { ...out, spent: false }
      })
      // null from gettxout: spent or never there; the transaction itself tells which (and gives the script)
      const raws = yield* Effect.flatMap(
        batch(
          "getrawtransaction",
          gone.map((w) => ({ method: "getrawtransaction", params: [w.txid, true, hashes[w.block]] }))
        ),
        (r) => values("getrawtransaction", r, [-5])
      )
      gone.forEach((w, j) => {
        const tx = raws[j]
        const out = isRecord(tx) && Array.isArray(tx.vout) ? outputOfRaw(w.txid, tx.vout[w.vout]) : undefined
        if (out !== undefined) found[w.block][w.ref] = { ...out, spent: true }
      })
      return found
    })

  return {
    kind: "bitcoind",
    blocksPerCall: config.blocksPerCall ?? 32,
    tipHeight: Effect.flatMap(
      call("getblockcount", "getblockcount", []),
      (r) =>
        Effect.flatMap(
          value("getblockcount", r),
          (v) => typeof v === "number" ? Effect.succeed(v) : Effect.fail(bad("getblockcount", `got ${String(v)}`))
        )
    ),
    // the startup probe's network check: `getblockhash 0`, the genesis block
    genesisHash: Effect.flatMap(
      call("getblockhash", "getblockhash", [0]),
      (r) => Effect.flatMap(value("getblockhash", r), (v) => blockHashHex("getblockhash", v))
    ),
    fundingOutputs,
    spentInBlock: (height) =>
      Effect.map(blockAt(height), (txs) => {
        const spent: Array<string> = []
        for (const tx of txs ?? []) {
          if (!isRecord(tx) || !Array.isArray(tx.vin)) continue
          for (const input of tx.vin) {
            if (isRecord(input) && typeof input.txid === "string" && typeof input.vout === "number") {
              spent.push(`${input.txid}:${input.vout}`)
            }
          }
        }
        return spent
      })
  }
}

/** The backend over the platform's fetch client, for a caller that probes it before use (`ChainSourceConfig.layer`). */
export const backend = (config: BitcoindConfig): Effect.Effect<ProbedBackend> =>
  Effect.map(HttpClient.HttpClient, (client) => makeBackend(client, config)).pipe(Effect.provide(FetchHttpClient.layer))

/** A bitcoind chain source over the ambient HttpClient. */
export const layerWithClient = (config: BitcoindConfig): Layer.Layer<ChainSource, never, HttpClient.HttpClient> =>
  Layer.effect(
    ChainSource,
    Effect.map(HttpClient.HttpClient, (client) => fromBackend(makeBackend(client, config), config))
  )

/** A bitcoind chain source over the platform's fetch client. */
export const layer = (config: BitcoindConfig): Layer.Layer<ChainSource> =>
  layerWithClient(config).pipe(Layer.provide(FetchHttpClient.layer))
