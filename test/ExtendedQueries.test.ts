/**
 * BOLT 7 extended gossip queries vectors (test/vectors/bolt07-extended-queries.json): every hex decodes to the
 * listed fields (zlib encodings included) and re-encodes byte-identically.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { decodeMessage, encodeMessage } from "../src/domain/Codec.js"
import { fromHex, toHex } from "../src/domain/Hex.js"
import type { EncodedShortIds, Message } from "../src/domain/Messages.js"
import * as Scid from "../src/domain/ShortChannelId.js"
import { vectorsDir } from "./shared.js"

interface VectorIds {
  readonly array: ReadonlyArray<string>
  readonly encoding: "UNCOMPRESSED" | "COMPRESSED_ZLIB"
}

interface Vector {
  readonly hex: string
  readonly msg: {
    readonly type: "QueryChannelRange" | "ReplyChannelRange" | "QueryShortChannelIds"
    readonly chainHash: string
    readonly firstBlockNum?: number
    readonly numberOfBlocks?: number
    readonly complete?: number
    readonly shortChannelIds?: VectorIds
    readonly timestamps?: {
      readonly encoding: VectorIds["encoding"]
      readonly timestamps: ReadonlyArray<{ timestamp1: number; timestamp2: number }>
    }
    readonly checksums?: { readonly checksums: ReadonlyArray<{ checksum1: number; checksum2: number }> }
    readonly tlvStream?: {
      readonly records: ReadonlyArray<
        string | { readonly array: ReadonlyArray<number>; readonly encoding: VectorIds["encoding"] }
      >
    }
  }
}

const vectors: ReadonlyArray<Vector> = JSON.parse(
  readFileSync(path.join(vectorsDir, "bolt07-extended-queries.json"), "utf8")
)

const encoding = (e: VectorIds["encoding"]) => (e === "UNCOMPRESSED" ? 0 : 1)

const expectIds = (actual: EncodedShortIds, expected: VectorIds) => {
  expect(actual.encoding).toBe(encoding(expected.encoding))
  expect(actual.ids.map(Scid.format)).toEqual(expected.array)
  // zlib: the exact received bytes are kept (we never compress ourselves)
  expect(actual.compressed !== undefined).toBe(actual.encoding === 1)
}

/** query_option bits: BOLT 7 bit 0 = WANT_TIMESTAMPS, bit 1 = WANT_CHECKSUMS. */
const queryOption = (records: ReadonlyArray<unknown>): bigint | undefined => {
  if (records.length === 0) return undefined
  const names = String(records[0]).split("|").map((s) => s.trim())
  return (names.includes("WANT_TIMESTAMPS") ? 1n : 0n) | (names.includes("WANT_CHECKSUMS") ? 2n : 0n)
}

describe("BOLT 7 extended queries vectors", () => {
  it("has 10 vectors", () => expect(vectors.length).toBe(10))

  vectors.forEach((v, i) => {
    it(`BOLT 7: #${i} ${v.msg.type} decodes to the listed fields and re-encodes byte-identically`, () => {
      const m: Message = Either.getOrThrow(decodeMessage(fromHex(v.hex)))
      expect(m._tag).toBe(v.msg.type)
      expect(toHex(encodeMessage(m))).toBe(v.hex)
      switch (m._tag) {
        case "QueryChannelRange":
          expect(toHex(m.chainHash)).toBe(v.msg.chainHash)
          expect(m.firstBlocknum).toBe(v.msg.firstBlockNum)
          expect(m.numberOfBlocks).toBe(v.msg.numberOfBlocks)
          expect(m.queryOption).toBe(queryOption(v.msg.tlvStream!.records))
          expect(m.unknownTlvs).toEqual([])
          break
        case "ReplyChannelRange":
          expect(toHex(m.chainHash)).toBe(v.msg.chainHash)
          expect(m.firstBlocknum).toBe(v.msg.firstBlockNum)
          expect(m.numberOfBlocks).toBe(v.msg.numberOfBlocks)
          expect(m.syncComplete).toBe(v.msg.complete)
          expectIds(m.shortIds, v.msg.shortChannelIds!)
          if (v.msg.timestamps === undefined) expect(m.timestamps).toBeUndefined()
          else {
            expect(m.timestamps?.encoding).toBe(encoding(v.msg.timestamps.encoding))
            expect(m.timestamps?.entries).toEqual(v.msg.timestamps.timestamps)
          }
          if (v.msg.checksums === undefined) expect(m.checksums).toBeUndefined()
          else expect(m.checksums).toEqual(v.msg.checksums.checksums)
          break
        case "QueryShortChannelIds": {
          expect(toHex(m.chainHash)).toBe(v.msg.chainHash)
          expectIds(m.shortIds, v.msg.shortChannelIds!)
          const flags = v.msg.tlvStream!.records[0]
          if (flags === undefined) expect(m.queryFlags).toBeUndefined()
          else if (typeof flags !== "string") {
            expect(m.queryFlags?.encoding).toBe(encoding(flags.encoding))
            expect(m.queryFlags?.flags).toEqual(flags.array.map(BigInt))
          }
          break
        }
        default:
          throw new Error(`unexpected ${m._tag}`)
      }
    })
  })

  it("BOLT 7: a decoded zlib list re-encoded after dropping `compressed` is sent plain (encoding 0), same ids", () => {
    const v = vectors.find((x) =>
      x.msg.type === "ReplyChannelRange" && x.msg.shortChannelIds?.encoding === "COMPRESSED_ZLIB"
    )!
    const m = Either.getOrThrow(decodeMessage(fromHex(v.hex)))
    if (m._tag !== "ReplyChannelRange") throw new Error("expected a reply")
    const plain = encodeMessage({ ...m, shortIds: { encoding: 1, ids: m.shortIds.ids } })
    const again = Either.getOrThrow(decodeMessage(plain))
    if (again._tag !== "ReplyChannelRange") throw new Error("expected a reply")
    expect(again.shortIds.encoding).toBe(0)
    expect(again.shortIds.ids).toEqual(m.shortIds.ids)
  })
})
