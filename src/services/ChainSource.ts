/**
 * ChainSource: what the pipeline asks the blockchain about a channel_announcement. BOLT 7: the funding output
 * named by `short_channel_id` must be an unspent P2WSH paying to the 2-of-2 of `bitcoin_key_1`/`bitcoin_key_2`.
 *
 * Trust model. `layerNone` (the default) looks at no chain: an announcement is stored when its four signatures
 * hold, so anyone with four fresh keys can announce a channel that does not exist. A chain source built with
 * `fromBackend` over a `ChainBackend` (`src/layers/chain/`: Esplora REST, bitcoind JSON-RPC) checks the output and
 * reports its value (the channel's capacity), and it can follow the tip (`tipHeight`, `spentInBlock`) so spent
 * channels are noticed (BOLT 7: forget them 72 blocks after the spend).
 *
 * `fromBackend` holds what every backend shares: one lookup per block for all the announcements of that block,
 * many blocks per backend call where the API allows (bitcoind's JSON-RPC batches), calls made with bounded
 * concurrency, retries with capped exponential backoff while the backend is unavailable, and the BOLT 3 funding
 * script built here once.
 */
import { createHash } from "node:crypto"
import { Context, Data, Effect, Layer, Schedule } from "effect"
import type { Duration } from "effect"
import { compareBytes } from "../domain/Bytes.js"
import { toHex } from "../domain/Hex.js"
import type { ChannelAnnouncement, PublicKey } from "../domain/Messages.js"
import * as Scid from "../domain/ShortChannelId.js"

export type FundingCheck =
  /** The source does not look at the chain (the "none" source): the signatures are all we have. */
  | { readonly _tag: "Unchecked" }
  /** `fundingTxid`: hex, as block explorers print it (set by chain-backed sources, for spend tracking). */
  | { readonly _tag: "Valid"; readonly capacitySat: bigint; readonly fundingTxid?: string | undefined }
  /**
   * Output missing, spent, not P2WSH, or not the announced keys' 2-of-2: BOLT 7 says ignore the message.
   * `spent`: the output existed and matched but is spent — a peer that has not seen the close yet is not at fault.
   */
  | { readonly _tag: "Invalid"; readonly reason: string; readonly spent?: boolean | undefined }

/** The source itself failed (backend unreachable): not the peer's fault, so it costs the peer nothing. */
export class ChainSourceError extends Data.TaggedError("ChainSourceError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

/** The backend could not be reached or answered with a server error or a timeout: retried with backoff. */
export class ChainSourceUnavailable extends Data.TaggedError("ChainSourceUnavailable")<{
  readonly operation: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `chain source unavailable (${this.operation}): ${String(this.cause)}`
  }
}

/** The backend answered something we cannot read (wrong network, wrong API, a bug): not retried. */
export class ChainSourceBadResponse extends Data.TaggedError("ChainSourceBadResponse")<{
  readonly operation: string
  readonly detail: string
}> {
  override get message(): string {
    return `chain source answered unexpectedly (${this.operation}): ${this.detail}`
  }
}

export type ChainSourceFailure = ChainSourceError | ChainSourceUnavailable | ChainSourceBadResponse

export interface ChainSourceService {
  /**
   * "none": no chain backend (signatures only); otherwise the backend's name. A chain-backed source is asked
   * asynchronously (the pipeline holds announcements while it answers); absent (a custom source) is asked inline.
   */
  readonly kind?: "none" | "esplora" | "bitcoind" | undefined
  /** One result per announcement, in order. Only called for announcements whose four signatures are valid. */
  readonly checkFunding: (
    announcements: ReadonlyArray<ChannelAnnouncement>
  ) => Effect.Effect<ReadonlyArray<FundingCheck>, ChainSourceFailure>
  /** The chain tip's height; undefined for the "none" source. */
  readonly tipHeight?: Effect.Effect<number, ChainSourceFailure> | undefined
  /** Outpoints (`txid:vout`) spent by the block at `height`'s transactions; undefined for the "none" source. */
  readonly spentInBlock?: ((height: number) => Effect.Effect<ReadonlyArray<string>, ChainSourceFailure>) | undefined
  /**
   * How the pipeline asks this source off its validating fiber (set by `fromBackend`): absent, the check runs
   * inline in each batch (the "none" source answers at once; a test double may too).
   */
  readonly asyncCheck?: AsyncCheckOptions | undefined
}

