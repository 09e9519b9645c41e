/**
 * ChainSource over an Esplora REST API (Blockstream's esplora/electrs, mempool.space; self-hosted or public). The
 * API has no batches, so per block as few requests as it allows: `/block-height/:h` (hash), then
 * `/block/:hash/txs/:start` for each page of 25 transactions holding a funding transaction (outputs included: no
 * `/block/:hash/txids` list nor `/tx/:txid` per transaction), then `/tx/:txid/outspend/:vout` per output found. Following the tip:
 * `/blocks/tip/height`, and a block's inputs from `/block/:hash/txs/:start` (25 transactions a page).
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Effect, Layer } from "effect"
import type { Duration } from "effect"
import { fromHex } from "../../domain/Hex.js"
import type { BlockRefs, ChainOutput, ChainSourceOptions, FundingOutput } from "../../services/ChainSource.js"
import { ChainSource, fromBackend } from "../../services/ChainSource.js"
import { bad, blockHashHex, type ChainHttpError, isRecord, parseJson, type ProbedBackend, send } from "./http.js"

export interface EsploraConfig extends ChainSourceOptions {
  /** Base URL of the API, e.g. `https://blockstream.info/api` (no trailing slash needed). */
  readonly url: string
  /** Per request (default 10 s). */
  readonly timeout?: Duration.DurationInput | undefined
  /** Requests in flight at once within one block's lookup (default 8). */
  readonly requestConcurrency?: number | undefined
}

/** Esplora's page size for `/block/:hash/txs/:start`. */
const TXS_PAGE = 25

