/**
 * The chain source an operator names: `none` (the default: signatures only), `esplora:<url>` or `bitcoind:<url>`
 * (`--chain-source`, `LNSYNC_CHAIN_SOURCE`). bitcoind credentials come from the URL (`http://user:pass@host:8332`),
 * `LNSYNC_BITCOIND_USER`/`LNSYNC_BITCOIND_PASSWORD`, or the cookie file `LNSYNC_BITCOIND_COOKIE`.
 */
import { Config, ConfigError, Effect, Either, Layer } from "effect"
import type { ChainSource } from "../../services/ChainSource.js"
import { layerNone } from "../../services/ChainSource.js"

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
 * A backend's module, loaded when its layer is built (issue 18: Esplora, bitcoind and @effect/platform's HTTP client
 * cost ~0.04 CPU-seconds and ~4 MB at start, unbundled, that `--chain-source none`, the default, never uses). A module that cannot load is
 * a broken install, not a chain source that is down: a defect naming it.
 */
const loadBackend = <M>(what: string, load: () => Promise<M>): Effect.Effect<M> =>
  Effect.tryPromise({
    try: load,
    catch: (cause) =>
      new Error(`cannot load ${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
  }).pipe(Effect.orDie)

/** The ChainSource layer a spec names; a backend's module loads when the layer is built. */
export const layer = (spec: ChainSourceSpec): Layer.Layer<ChainSource> =>
  spec.kind === "esplora"
    ? Layer.unwrapEffect(
      Effect.map(
        loadBackend("the Esplora chain source (layers/chain/Esplora)", () => import("./Esplora.js")),
        (Esplora) => Esplora.layer({ url: spec.url })
      )
    )
    : spec.kind === "bitcoind"
    ? Layer.unwrapEffect(
      Effect.map(
        loadBackend("the bitcoind chain source (layers/chain/Bitcoind)", () => import("./Bitcoind.js")),
        (Bitcoind) => Bitcoind.layer(spec)
      )
    )
    : layerNone