/**
 * The pipeline's asynchronous funding check (issue 15): announcements whose signatures hold wait in a queue of at
 * most `pendingLimit` announcements (~0.5 KB each: the default holds ~2 MB) while `workers` fibers ask the source;
 * when the queue is full the validator waits, which is the backpressure that reaches peers. Invalid results are
 * remembered for `negativeTtlMillis` (at most `negativeLimit` of them); valid ones are in the store. While the
 * source is unavailable a check is retried after `retryBase`, doubling, capped at `retryCap`, without end: a
 * pending announcement is never dropped for our source's sake.
 */
export interface AsyncCheckOptions {
  readonly pendingLimit: number
  readonly workers: number
  /** Announcements one worker hands the source at once (the source batches them per block). */
  readonly chunk: number
  readonly negativeTtlMillis: number
  readonly negativeLimit: number
  readonly retryBase: Duration.DurationInput
  readonly retryCap: Duration.DurationInput
}

/**
 * Defaults. 4 workers × 256 announcements: a sync parks thousands of announcements at once, and with a batching
 * backend each worker's chunk costs a handful of requests (bitcoind: 3 per 32 blocks), so more of them in flight
 * hide the round trips; at most 4 × 256 = 1024 announcements (~0.5 MB) are in the workers' hands.
 */
export const defaultAsyncCheck: AsyncCheckOptions = {
  pendingLimit: 4096,
  workers: 4,
  chunk: 256,
  negativeTtlMillis: 10 * 60 * 1000,
  negativeLimit: 65_536,
  retryBase: "1 second",
  retryCap: "1 minute"
}

export class ChainSource extends Context.Tag("lnsync/ChainSource")<ChainSource, ChainSourceService>() {}

const UNCHECKED: FundingCheck = { _tag: "Unchecked" }

/** The default source: no chain backend, every announcement is `Unchecked` (its signatures are trusted). */
export const layerNone: Layer.Layer<ChainSource> = Layer.succeed(ChainSource, {
  kind: "none",
  checkFunding: (announcements) => Effect.succeed(announcements.map(() => UNCHECKED))
})

/** How `lnsync stats` and the README state a source's trust model. */
export const trustModel = (kind: ChainSourceService["kind"]): string =>
  kind === "none" || kind === undefined
    ? "none: signatures only (funding outputs unchecked; a channel that does not exist on chain can be stored)"
    : `${kind}: funding outputs checked on chain (BOLT 7), spent channels forgotten 72 blocks after the spend`

// ---------------------------------------------------------------------------------------------------------------
// BOLT 3 funding script

/**
 * BOLT 3 funding output script: `2 <pubkey1> <pubkey2> 2 OP_CHECKMULTISIG`, the two bitcoin keys in lexicographic
 * order of their compressed serialisation.
 */
export const fundingScript = (key1: PublicKey, key2: PublicKey): Uint8Array => {
  const [a, b] = compareBytes(key1, key2) <= 0 ? [key1, key2] : [key2, key1]
  const out = new Uint8Array(71)
  out[0] = 0x52 // OP_2
  out[1] = 0x21
  out.set(a, 2)
  out[35] = 0x21
  out.set(b, 36)
  out[69] = 0x52 // OP_2
  out[70] = 0xae // OP_CHECKMULTISIG
  return out
}

