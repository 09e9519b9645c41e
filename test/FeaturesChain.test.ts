/** BOLT 9 feature bits over raw bytes, and wire chain hashes. */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { createHash } from "node:crypto"
import * as Chain from "../src/domain/Chain.js"
import * as F from "../src/domain/Features.js"
import { fromHex, toHex } from "../src/domain/Hex.js"

describe("Features (BOLT 9)", () => {
  it("BOLT 9: bit 0 is the least significant bit of the last byte", () => {
    expect(toHex(F.fromBits([0]))).toBe("01")
    expect(toHex(F.fromBits([7]))).toBe("80")
    expect(toHex(F.fromBits([8]))).toBe("0100")
    expect(toHex(F.fromBits([F.GOSSIP_QUERIES.odd, F.GOSSIP_QUERIES_EX.odd]))).toBe("0880")
    expect(F.has(fromHex("0880"), 7)).toBe(true)
    expect(F.has(fromHex("0880"), 11)).toBe(true)
    expect(F.has(fromHex("0880"), 10)).toBe(false)
    expect(F.has(fromHex("0880"), 200)).toBe(false)
  })

  it("BOLT 9: supports() accepts either the even (required) or odd (optional) bit; requires() only the even one", () => {
    expect(F.supports(F.fromBits([6]), F.GOSSIP_QUERIES)).toBe(true)
    expect(F.supports(F.fromBits([7]), F.GOSSIP_QUERIES)).toBe(true)
    expect(F.supports(F.fromBits([10]), F.GOSSIP_QUERIES)).toBe(false)
    expect(F.requires(F.fromBits([7]), F.GOSSIP_QUERIES)).toBe(false)
    expect(F.requires(F.fromBits([6]), F.GOSSIP_QUERIES)).toBe(true)
    expect(F.has(F.fromBits([F.INITIAL_ROUTING_SYNC]), 3)).toBe(true)
    expect(F.supports(F.fromBits([1]), F.OPTION_DATA_LOSS_PROTECT)).toBe(true)
  })

  it("BOLT 9: set() keeps bits it does not know and grows the byte string on the left", () => {
    const unknown = fromHex("8000000000") // bit 39, unknown to us
    const out = F.set(unknown, 7, 43)
    expect(toHex(out)).toBe("088000000080")
    expect(F.bits(out)).toEqual([7, 39, 43])
    expect(toHex(unknown)).toBe("8000000000") // not mutated
  })

  it("BOLT 1/9: unknownEvenBits reports required bits outside the known set (pairs or single bits)", () => {
    const features = F.fromBits([0, 7, 12, 101, 150])
    expect(F.unknownEvenBits(features, [F.OPTION_DATA_LOSS_PROTECT, F.GOSSIP_QUERIES])).toEqual([12, 150])
    expect(F.unknownEvenBits(features, [F.OPTION_DATA_LOSS_PROTECT, F.OPTION_STATIC_REMOTEKEY, 150])).toEqual([])
  })

  it("BOLT 9: union ORs byte strings of different lengths right-aligned (globalfeatures | features)", () => {
    expect(toHex(F.union(fromHex("01"), fromHex("8000")))).toBe("8001")
  })

  it("fromBits/bits are inverse for any set of bits", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 300 }), { maxLength: 20 }), (bits) => {
        const f = F.fromBits(bits)
        expect(F.bits(f)).toEqual([...bits].sort((a, b) => a - b))
        if (f.length > 0) expect(f[0]).not.toBe(0) // shortest encoding
      }),
      { seed: 7, numRuns: 200 }
    )
  })

  it("describe() names known bits and keeps unknown ones visible", () => {
    expect(F.describe(F.fromBits([3, 7, 99]))).toEqual(["initial_routing_sync", "gossip_queries?", "bit99"])
  })
})

describe("Chain", () => {
  const genesis = (header: string) =>
    createHash("sha256").update(createHash("sha256").update(Buffer.from(header, "hex")).digest()).digest()

  it("BOLT 7: chain_hash is the genesis block hash in internal byte order (each genesis header hashes to it)", () => {
    // version 1, no previous block, the shared genesis merkle root; then time, bits, nonce (little-endian)
    const header = (timeBitsNonce: string) =>
      "01000000" + "00".repeat(32) + "3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a" + timeBitsNonce
    expect(toHex(genesis(header("29ab5f49ffff001d1dac2b7c")))).toBe(toHex(Chain.BITCOIN_MAINNET))
    expect(toHex(genesis(header("dae5494dffff001d1aa4ae18")))).toBe(toHex(Chain.BITCOIN_TESTNET3))
    expect(toHex(genesis(header("dae5494dffff7f2002000000")))).toBe(toHex(Chain.BITCOIN_REGTEST))
    expect(toHex(genesis(header("008f4d5fae77031e8ad22203")))).toBe(toHex(Chain.BITCOIN_SIGNET))
  })

  it("chainName names the four known chains and nothing else; sameChain compares bytes", () => {
    expect(Chain.chainName(Chain.BITCOIN_MAINNET)).toBe("mainnet")
    expect(Chain.chainName(Chain.BITCOIN_TESTNET3)).toBe("testnet3")
    expect(Chain.chainName(Chain.BITCOIN_REGTEST)).toBe("regtest")
    expect(Chain.chainName(Chain.BITCOIN_SIGNET)).toBe("signet")
    expect(Chain.chainName(Chain.BITCOIN_REGTEST.slice().reverse())).toBeUndefined()
    expect(Chain.sameChain(Chain.BITCOIN_MAINNET, Chain.BITCOIN_MAINNET.slice())).toBe(true)
    expect(Chain.sameChain(Chain.BITCOIN_MAINNET, Chain.BITCOIN_TESTNET3)).toBe(false)
    expect(Chain.sameChain(Chain.BITCOIN_MAINNET, Chain.BITCOIN_MAINNET.subarray(1))).toBe(false)
    expect(Chain.fromName("signet")).toBe(Chain.BITCOIN_SIGNET)
  })
})
