/**
 * The chain source an operator names: `none` (the default: signatures only), `esplora:<url>` or `bitcoind:<url>`
 * (`--chain-source`, `LNSYNC_CHAIN_SOURCE`). bitcoind credentials come from the URL (`http://user:pass@host:8332`),
 * `LNSYNC_BITCOIND_USER`/`LNSYNC_BITCOIND_PASSWORD`, or the cookie file `LNSYNC_BITCOIND_COOKIE`.
 */
import { Config, ConfigError, Data, Duration, Effect, Either, Layer } from "effect"
import * as Chain from "../../domain/Chain.js"
import { fromHex, toHex } from "../../domain/Hex.js"
import type { ChainHash } from "../../domain/Messages.js"
import type { ChainSourceOptions } from "../../services/ChainSource.js"
import { ChainSource, ChainSourceUnavailable, fromBackend, layerNone } from "../../services/ChainSource.js"
import { loadModule, maskedUrl } from "../loading.js"
import type { ProbedBackend } from "./http.js"

export type ChainSourceSpec =
  | { readonly kind: "none" }
  | { readonly kind: "esplora"; readonly url: string }
  | {
    readonly kind: "bitcoind"
    readonly url: string
    readonly user?: string | undefined
    readonly password?: string | undefined
    readonly cookieFile?: string | undefined
  }

export const parseChainSource = (text: string): Either.Either<ChainSourceSpec, string> => {
  const t = text.trim()
  if (t === "" || t === "none") return Either.right({ kind: "none" })
  const m = /^(esplora|bitcoind):(.+)$/.exec(t)
  if (m === null) return Either.left(`a chain source is none, esplora:<url> or bitcoind:<url>, got ${text}`)
  try {
    new URL(m[2])
  } catch {
    return Either.left(`not a URL: ${m[2]}`)
  }
  return Either.right({ kind: m[1] as "esplora" | "bitcoind", url: m[2] })
}

export interface BitcoindCredentials {
  readonly user?: string | undefined
  readonly password?: string | undefined
  readonly cookieFile?: string | undefined
}

/** `LNSYNC_BITCOIND_USER`/`PASSWORD`/`COOKIE` (nested under `LNSYNC` by the caller). */
export const credentials: Config.Config<BitcoindCredentials> = Config.all({
  user: Config.option(Config.string("BITCOIND_USER")),
  password: Config.option(Config.string("BITCOIND_PASSWORD")),
  cookieFile: Config.option(Config.string("BITCOIND_COOKIE"))
}).pipe(
  Config.map(({ cookieFile, password, user }) => ({
    user: user._tag === "Some" ? user.value : undefined,
    password: password._tag === "Some" ? password.value : undefined,
    cookieFile: cookieFile._tag === "Some" ? cookieFile.value : undefined
  }))
)

/**
 * A bitcoind source with the environment's credentials, however it was named: `--chain-source bitcoind:<url>` on
 * the command line takes them from the environment just as `LNSYNC_CHAIN_SOURCE` does.
 */
export const withCredentials = (spec: ChainSourceSpec, creds: BitcoindCredentials): ChainSourceSpec =>
  spec.kind === "bitcoind" ? { ...spec, ...creds } : spec

/** `LNSYNC_CHAIN_SOURCE` and the bitcoind credentials (nested under `LNSYNC` by the caller). */
export const config: Config.Config<ChainSourceSpec> = Config.all({
  spec: Config.string("CHAIN_SOURCE").pipe(
    Config.withDefault("none"),
    Config.mapOrFail((t) => Either.mapLeft(parseChainSource(t), (e) => ConfigError.InvalidData(["CHAIN_SOURCE"], e)))
  ),
  creds: credentials
}).pipe(Config.map(({ creds, spec }) => withCredentials(spec, creds)))

/**
 * How messages and logs name a source: `bitcoind:<url>` with the URL's password masked (as `displayUrl` does for a
 * PostgreSQL URL), so an operator sees which source failed and never its credentials.
 */
export const displaySource = (spec: ChainSourceSpec): string => {
  if (spec.kind === "none") return "none"
  const masked = maskedUrl(spec.url)
  return masked === undefined ? `the ${spec.kind} chain source` : `${spec.kind}:${masked}`
}

/** A backend's answer as one short line: an error page or a JSON body must not spread over the terminal. */
const oneLine = (text: string): string => {
  const flat = text.replace(/\s+/g, " ").trim()
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat
}

/**
 * The chain source answered its startup probe with something that will never work (refused credentials, not the
 * API its kind says, a broken answer): `ChainSourceBadResponse` is not retried, so a node that carried on would drop
 * every announcement and report a sync of nothing. Refused at start instead (the house rule: a failure the
 * operator must know about reaches the exit code). `source` is `displaySource`: no credentials.
 */