/** P2WSH scriptPubKey of a witness script: `OP_0 <sha256(script)>` (BIP 141). */
export const p2wsh = (script: Uint8Array): Uint8Array => {
  const out = new Uint8Array(34)
  out[0] = 0x00
  out[1] = 0x20
  out.set(createHash("sha256").update(script).digest(), 2)
  return out
}

/** The scriptPubKey a channel_announcement's funding output must have (BOLT 7). */
export const expectedFundingScriptPubKey = (ann: ChannelAnnouncement): Uint8Array =>
  p2wsh(fundingScript(ann.bitcoinKey1, ann.bitcoinKey2))

// ---------------------------------------------------------------------------------------------------------------
// Backends

/** One transaction output as a backend reports it. */
export interface ChainOutput {
  readonly txid: string
  readonly scriptPubKey: Uint8Array
  readonly valueSat: bigint
}

/** A funding output as a backend reports it: the output and whether a confirmed transaction spends it. */
export interface FundingOutput extends ChainOutput {
  readonly spent: boolean
}

/** Where in a block an output is: the scid's transaction index and output index. */
export interface OutputRef {
  readonly txIndex: number
  readonly outputIndex: number
}

/** The outputs wanted from one block. */
export interface BlockRefs {
  readonly height: number
  readonly refs: ReadonlyArray<OutputRef>
}

/** The few chain reads a backend offers (Esplora REST, bitcoind JSON-RPC, a test double). */
export interface ChainBackend {
  readonly kind: "esplora" | "bitcoind"
  /**
   * Blocks one `fundingOutputs` call should carry: as many as the backend answers in one round of requests
   * (bitcoind: a JSON-RPC batch carries any number of calls; Esplora: one block, its API has no batches).
   */
  readonly blocksPerCall: number
  readonly tipHeight: Effect.Effect<number, ChainSourceUnavailable | ChainSourceBadResponse>
  /**
   * For each block, the outputs its `refs` name, in order, each with whether it is spent; undefined where block,
   * transaction or output is missing.
   */
  readonly fundingOutputs: (
    blocks: ReadonlyArray<BlockRefs>
  ) => Effect.Effect<
    ReadonlyArray<ReadonlyArray<FundingOutput | undefined>>,
    ChainSourceUnavailable | ChainSourceBadResponse
  >
  /** The outpoints (`txid:vout`) the block at `height` spends (coinbase inputs left out). */
  readonly spentInBlock: (
    height: number
  ) => Effect.Effect<ReadonlyArray<string>, ChainSourceUnavailable | ChainSourceBadResponse>
}

export interface ChainSourceOptions {
  /**
   * Backend calls in flight at once per `checkFunding` (default 4); each call carries up to `blocksPerCall`
   * blocks. With the pipeline's workers, at most `workers × concurrency × blocksPerCall` blocks are looked up
   * at once (defaults: bitcoind 4 × 4 × 32 = 512 blocks in 16 HTTP requests; Esplora 4 × 4 × 1 = 16 blocks).
   */
  readonly concurrency?: number | undefined
  /** Blocks per backend call (default: the backend's `blocksPerCall`; at least 1, at most 256). */
  readonly blocksPerCall?: number | undefined
  /** Retries of an unavailable backend per lookup (default 4), after `retryBase`, doubling, capped at `retryCap`. */
  readonly retries?: number | undefined
  readonly retryBase?: Duration.DurationInput | undefined
  readonly retryCap?: Duration.DurationInput | undefined
  /** The pipeline's asynchronous check (see `AsyncCheckOptions`; defaults `defaultAsyncCheck`). */
  readonly asyncCheck?: Partial<AsyncCheckOptions> | undefined
}

/** Only an unreachable backend is worth asking again; a response we cannot read stays unreadable. */
const withRetries = <A, R>(
  options: ChainSourceOptions,
  effect: Effect.Effect<A, ChainSourceUnavailable | ChainSourceBadResponse, R>
): Effect.Effect<A, ChainSourceUnavailable | ChainSourceBadResponse, R> =>
  Effect.retry(effect, {
    schedule: Schedule.exponential(options.retryBase ?? "200 millis").pipe(
      Schedule.union(Schedule.spaced(options.retryCap ?? "30 seconds")),
      Schedule.jittered
    ),
    times: options.retries ?? 4,
    while: (e) => e._tag === "ChainSourceUnavailable"
  })