/** The backend over `client`. */
export const makeBackend = (client: HttpClient.HttpClient, config: EsploraConfig): ProbedBackend => {
  const base = config.url.replace(/\/+$/, "")
  const timeout = config.timeout ?? "10 seconds"
  const concurrency = config.requestConcurrency ?? 8
  /** GET `path`: its body, or undefined on 404. */
  const get = (operation: string, path: string): Effect.Effect<string | undefined, ChainHttpError> =>
    Effect.flatMap(
      send(client, operation, HttpClientRequest.get(`${base}${path}`), timeout),
      (a) =>
        a.status === 404 || a.status === 400
          ? Effect.succeed(undefined)
          : a.status >= 200 && a.status < 300
          ? Effect.succeed(a.text)
          : Effect.fail(bad(operation, `HTTP ${a.status} for ${path}`))
    )
  const getJson = (operation: string, path: string) =>
    Effect.flatMap(
      get(operation, path),
      (text) => (text === undefined ? Effect.succeed(undefined) : parseJson(operation, text))
    )

  const blockHash = (height: number) =>
    Effect.map(get("block-height", `/block-height/${height}`), (t) => (t === undefined ? undefined : t.trim()))

  const txids = (hash: string) =>
    Effect.flatMap(getJson("block txids", `/block/${hash}/txids`), (v) =>
      v === undefined
        ? Effect.succeed(undefined)
        : Array.isArray(v) && v.every((x) => typeof x === "string")
        ? Effect.succeed(v as ReadonlyArray<string>)
        : Effect.fail(bad("block txids", "not a list of txids")))

  /** A page of a block's transactions (`/block/:hash/txs/:start`, `start` a multiple of 25); undefined past the end. */
  const page = (hash: string, start: number) =>
    Effect.flatMap(getJson("block txs", `/block/${hash}/txs/${start}`), (v) =>
      v === undefined || Array.isArray(v)
        ? Effect.succeed(v as ReadonlyArray<unknown> | undefined)
        : Effect.fail(bad("block txs", `unreadable page ${start} of block ${hash}`)))

  const outputOf = (tx: unknown, vout: number): Effect.Effect<ChainOutput | undefined, ChainHttpError> => {
    if (tx === undefined) return Effect.succeed(undefined)
    if (!isRecord(tx) || typeof tx.txid !== "string" || !Array.isArray(tx.vout)) {
      return Effect.fail(bad("block txs", "unreadable tx"))
    }
    const txid = tx.txid
    const out: unknown = tx.vout[vout]
    if (out === undefined) return Effect.succeed(undefined)
    if (!isRecord(out) || typeof out.scriptpubkey !== "string" || typeof out.value !== "number") {
      return Effect.fail(bad("tx", `unreadable output ${txid}:${vout}`))
    }
    return Effect.succeed({ txid, scriptPubKey: fromHex(out.scriptpubkey), valueSat: BigInt(out.value) })
  }

  const spent = (o: ChainOutput, vout: number) =>
    Effect.flatMap(
      getJson("outspend", `/tx/${o.txid}/outspend/${vout}`),
      (v) =>
        isRecord(v) && typeof v.spent === "boolean"
          ? Effect.succeed(v.spent)
          : Effect.fail(bad("outspend", `unreadable outspend of ${o.txid}:${vout}`))
    )

  const blockOutputs = (block: BlockRefs) =>
    Effect.gen(function* () {
      const hash = yield* blockHash(block.height)
      if (hash === undefined) return block.refs.map(() => undefined)
      const starts = [...new Set(block.refs.map((r) => r.txIndex - (r.txIndex % TXS_PAGE)))]
      const pages = new Map<number, ReadonlyArray<unknown> | undefined>()
      yield* Effect.forEach(starts, (start) => Effect.map(page(hash, start), (p) => pages.set(start, p)), {
        concurrency,
        discard: true
      })
      return yield* Effect.forEach(
        block.refs,
        (r): Effect.Effect<FundingOutput | undefined, ChainHttpError> =>
          Effect.flatMap(
            outputOf(pages.get(r.txIndex - (r.txIndex % TXS_PAGE))?.[r.txIndex % TXS_PAGE], r.outputIndex),
            (o) =>
              o === undefined
                ? Effect.succeed(undefined)
                : Effect.map(spent(o, r.outputIndex), (s) => ({ ...o, spent: s }))
          ),
        { concurrency }
      )
    })

  return {
    kind: "esplora",
    // what the startup probe asks (ChainSourceConfig.probe): its detail must tell a wrong URL from a broken answer
    tipHeight: Effect.flatMap(get("tip height", "/blocks/tip/height"), (t) => {
      if (t === undefined) return Effect.fail(bad("tip height", "no /blocks/tip/height here: not an Esplora API"))
      const n = Number(t.trim())
      return /^\d+$/.test(t.trim()) && Number.isSafeInteger(n)
        ? Effect.succeed(n)
        : Effect.fail(bad("tip height", `not a block height: ${JSON.stringify(t.slice(0, 60))}`))
    }),
    // the startup probe's network check: `/block-height/0`, the genesis block
    genesisHash: Effect.flatMap(
      blockHash(0),
      (h) =>
        h === undefined
          ? Effect.fail(bad("block-height", "no /block-height/0 here: not an Esplora API"))
          : blockHashHex("block-height", h)
    ),
    blocksPerCall: 1,
    fundingOutputs: (blocks) => Effect.forEach(blocks, blockOutputs),
    spentInBlock: (height) =>
      Effect.gen(function* () {
        const hash = yield* blockHash(height)
        if (hash === undefined) return []
        const ids = yield* txids(hash)
        if (ids === undefined) return []
        const starts = Array.from({ length: Math.ceil(ids.length / TXS_PAGE) }, (_, i) => i * TXS_PAGE)
        const pages = yield* Effect.forEach(starts, (start) => getJson("block txs", `/block/${hash}/txs/${start}`), {
          concurrency
        })
        const spent: Array<string> = []
        for (const page of pages) {
          if (!Array.isArray(page)) return yield* Effect.fail(bad("block txs", `unreadable page of block ${hash}`))
          for (const tx of page) {
            if (!isRecord(tx) || !Array.isArray(tx.vin)) continue
            for (const input of tx.vin) {
              if (!isRecord(input) || input.is_coinbase === true) continue
              if (typeof input.txid === "string" && typeof input.vout === "number") {
                spent.push(`${input.txid}:${input.vout}`)
              }
            }
          }
        }
        return spent
      })
  }
}

/** The backend over the platform's fetch client, for a caller that probes it before use (`ChainSourceConfig.layer`). */
export const backend = (config: EsploraConfig): Effect.Effect<ProbedBackend> =>
  Effect.map(HttpClient.HttpClient, (client) => makeBackend(client, config)).pipe(Effect.provide(FetchHttpClient.layer))

/** An Esplora chain source over the ambient HttpClient. */
export const layerWithClient = (config: EsploraConfig): Layer.Layer<ChainSource, never, HttpClient.HttpClient> =>
  Layer.effect(
    ChainSource,
    Effect.map(HttpClient.HttpClient, (client) => fromBackend(makeBackend(client, config), config))
  )

/** An Esplora chain source over the platform's fetch client. */
export const layer = (config: EsploraConfig): Layer.Layer<ChainSource> =>
  layerWithClient(config).pipe(Layer.provide(FetchHttpClient.layer))
