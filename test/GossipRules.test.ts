import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Features from "../src/domain/Features.js"
import {
  hasUnknownEvenBit,
  isOffence,
  KNOWN_NODE_FEATURES,
  timestampVerdict
} from "../src/services/internal/gossipPipeline/rules.js"

describe("GossipRules", () => {
  it("BOLT 9: the allocation-free unknown-even-bit check agrees with Features.unknownEvenBits", () => {
    const known = new Set(KNOWN_NODE_FEATURES.flatMap((k) => (typeof k === "number" ? [k] : [k.even, k.odd])))
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (features) => {
        expect(hasUnknownEvenBit(features, known)).toBe(
          Features.unknownEvenBits(features, KNOWN_NODE_FEATURES).length > 0
        )
        expect(hasUnknownEvenBit(features, new Set())).toBe(Features.unknownEvenBits(features, []).length > 0)
      }),
      { numRuns: 2000 }
    )
  })

  it("SM-33 / BOLT 7: gossip for another chain is ignored, not an offence; other invalid gossip and InFuture are", () => {
    expect(isOffence({ _tag: "Invalid", reason: "WrongChain" })).toBe(false)
    expect(isOffence({ _tag: "Invalid", reason: "BadSignature" })).toBe(true)
    expect(isOffence({ _tag: "Invalid", reason: "NodeIdsNotOrdered" })).toBe(true)
    expect(isOffence({ _tag: "Stale", reason: "InFuture" })).toBe(true)
    expect(isOffence({ _tag: "Stale", reason: "TooOld" })).toBe(false)
    expect(isOffence({ _tag: "Duplicate" })).toBe(false)
  })

  it("BOLT 7: two weeks back and the future margin are inclusive bounds", () => {
    const ctx = { chainHash: new Uint8Array(32), nowSeconds: 2_000_000, staleSeconds: 1_209_600, maxFutureSeconds: 600 }
    expect(timestampVerdict(2_000_000 - 1_209_600, ctx)).toBeUndefined()
    expect(timestampVerdict(2_000_000 - 1_209_601, ctx)).toEqual({ _tag: "Stale", reason: "TooOld" })
    expect(timestampVerdict(2_000_600, ctx)).toBeUndefined()
    expect(timestampVerdict(2_000_601, ctx)).toEqual({ _tag: "Stale", reason: "InFuture" })
  })
})