export class ChainSourceStartupError extends Data.TaggedError("ChainSourceStartupError")<{
  readonly source: string
  readonly operation: string
  readonly detail: string
}> {
  override get message(): string {
    return `chain source ${this.source} unusable (${this.operation}): ${oneLine(this.detail)}`
  }
}

/** The startup probe's own bound: a hung backend should not hold the node's start for the backend's 30 s timeout. */
export const PROBE_TIMEOUT: Duration.Duration = Duration.seconds(10)

/** A chain hash (internal byte order) as bitcoind and Esplora show a block hash: reversed, in hex. */
const reversedHex = (bytes: Uint8Array): string => toHex(Uint8Array.from(bytes).reverse())

/**
 * Whether block 0 of the source (`genesis`, hex as bitcoind/Esplora show it) is the genesis block of `chain` (BOLT 7
 * `chain_hash`: the same hash, internal byte order); undefined when it is, else the detail naming both networks (or,
 * for a chain not known here, both hashes).
 */
export const wrongNetwork = (genesis: string, chain: ChainHash): string | undefined => {
  const sourceHash = Uint8Array.from(fromHex(genesis)).reverse()
  if (Chain.sameChain(sourceHash, chain)) return undefined
  const theirs = Chain.chainName(sourceHash)
  const ours = Chain.chainName(chain)
  return theirs !== undefined
    ? `on ${theirs}, the node syncs ${ours ?? reversedHex(chain)}`
    : `block 0 is ${genesis}, ${ours ?? "the node's chain"}'s is ${reversedHex(chain)}`
}

/**
 * Asks `backend` its tip and its genesis block once, unretried, before the node uses it. A response that cannot be
 * read, or a genesis block of another chain than `chain` (a `--chain mainnet` node over a testnet bitcoind would
 * find every funding output "missing" and drop every announcement), is a `ChainSourceStartupError`. An
 * unreachable backend (down, restarting, too slow) is only a warning: the funding checks and the chain watcher
 * retry it, and a node restarting beside a restarting bitcoind should not die.
 */
export const probe = (
  source: string,
  backend: ProbedBackend,
  chain: ChainHash,
  timeout: Duration.DurationInput = PROBE_TIMEOUT
): Effect.Effect<void, ChainSourceStartupError> =>
  Effect.all([backend.tipHeight, backend.genesisHash]).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () =>
        new ChainSourceUnavailable({ operation: "tip height", cause: `no answer within ${Duration.format(timeout)}` })
    }),
    Effect.matchEffect({
      onSuccess: ([height, genesis]) => {
        const wrong = wrongNetwork(genesis, chain)
        return wrong === undefined
          ? Effect.logInfo(`chain source ${source}: tip at height ${height}`)
          : Effect.fail(new ChainSourceStartupError({ source, operation: "network", detail: wrong }))
      },
      onFailure: (e) =>
        e._tag === "ChainSourceBadResponse"
          ? Effect.fail(new ChainSourceStartupError({ source, operation: e.operation, detail: e.detail }))
          : Effect.logWarning(
            `chain source ${source} unavailable at startup (${e.operation}: ${
              oneLine(String(e.cause))
            }); carrying on, funding checks and the chain watcher retry it`
          )
    })
  )

/** The ChainSource over `backend`, built once `probe` passed. */
const probed = (
  spec: ChainSourceSpec,
  chain: ChainHash,
  backend: Effect.Effect<ProbedBackend>,
  options: ChainSourceOptions = {}
): Layer.Layer<ChainSource, ChainSourceStartupError> =>
  Layer.effect(
    ChainSource,
    Effect.gen(function* () {
      const b = yield* backend
      yield* probe(displaySource(spec), b, chain)
      return fromBackend(b, options)
    })
  )

/**
 * The ChainSource layer a spec names; a backend's module loads when the layer is built, and the backend is probed
 * once (`probe`) before anything asks it: a source that answers nonsense, or is on another network than `chain` (the
 * node's), fails the build with `ChainSourceStartupError`.
 */
export const layer = (spec: ChainSourceSpec, chain: ChainHash): Layer.Layer<ChainSource, ChainSourceStartupError> =>
  spec.kind === "esplora"
    ? Layer.unwrapEffect(
      Effect.map(
        loadModule("the Esplora chain source (layers/chain/Esplora)", () => import("./Esplora.js")),
        (Esplora) => probed(spec, chain, Esplora.backend({ url: spec.url }))
      )
    )
    : spec.kind === "bitcoind"
    ? Layer.unwrapEffect(
      Effect.map(
        loadModule("the bitcoind chain source (layers/chain/Bitcoind)", () => import("./Bitcoind.js")),
        (Bitcoind) => probed(spec, chain, Bitcoind.backend(spec))
      )
    )
    : layerNone
