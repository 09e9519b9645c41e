/**
 * A short seeded run of `npm run fuzz` (fuzz/targets.ts): every wire decoder (BOLT 8 frames and acts, each BOLT 1/7
 * message type, TLV streams, address lists, zlib scid blocks) gets ~2,000 inputs (handshake acts 800) mutated from test/vectors or
 * random. None may crash (throw, or fail with anything but its typed error), none may accept bytes it does not
 * re-encode to, and none may allocate more than 8× its size (sizes under 4 KiB count as 4 KiB: a decode's fixed
 * cost; inputs holding a zlib stream are judged per inflated byte, which GS-41 lets reach 100,000 ids, and at least
 * zlib's own 64 KiB per stream). Time is not asserted: the full run reports inputs slower than 1 ms.
 */
import { describe, expect, it } from "@effect/vitest"
import { runSuite } from "../fuzz/targets.js"

describe("fuzzing every decoder (short seeded run)", () => {
  it("BOLT 1/7/8 decoders: 0 crashes, 0 contract mismatches, no input allocating more than 8x its size", async () => {
    const reports = await runSuite({ seed: 20260602, count: 40_000 })
    expect(reports.length).toBe(19)
    for (const r of reports) {
      const where = `${r.name}: ${JSON.stringify(r.findings.filter((f) => f.verdict !== "slow"))}`
      expect(r.inputs, where).toBeGreaterThanOrEqual(800)
      expect(r.crashes, where).toBe(0)
      expect(r.mismatches, where).toBe(0)
      // every decoder both accepts and rejects some inputs: the mutations reach past the first check
      expect(r.accepted, where).toBeGreaterThan(0)
      expect(r.rejected, where).toBeGreaterThan(0)
      expect(r.worstRatio, `${where} allocates ${r.worstBytes} B for ${r.worstSize} B: ${r.worstInputHex}`)
        .toBeLessThanOrEqual(8)
    }
  }, 120_000) // ~8 s alone; the whole suite shares two cores
})
