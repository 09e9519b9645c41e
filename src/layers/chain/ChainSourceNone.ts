/** The default ChainSource: no chain backend, every announcement is `Unchecked` (its signatures are trusted). */
import { Effect, Layer } from "effect"
import type { FundingCheck } from "../../services/ChainSource.js"
import { ChainSource } from "../../services/ChainSource.js"

const UNCHECKED: FundingCheck = { _tag: "Unchecked" }

export const ChainSourceNone: Layer.Layer<ChainSource> = Layer.succeed(ChainSource, {
  checkFunding: (announcements) => Effect.succeed(announcements.map(() => UNCHECKED))
})
