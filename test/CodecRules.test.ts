/**
 * Specific BOLT 1 / BOLT 7 decoding rules and limits: typed errors name the field and offset, unknown message
 * types, scid list encodings and their bounds (GS-41), per-scid TLV counts (GS-18), zlib bombs, old updates,
 * address parsing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { deflateSync } from "node:zlib"
import * as Chain from "../src/domain/Chain.js"
import type { DecodeError } from "../src/domain/Codec.js"
import { decodeChannelUpdate, decodeMessage, encodeMessage, MAX_SCIDS_PER_MESSAGE } from "../src/domain/Codec.js"
import { fromHex, toHex } from "../src/domain/Hex.js"
import type { Message, ReplyChannelRange } from "../src/domain/Messages.js"
import * as Scid from "../src/domain/ShortChannelId.js"

const u16 = (n: number) => [n >> 8, n & 0xff]
const u32 = (n: number) => [n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]
const scidBytes = (ids: ReadonlyArray<bigint>) => {
  const b = Buffer.alloc(ids.length * 8)
  ids.forEach((id, i) => b.writeBigUInt64BE(id, i * 8))
  return [...b]
}
const chain = [...Chain.BITCOIN_MAINNET]

/** reply_channel_range with a raw encoded_short_ids body and raw TLV bytes. */
const reply = (encodedIds: ReadonlyArray<number>, tlvs: ReadonlyArray<number> = []) =>
  Uint8Array.from([
    ...u16(264),
    ...chain,
    ...u32(700_000),
    ...u32(1000),
    1,
    ...u16(encodedIds.length),
    ...encodedIds,
    ...tlvs
  ])

const left = (r: Either.Either<Message, DecodeError>): DecodeError => {
  if (Either.isRight(r)) throw new Error(`expected a DecodeError, got ${r.right._tag}`)
  return r.left
}

const ids = [Scid.make(700_001, 1, 0), Scid.make(700_002, 5, 1), Scid.make(700_010, 0, 3)]

