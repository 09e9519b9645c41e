/**
 * BOLT 1 appendix vectors (test/vectors/bolt01-bigsize-tlv.txt): BigSize decode/encode (A), TLV streams in the
 * spec's example namespaces n1/n2 (B), and `init` message extensions (C). The vectors are parsed from the file, so
 * every case in it is exercised.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import secp256k1 from "secp256k1"
import * as BigSize from "../src/domain/BigSize.js"
import { decodeMessage, encodeMessage } from "../src/domain/Codec.js"
import { fromHex, toHex } from "../src/domain/Hex.js"
import * as Scid from "../src/domain/ShortChannelId.js"
import * as Tlv from "../src/domain/Tlv.js"
import { vectorsDir } from "./shared.js"

const text = readFileSync(path.join(vectorsDir, "bolt01-bigsize-tlv.txt"), "utf8")

const section = (from: string, to: string): string => {
  const start = text.indexOf(from)
  const end = text.indexOf(to, start + from.length)
  expect(start).toBeGreaterThanOrEqual(0)
  expect(end).toBeGreaterThan(start)
  return text.slice(start, end)
}

interface BigSizeCase {
  readonly name: string
  readonly value: bigint
  readonly bytes: string
  readonly error: string | undefined
}

/** The JSON blocks hold 2^64-1, beyond a JS number: read the objects field by field, values as bigint. */
const bigSizeCases = (block: string): ReadonlyArray<BigSizeCase> =>
  [...block.slice(block.indexOf("```json")).matchAll(/\{([^}]*)\}/g)].map((m) => {
    const body = m[1]
    const field = (name: string) => new RegExp(`"${name}":\\s*"?([^",\\n]*)"?`).exec(body)?.[1]
    return { name: field("name")!, value: BigInt(field("value")!), bytes: field("bytes")!, error: field("exp_error") }
  })

describe("BOLT 1 appendix A: BigSize", () => {
  const decoding = bigSizeCases(section("### BigSize Decoding Tests", "### BigSize Encoding Tests"))
  const encoding = bigSizeCases(section("### BigSize Encoding Tests", "## Appendix B"))

  it("has the appendix's 18 decoding and 8 encoding cases", () => {
    expect(decoding.length).toBe(18)
    expect(encoding.length).toBe(8)
  })

  for (const c of decoding) {
    it(`BOLT 1: decodes "${c.name}"`, () => {
      const r = BigSize.decode(fromHex(c.bytes))
      if (c.error === undefined) {
        expect(r).toEqual(Either.right({ value: c.value, next: c.bytes.length / 2 }))
      } else {
        // the spec's messages: "decoded bigsize is not canonical", "unexpected EOF", "EOF"
        const expected = c.error.includes("canonical") ? "not canonical" : c.error
        expect(Either.isLeft(r) && r.left.reason).toBe(expected)
      }
    })
  }

  for (const c of encoding) {
    it(`BOLT 1: encodes "${c.name}" minimally`, () => {
      expect(toHex(BigSize.encode(c.value))).toBe(c.bytes)
      expect(BigSize.encodedLength(c.value)).toBe(c.bytes.length / 2)
    })
  }

  it("BOLT 1: rejects values outside u64 when encoding", () => {
    expect(() => BigSize.encode(-1n)).toThrow(RangeError)
    expect(() => BigSize.encode(BigSize.MAX + 1n)).toThrow(RangeError)
  })
})

// ---------------------------------------------------------------------------------------------------------------
// The appendix's example namespaces, built on Tlv.decodeStream the way message decoders are.

type Decoded = Record<string, Record<string, string>>

const exactly = (value: Uint8Array, n: number, what: string): Either.Either<Uint8Array, string> =>
  value.length < n
    ? Either.left(`less than encoding length for ${what}`)
    : value.length > n
    ? Either.left(`greater than encoding length for ${what}`)
    : Either.right(value)

const u64 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at)

const namespaces: Record<
  "n1" | "n2",
  { known: Tlv.KnownTypes; parse: (r: Tlv.TlvRecord) => Either.Either<Decoded, string> }