/** BOLT 7's verdict on one announcement given what the backend found at its scid. */
const verdict = (a: ChannelAnnouncement, out: FundingOutput | undefined): FundingCheck => {
  if (out === undefined) return { _tag: "Invalid", reason: `no output ${Scid.format(a.shortChannelId)} on chain` }
  if (compareBytes(out.scriptPubKey, expectedFundingScriptPubKey(a)) !== 0) {
    return {
      _tag: "Invalid",
      reason: `output ${Scid.format(a.shortChannelId)} is not the 2-of-2 P2WSH of its bitcoin keys`
    }
  }
  if (out.spent) {
    return { _tag: "Invalid", reason: `output ${out.txid}:${Scid.outputIndex(a.shortChannelId)} is spent`, spent: true }
  }
  return { _tag: "Valid", capacitySat: out.valueSat, fundingTxid: out.txid }
}

const MAX_BLOCKS_PER_CALL = 256

/**
 * The BOLT 7 funding check over a backend: announcements grouped by the scid's block (one lookup per block), the
 * blocks grouped `blocksPerCall` to a backend call (bitcoind: one JSON-RPC batch per step for all of them), calls
 * made `concurrency` at a time, each retried while the backend is unavailable.
 */
export const fromBackend = (backend: ChainBackend, options: ChainSourceOptions = {}): ChainSourceService => {
  const perCall = Math.max(1, Math.min(MAX_BLOCKS_PER_CALL, Math.floor(options.blocksPerCall ?? backend.blocksPerCall)))
  return {
    kind: backend.kind,
    checkFunding: (announcements) =>
      Effect.gen(function* () {
        const byBlock = new Map<number, Array<number>>()
        announcements.forEach((a, i) => {
          const h = Scid.blockHeight(a.shortChannelId)
          const list = byBlock.get(h)
          if (list === undefined) byBlock.set(h, [i])
          else list.push(i)
        })
        const blocks = [...byBlock]
        const calls: Array<typeof blocks> = []
        for (let i = 0; i < blocks.length; i += perCall) calls.push(blocks.slice(i, i + perCall))
        const out: Array<FundingCheck> = new Array(announcements.length)
        yield* Effect.forEach(
          calls,
          (call) => {
            const request = call.map(([height, at]) => ({
              height,
              refs: at.map((i) => ({
                txIndex: Scid.txIndex(announcements[i].shortChannelId),
                outputIndex: Scid.outputIndex(announcements[i].shortChannelId)
              }))
            }))
            return Effect.map(withRetries(options, backend.fundingOutputs(request)), (found) => {
              call.forEach(([, at], b) => at.forEach((i, k) => (out[i] = verdict(announcements[i], found[b]?.[k]))))
            })
          },
          { concurrency: options.concurrency ?? 4, discard: true }
        )
        return out
      }),
    asyncCheck: { ...defaultAsyncCheck, ...options.asyncCheck },
    tipHeight: withRetries(options, backend.tipHeight),
    spentInBlock: (height) => withRetries(options, backend.spentInBlock(height))
  }
}

/** A chain source over `backend` (see `fromBackend`). */
export const layerFromBackend = (backend: ChainBackend, options: ChainSourceOptions = {}): Layer.Layer<ChainSource> =>
  Layer.succeed(ChainSource, fromBackend(backend, options))

/** `txid:vout`, the key spend tracking compares outpoints by. */
export const outpointKey = (txid: string, vout: number): string => `${txid}:${vout}`

/** Hex of a script, for messages. */
export const scriptHex = (script: Uint8Array): string => toHex(script)