describe("Codec rules", () => {
  it("BOLT 1: an input shorter than the 2-byte type is a DecodeError without a message type", () => {
    for (const b of [new Uint8Array(0), Uint8Array.of(1)]) {
      const e = left(decodeMessage(b))
      expect(e).toMatchObject({ _tag: "DecodeError", messageType: undefined, field: "type", offset: 0 })
    }
  })

  it("BOLT 1: unknown odd message types are kept (UnknownMessage), unknown even types fail", () => {
    const odd = Uint8Array.of(0x80, 0x01, 0xaa, 0xbb)
    expect(Either.getOrThrow(decodeMessage(odd))).toEqual({
      _tag: "UnknownMessage",
      type: 0x8001,
      payload: Uint8Array.of(0xaa, 0xbb)
    })
    expect(toHex(encodeMessage(Either.getOrThrow(decodeMessage(odd))))).toBe("8001aabb")
    expect(left(decodeMessage(Uint8Array.of(0x80, 0x02, 0xaa)))).toMatchObject({ messageType: 0x8002, field: "type" })
  })

  it("BOLT 7: a truncated channel_announcement names the field and the offset where input ran out", () => {
    const e = left(decodeMessage(Uint8Array.from([1, 0, ...new Uint8Array(100)])))
    expect(e).toMatchObject({ messageType: 256, field: "node_signature_2", offset: 66 })
  })

  it("BOLT 7: old 130-byte channel_update without htlc_maximum_msat decodes; with message_flags bit 0 it needs 8 more bytes", () => {
    const old = Uint8Array.from([
      1,
      2,
      ...new Uint8Array(64),
      ...chain,
      ...new Uint8Array(8),
      ...u32(1),
      0,
      0,
      ...new Uint8Array(2 + 8 + 4 + 4)
    ])
    expect(old.length).toBe(130)
    const m = Either.getOrThrow(decodeChannelUpdate(old))
    expect(m.htlcMaximumMsat).toBeUndefined()
    expect(m.trailing.length).toBe(0)
    const flagged = old.slice()
    flagged[2 + 64 + 32 + 8 + 4] = 1
    expect(left(decodeMessage(flagged))).toMatchObject({ field: "htlc_maximum_msat", offset: 130 })
    const withMax = Uint8Array.from([...flagged, ...new Uint8Array(7), 42, 0xee])
    const m2 = Either.getOrThrow(decodeChannelUpdate(withMax))
    expect(m2.htlcMaximumMsat).toBe(42n)
    expect(toHex(m2.trailing)).toBe("ee")
  })

  it("BOLT 7: plain encoded_short_ids must be a multiple of 8 bytes; unknown encodings and a missing encoding byte fail", () => {
    expect(Either.getOrThrow(decodeMessage(reply([0, ...scidBytes(ids)])))).toMatchObject({
      shortIds: { encoding: 0, ids }
    })
    expect(left(decodeMessage(reply([0, ...scidBytes(ids), 7])))).toMatchObject({
      field: "encoded_short_ids",
      reason: expect.stringContaining("multiple of 8")
    })
    expect(left(decodeMessage(reply([2, ...scidBytes(ids)])))).toMatchObject({
      field: "encoded_short_ids",
      reason: "unknown encoding 2"
    })
    expect(left(decodeMessage(reply([])))).toMatchObject({
      field: "encoded_short_ids",
      reason: "missing encoding byte"
    })
  })

  it("scid lists are not required to be sorted by the codec (the syncer enforces order)", () => {
    const unsorted = [ids[2], ids[0], ids[0]]
    const m = Either.getOrThrow(decodeMessage(reply([0, ...scidBytes(unsorted)]))) as ReplyChannelRange
    expect(m.shortIds.ids).toEqual(unsorted)
  })

  it("BOLT 7: zlib lists (encoding 1) inflate, keep the received bytes and re-encode identically", () => {
    const compressed = [...deflateSync(Buffer.from(scidBytes(ids)))]
    const wire = reply([1, ...compressed])
    const m = Either.getOrThrow(decodeMessage(wire)) as ReplyChannelRange
    expect(m.shortIds).toEqual({ encoding: 1, ids, compressed: Uint8Array.from(compressed) })
    expect(toHex(encodeMessage(m))).toBe(toHex(wire))
  })

  it("GS-41: a zlib bomb is a DecodeError (inflation capped), not memory growth", () => {
    const bomb = deflateSync(Buffer.alloc(50_000_000), { level: 9 })
    expect(bomb.length).toBeLessThan(65_000)
    const e = left(decodeMessage(reply([1, ...bomb])))
    expect(e).toMatchObject({
      messageType: 264,
      field: "encoded_short_ids",
      reason: expect.stringContaining("exceeds")
    })
  })

  it("GS-41: more than 100,000 scids in one message fail; exactly 100,000 decode", () => {
    const at = (n: number) => reply([1, ...deflateSync(Buffer.alloc(n * 8, 1))])
    expect((Either.getOrThrow(decodeMessage(at(MAX_SCIDS_PER_MESSAGE))) as ReplyChannelRange).shortIds.ids.length).toBe(
      100_000
    )
    expect(left(decodeMessage(at(MAX_SCIDS_PER_MESSAGE + 1))).field).toBe("encoded_short_ids")
  })

  it("BOLT 7: corrupt zlib data is a DecodeError", () => {
    expect(left(decodeMessage(reply([1, 0x78, 0x9c, 1, 2, 3])))).toMatchObject({
      field: "encoded_short_ids",
      reason: expect.stringContaining("zlib")
    })
  })

  it("GS-18: timestamps_tlv must carry exactly one pair per scid", () => {
    const pairs = (n: number) => Array.from({ length: n }, (_, i) => [...u32(1000 + i), ...u32(2000 + i)]).flat()
    const ok = reply([0, ...scidBytes(ids)], [1, 1 + 24, 0, ...pairs(3)])
    expect((Either.getOrThrow(decodeMessage(ok)) as ReplyChannelRange).timestamps?.entries[2]).toEqual({
      timestamp1: 1002,
      timestamp2: 2002
    })
    const short = reply([0, ...scidBytes(ids)], [1, 1 + 16, 0, ...pairs(2)])
    expect(left(decodeMessage(short))).toMatchObject({ field: "timestamps_tlv", reason: "2 entries for 3 ids" })
    const ragged = reply([0, ...scidBytes(ids)], [1, 1 + 25, 0, ...pairs(3), 9])
    expect(left(decodeMessage(ragged)).field).toBe("timestamps_tlv")
  })

  it("BOLT 7: checksums_tlv must carry exactly one pair per scid", () => {
    const sums = Array.from({ length: 4 }, (_, i) => [...u32(i), ...u32(i)]).flat()
    expect(left(decodeMessage(reply([0, ...scidBytes(ids)], [3, 32, ...sums])))).toMatchObject({
      field: "checksums_tlv",
      reason: "4 entries for 3 ids"
    })
    const m = Either.getOrThrow(
      decodeMessage(reply([0, ...scidBytes(ids)], [3, 24, ...sums.slice(0, 24)]))
    ) as ReplyChannelRange
    expect(m.checksums?.length).toBe(3)
  })

  it("BOLT 7: query_flags must be canonical BigSizes, one per scid", () => {
    const query = (flags: ReadonlyArray<number>) =>
      Uint8Array.from([...u16(261), ...chain, ...u16(1 + 24), 0, ...scidBytes(ids), 1, flags.length + 1, 0, ...flags])
    const m = Either.getOrThrow(decodeMessage(query([1, 2, 0xfd, 0x01, 0x00])))
    expect(m).toMatchObject({ _tag: "QueryShortChannelIds", queryFlags: { encoding: 0, flags: [1n, 2n, 256n] } })
    expect(left(decodeMessage(query([1, 2])))).toMatchObject({ field: "query_flags", reason: "2 flags for 3 ids" })
    expect(left(decodeMessage(query([1, 2, 0xfd, 0x00, 0x05])))).toMatchObject({
      field: "query_flags",
      reason: expect.stringContaining("not canonical")
    })
  })

  it("BOLT 7: query_option must be exactly one BigSize", () => {
    const qcr = (tlv: ReadonlyArray<number>) => Uint8Array.from([...u16(263), ...chain, ...u32(0), ...u32(10), ...tlv])
    expect(Either.getOrThrow(decodeMessage(qcr([1, 1, 3])))).toMatchObject({ queryOption: 3n })
    expect(left(decodeMessage(qcr([1, 2, 3, 0]))).field).toBe("query_option")
    expect(left(decodeMessage(qcr([2, 0]))).field).toBe("tlv(2)") // unknown even TLV
  })

  it("BOLT 1: init networks must be whole 32-byte chain hashes; remote_addr is kept raw", () => {
    const init = (tlv: ReadonlyArray<number>) => Uint8Array.from([0, 16, 0, 0, 0, 1, 0x82, ...tlv])
    const m = Either.getOrThrow(decodeMessage(init([1, 32, ...chain, 3, 3, 1, 2, 3])))
    expect(m).toMatchObject({ _tag: "Init", features: Uint8Array.of(0x82), remoteAddr: Uint8Array.of(1, 2, 3) })
    if (m._tag === "Init") expect(Chain.chainName(m.networks![0])).toBe("mainnet")
    expect(left(decodeMessage(init([1, 31, ...chain.slice(1)]))).field).toBe("networks")
  })

  it("BOLT 7: node_announcement addresses: Tor v2 parsed, unknown type stops parsing and keeps the rest, truncation fails", () => {
    const na = (addresses: ReadonlyArray<number>) =>
      Uint8Array.from([
        1,
        1,
        ...new Uint8Array(64),
        0,
        0,
        ...u32(5),
        2,
        ...new Uint8Array(32),
        1,
        2,
        3,
        ...new Uint8Array(32),
        ...u16(addresses.length),
        ...addresses
      ])
    const ipv4 = [1, 10, 0, 0, 1, ...u16(9735)]
    const torV2 = [3, ...new Uint8Array(10).fill(7), ...u16(9735)]
    const m = Either.getOrThrow(decodeMessage(na([...ipv4, ...torV2, 9, 1, 2, 3, ...ipv4])))
    if (m._tag !== "NodeAnnouncement") throw new Error("expected node_announcement")
    expect(m.addresses).toEqual([
      { _tag: "IPv4", address: "10.0.0.1", port: 9735 },
      { _tag: "TorV2", onion: new Uint8Array(10).fill(7), port: 9735 },
      { _tag: "Unknown", type: 9, data: Uint8Array.from([1, 2, 3, ...ipv4]) }
    ])
    const e = left(decodeMessage(na([...ipv4, 1, 10, 0])))
    expect(e).toMatchObject({ messageType: 257, field: "addresses", offset: 2 + 64 + 2 + 4 + 33 + 3 + 32 + 2 + 7 })
  })

  it("encodeMessage refuses values with no wire form (programming errors), instead of writing garbage", () => {
    const update = Either.getOrThrow(
      decodeChannelUpdate(
        fromHex(
          `0102${"00".repeat(64)}${toHex(Chain.BITCOIN_MAINNET)}${"00".repeat(8)}0000000101000000${"00".repeat(8)}${
            "00".repeat(8)
          }${"00".repeat(8)}`
        )
      )
    )
    expect(update.htlcMaximumMsat).toBe(0n)
    expect(() => encodeMessage({ ...update, htlcMaximumMsat: undefined })).toThrow(RangeError)
    expect(() => encodeMessage({ _tag: "Pong", ignored: new Uint8Array(70_000) })).toThrow(RangeError)
    expect(() =>
      encodeMessage({
        _tag: "GossipTimestampFilter",
        chainHash: new Uint8Array(31),
        firstTimestamp: 0,
        timestampRange: 1
      })
    ).toThrow(RangeError)
  })
})