> = {
  n1: {
    known: new Set([1n, 2n, 3n, 254n]),
    parse: (r) => {
      switch (r.type) {
        case 1n:
          return Either.map(Tlv.decodeTu64(r.value), (v) => ({ tlv1: { amount_msat: `${v}` } }))
        case 2n:
          return Either.map(exactly(r.value, 8, "tlv2"), (v) => ({ tlv2: { scid: Scid.format(u64(v, 0)) } }))
        case 3n:
          return Either.flatMap(exactly(r.value, 49, "tlv3"), (v) =>
            secp256k1.publicKeyVerify(v.subarray(0, 33))
              ? Either.right({
                tlv3: {
                  node_id: toHex(v.subarray(0, 33)),
                  amount_msat_1: `${u64(v, 33)}`,
                  amount_msat_2: `${u64(v, 41)}`
                }
              })
              : Either.left("node_id is not a valid point"))
        default:
          return Either.map(exactly(r.value, 2, "tlv4"), (v) => ({ tlv4: { cltv_delta: `${(v[0] << 8) | v[1]}` } }))
      }
    }
  },
  n2: {
    known: new Set([0n, 11n]),
    parse: (r) =>
      r.type === 0n
        ? Either.map(Tlv.decodeTu64(r.value), (v) => ({ tlv1: { amount_msat: `${v}` } }))
        : Either.map(Tlv.decodeTu32(r.value), (v) => ({ tlv2: { cltv_expiry: `${v}` } }))
  }
}

const decodeIn = (ns: "n1" | "n2", bytes: Uint8Array): Either.Either<Decoded, string> => {
  const { known, parse } = namespaces[ns]
  return Either.flatMap(
    Either.mapLeft(Tlv.decodeStream(bytes, known), (e) => e.reason),
    (records) => {
      let out: Decoded = {}
      for (const r of records) {
        if (!known.has(r.type)) continue // unknown odd: ignored by the namespace (kept by the stream)
        const p = parse(r)
        if (Either.isLeft(p)) return p
        out = { ...out, ...p.right }
      }
      return Either.right(out)
    }
  )
}

interface StreamCase {
  readonly hex: string
  readonly valid: boolean
  readonly namespaces: ReadonlyArray<"n1" | "n2">
  readonly explanation: string
  readonly values: Decoded | undefined
}

/** Walks appendix B: each "The following TLV streams in … namespace …" sentence scopes the cases under it. */
const streamCases = (): ReadonlyArray<StreamCase> => {
  const lines = section("## Appendix B", "## Appendix C").split("\n")
  const out: Array<StreamCase> = []
  let scope: ReadonlyArray<"n1" | "n2"> = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (/TLV streams? in/.test(line)) {
      const sentence = `${line} ${lines[i + 1] ?? ""}`
      scope = /any namespace|either namespace|either\s*$/.test(sentence) || /either/.test(line)
        ? ["n1", "n2"]
        : sentence.includes("`n1`")
        ? ["n1"]
        : ["n2"]
    }
    const m = /^1\. (Valid|Invalid) stream: 0x(.*)$/.exec(line)
    if (m === null) continue
    const hex = m[2].replace(/\s+/g, "")
    const detail = (lines[i + 1] ?? "").replace(/^2\. /, "")
    let values: Decoded | undefined
    if (detail.startsWith("Values:")) {
      values = {}
      const rec = /`(\w+)`((?: `\w+`=\S+)+)/.exec(detail)!
      const fields: Record<string, string> = {}
      for (const f of rec[2].matchAll(/`(\w+)`=(\S+)/g)) fields[f[1]] = f[2]
      values[rec[1]] = fields
    }
    out.push({ hex, valid: m[1] === "Valid", namespaces: scope, explanation: detail, values })
  }
  return out
}

