/**
 * ChainSource: what the pipeline asks the blockchain about a channel_announcement. BOLT 7: the funding output
 * named by `short_channel_id` must be an unspent P2WSH paying to the 2-of-2 of `bitcoin_key_1`/`bitcoin_key_2`.
 *
 * lnsync ships only the "none" source (`layerNone`: trust the four signatures; it needs no outside world, so it
 * lives here), so a bitcoind or Esplora source can be added as another layer without touching the pipeline.
 */
import { Context, Data, Effect, Layer } from "effect"
import type { ChannelAnnouncement } from "../domain/Messages.js"

export type FundingCheck =
  /** The source does not look at the chain (the "none" source): the signatures are all we have. */
  | { readonly _tag: "Unchecked" }
  | { readonly _tag: "Valid"; readonly capacitySat: bigint }
  /** Output missing, spent, not P2WSH, or not the announced keys' 2-of-2: BOLT 7 says ignore the message. */
  | { readonly _tag: "Invalid"; readonly reason: string }

/** The source itself failed (backend unreachable): not the peer's fault, so it costs the peer nothing. */
export class ChainSourceError extends Data.TaggedError("ChainSourceError")<{
  readonly operation: string
  readonly cause: unknown
}> {}

export interface ChainSourceService {
  /** One result per announcement, in order. Only called for announcements whose four signatures are valid. */
  readonly checkFunding: (
    announcements: ReadonlyArray<ChannelAnnouncement>
  ) => Effect.Effect<ReadonlyArray<FundingCheck>, ChainSourceError>
}

export class ChainSource extends Context.Tag("lnsync/ChainSource")<ChainSource, ChainSourceService>() {}

const UNCHECKED: FundingCheck = { _tag: "Unchecked" }

/** The default source: no chain backend, every announcement is `Unchecked` (its signatures are trusted). */
export const layerNone: Layer.Layer<ChainSource> = Layer.succeed(ChainSource, {
  checkFunding: (announcements) => Effect.succeed(announcements.map(() => UNCHECKED))
})
