/**
 * The chain source an operator names: `none` (the default: signatures only), `esplora:<url>` or `bitcoind:<url>`
 * (`--chain-source`, `LNSYNC_CHAIN_SOURCE`). bitcoind credentials come from the URL (`http://user:pass@host:8332`),
 * `LNSYNC_BITCOIND_USER`/`LNSYNC_BITCOIND_PASSWORD`, or the cookie file `LNSYNC_BITCOIND_COOKIE`.
 */
import { Config, ConfigError, Either } from "effect"
import type { Layer } from "effect"
import type { ChainSource } from "../../services/ChainSource.js"
import { layerNone } from "../../services/ChainSource.js"
import * as Bitcoind from "./Bitcoind.js"
import * as Esplora from "./Esplora.js"

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

/** `LNSYNC_CHAIN_SOURCE` and the bitcoind credentials (nested under `LNSYNC` by the caller). */
export const config: Config.Config<ChainSourceSpec> = Config.all({
  spec: Config.string("CHAIN_SOURCE").pipe(
    Config.withDefault("none"),
    Config.mapOrFail((t) => Either.mapLeft(parseChainSource(t), (e) => ConfigError.InvalidData(["CHAIN_SOURCE"], e)))
  ),
  user: Config.option(Config.string("BITCOIND_USER")),
  password: Config.option(Config.string("BITCOIND_PASSWORD")),
  cookieFile: Config.option(Config.string("BITCOIND_COOKIE"))
}).pipe(
  Config.map(({ cookieFile, password, spec, user }) =>
    spec.kind === "bitcoind"
      ? {
        ...spec,
        user: user._tag === "Some" ? user.value : undefined,
        password: password._tag === "Some" ? password.value : undefined,
        cookieFile: cookieFile._tag === "Some" ? cookieFile.value : undefined
      }
      : spec
  )
)

/** The ChainSource layer a spec names. */
export const layer = (spec: ChainSourceSpec): Layer.Layer<ChainSource> =>
  spec.kind === "esplora"
    ? Esplora.layer({ url: spec.url })
    : spec.kind === "bitcoind"
    ? Bitcoind.layer(spec)
    : layerNone