describe("BOLT 1 appendix B: TLV streams (namespaces n1, n2)", () => {
  const cases = streamCases()

  it("reads every stream of the appendix", () => {
    expect(cases.filter((c) => c.valid).length).toBe(19)
    expect(cases.filter((c) => !c.valid).length).toBe(38)
  })

  for (const c of cases) {
    for (const ns of c.namespaces) {
      it(`BOLT 1: ${c.valid ? "accepts" : "rejects"} 0x${c.hex.slice(0, 40)} in ${ns} (${c.explanation})`, () => {
        const r = decodeIn(ns, fromHex(c.hex))
        if (!c.valid) {
          expect(Either.isLeft(r)).toBe(true)
          return
        }
        expect(Either.isRight(r)).toBe(true)
        if (c.values !== undefined) expect(Either.getOrThrow(r)).toEqual(c.values)
        else expect(Either.getOrThrow(r)).toEqual({})
        // unknown odd records are kept: the stream re-encodes byte-identically
        const records = Either.getOrThrow(Tlv.decodeStream(fromHex(c.hex), namespaces[ns].known))
        expect(toHex(Tlv.encodeStream(records))).toBe(c.hex)
      })
    }
  }

  it("BOLT 1: a valid stream followed by an invalid one fails; a higher-numbered valid stream appended decodes", () => {
    const valid = cases.filter((c) => c.valid && c.namespaces.includes("n1") && c.hex !== "")
    const invalid = cases.filter((c) => !c.valid && c.namespaces.includes("n1"))
    let appendedValid = 0
    for (const a of valid) {
      for (const b of invalid) expect(Either.isLeft(decodeIn("n1", fromHex(a.hex + b.hex)))).toBe(true)
      for (const b of valid) {
        const ta = Either.getOrThrow(Tlv.decodeStream(fromHex(a.hex), namespaces.n1.known))
        const tb = Either.getOrThrow(Tlv.decodeStream(fromHex(b.hex), namespaces.n1.known))
        const ok = ta[ta.length - 1].type < tb[0].type
        expect(Either.isRight(decodeIn("n1", fromHex(a.hex + b.hex)))).toBe(ok)
        if (ok) appendedValid++
      }
    }
    expect(appendedValid).toBeGreaterThan(10)
  })

  it("BOLT 1: writeStream orders records by type and refuses duplicates", () => {
    const records = [
      { type: 5n, value: Uint8Array.of(1) },
      { type: 1n, value: new Uint8Array(0) }
    ]
    expect(toHex(Tlv.encodeStream(records))).toBe("01000501" + "01")
    expect(() => Tlv.encodeStream([...records, { type: 5n, value: new Uint8Array(0) }])).toThrow(RangeError)
  })
})

describe("BOLT 1 appendix C: init message extension", () => {
  const block = section("## Appendix C", "## Appendix D")
  const valid = [
    ...section("The following `init` messages are valid", "The following `init` messages are invalid").matchAll(
      /`0x(0010[0-9a-f]*)`/g
    )
  ]
  const invalid = [...block.slice(block.indexOf("are invalid")).matchAll(/`0x(0010[0-9a-f]*)`/g)]

  it("has 2 valid and 3 invalid messages", () => {
    expect(valid.length).toBe(2)
    expect(invalid.length).toBe(3)
  })

  for (const [, hex] of valid) {
    it(`BOLT 1: init 0x${hex} decodes, keeps unknown odd TLVs, re-encodes byte-identically`, () => {
      const m = Either.getOrThrow(decodeMessage(fromHex(hex)))
      expect(m._tag).toBe("Init")
      expect(toHex(encodeMessage(m))).toBe(hex)
    })
  }

  for (const [, hex] of invalid) {
    it(`BOLT 1: init 0x${hex} is a DecodeError in the TLV extension`, () => {
      const r = decodeMessage(fromHex(hex))
      expect(Either.isLeft(r)).toBe(true)
      if (Either.isLeft(r)) {
        expect(r.left.messageType).toBe(16)
        expect(r.left.field.startsWith("tlv")).toBe(true)
        expect(r.left.offset).toBeGreaterThanOrEqual(6)
      }
    })
  }
})
