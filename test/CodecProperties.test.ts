/**
 * Property tests (fast-check, fixed seed): every message type round-trips value -> bytes -> value -> same bytes, and
 * the decoder is total on random bytes, truncations and bit flips of valid messages (a value or a DecodeError, never
 * an exception; anything it accepts re-encodes to exactly the input).
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { deflateSync } from "node:zlib"
import { decodeAddresses, encodeAddresses, scanAddresses } from "../src/domain/Addresses.js"
import * as BigSize from "../src/domain/BigSize.js"
import { DecodeError, decodeMessage, decodeOwnedMessage, encodeMessage } from "../src/domain/Codec.js"
import { fromHex } from "../src/domain/Hex.js"
import type { EncodedShortIds, Message, NodeAddress, TlvRecord } from "../src/domain/Messages.js"
import { isGossipMessage, MessageType } from "../src/domain/Messages.js"
import * as Tlv from "../src/domain/Tlv.js"
import { vectorsDir } from "./shared.js"

const SEED = 20240603

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const varBytes = (max = 40) => fc.uint8Array({ maxLength: max })
const u8 = fc.integer({ min: 0, max: 0xff })
const u16 = fc.integer({ min: 0, max: 0xffff })
const u32 = fc.integer({ min: 0, max: 0xffff_ffff })
const u64 = fc.bigInt({ min: 0n, max: BigSize.MAX })
const bigsize = fc.oneof(fc.bigInt({ min: 0n, max: 300n }), u64)

/** Unknown odd TLV records outside `known`, any order (the encoder sorts them in with the known ones). */
const unknownTlvs = (known: ReadonlyArray<bigint>) =>
  fc
    .uniqueArray(fc.oneof(fc.bigInt({ min: 0n, max: 600n }), u64).map((t) => t | 1n), { maxLength: 3 })
    .map((types) => types.filter((t) => !known.includes(t)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
    .chain((types) => fc.tuple(...types.map((type) => varBytes(12).map((value): TlvRecord => ({ type, value })))))

const optionalExtension = fc.option(unknownTlvs([]).filter((r) => r.length > 0), { nil: undefined })
const withExtension = <A extends object>(m: A, ext: ReadonlyArray<TlvRecord> | undefined) =>
  ext === undefined ? m : { ...m, unknownTlvs: ext }

const plainIds = (max: number) =>
  fc.array(u64, { maxLength: max }).map((ids): EncodedShortIds => ({ encoding: 0, ids }))

/** zlib lists as an old peer sends them: the compressed bytes it chose plus the ids they inflate to. */
const zlibIds = (max: number) =>
  fc.array(u64, { maxLength: max }).map((ids): EncodedShortIds => {
    const plain = Buffer.alloc(ids.length * 8)
    ids.forEach((id, i) => plain.writeBigUInt64BE(id, i * 8))
    return { encoding: 1, ids, compressed: ids.length === 0 ? new Uint8Array(0) : new Uint8Array(deflateSync(plain)) }
  })

const shortIds = fc.oneof(plainIds(30), zlibIds(30))

/** One address descriptor's wire bytes (known types), the generator for node_announcement addresses. */
const descriptor = fc.oneof(
  fc.tuple(fc.constant(1), bytes(6)),
  fc.tuple(fc.constant(2), bytes(18)),
  fc.tuple(fc.constant(3), bytes(12)),
  fc.tuple(fc.constant(4), bytes(37)),
  fc
    .tuple(fc.stringMatching(/^[a-z0-9.-]{0,40}$/), bytes(2))
    .map(([h, port]): [number, Uint8Array] => [5, Uint8Array.from([h.length, ...Buffer.from(h, "latin1"), ...port])])
)

const addressField = fc
  .tuple(
    fc.array(descriptor, { maxLength: 4 }),
    fc.option(fc.tuple(fc.oneof(fc.constant(0), fc.integer({ min: 6, max: 255 })), varBytes(8)), { nil: undefined })
  )
  .map(([known, unknown]) => {
    const parts = known.map(([t, body]) => Uint8Array.from([t, ...body]))
    if (unknown !== undefined) parts.push(Uint8Array.from([unknown[0], ...unknown[1]]))
    return Uint8Array.from(Buffer.concat(parts))
  })

const ODD_UNKNOWN_TYPES = fc
  .integer({ min: 0, max: 0x7fff })
  .map((n) => n * 2 + 1)
  .filter((t) => !Object.values(MessageType).includes(t as never))

const message: fc.Arbitrary<Message> = fc.oneof(
  fc
    .record({
      globalFeatures: varBytes(4),
      features: varBytes(8),
      networks: fc.option(fc.array(bytes(32), { maxLength: 3 }), { nil: undefined }),
      remoteAddr: fc.option(varBytes(18), { nil: undefined }),
      unknownTlvs: unknownTlvs([1n, 3n])
    })
    .map((f): Message => ({ _tag: "Init", ...f })),
  fc
    .record({
      tag: fc.constantFrom("Error" as const, "Warning" as const),
      channelId: bytes(32),
      data: varBytes(60),
      unknownTlvs: unknownTlvs([])
    })
    .map(({ tag, ...f }): Message => ({ _tag: tag, ...f })),
  fc
    .record({ numPongBytes: u16, ignored: varBytes(30), ext: optionalExtension })
    .map(({ ext, ...f }): Message => withExtension({ _tag: "Ping" as const, ...f }, ext)),
  fc.record({ ignored: varBytes(30), ext: optionalExtension }).map(({ ext, ignored }): Message =>
    withExtension({ _tag: "Pong" as const, ignored }, ext)
  ),
  fc
    .record({
      nodeSignature1: bytes(64),
      nodeSignature2: bytes(64),
      bitcoinSignature1: bytes(64),
      bitcoinSignature2: bytes(64),
      features: varBytes(6),
      chainHash: bytes(32),
      shortChannelId: u64,
      nodeId1: bytes(33),
      nodeId2: bytes(33),
      bitcoinKey1: bytes(33),
      bitcoinKey2: bytes(33),
      trailing: varBytes(10)
    })
    .map((f): Message => ({ _tag: "ChannelAnnouncement", ...f, raw: new Uint8Array(0) })),
  fc
    .record({
      signature: bytes(64),
      features: varBytes(6),
      timestamp: u32,
      nodeId: bytes(33),
      rgbColor: bytes(3),
      alias: bytes(32),
      addressBytes: addressField,
      trailing: varBytes(10)
    })
    .map((f): Message => ({
      _tag: "NodeAnnouncement",
      ...f,
      addresses: Either.getOrThrow(decodeAddresses(f.addressBytes)),
      raw: new Uint8Array(0)
    })),
  fc
    .record({
      signature: bytes(64),
      chainHash: bytes(32),
      shortChannelId: u64,
      timestamp: u32,
      messageFlags: u8,
      channelFlags: u8,
      cltvExpiryDelta: u16,
      htlcMinimumMsat: u64,
      feeBaseMsat: u32,
      feeProportionalMillionths: u32,
      max: u64,
      trailing: varBytes(10)
    })
    .map(({ max, ...f }): Message => ({
      _tag: "ChannelUpdate",
      ...f,
      htlcMaximumMsat: f.messageFlags & 1 ? max : undefined,
      raw: new Uint8Array(0)
    })),
  fc
    .record({
      chainHash: bytes(32),
      shortIds,
      withFlags: fc.boolean(),
      flags: fc.array(bigsize, { maxLength: 30 }),
      unknownTlvs: unknownTlvs([1n])
    })
    .map(({ withFlags, flags, ...f }): Message => ({
      _tag: "QueryShortChannelIds",
      ...f,
      queryFlags: withFlags
        ? { encoding: 0, flags: f.shortIds.ids.map((_, i) => flags[i % Math.max(flags.length, 1)] ?? 0n) }
        : undefined
    })),
  fc
    .record({ chainHash: bytes(32), fullInformation: u8, ext: optionalExtension })
    .map(({ ext, ...f }): Message => withExtension({ _tag: "ReplyShortChannelIdsEnd" as const, ...f }, ext)),
  fc
    .record({
      chainHash: bytes(32),
      firstBlocknum: u32,
      numberOfBlocks: u32,
      queryOption: fc.option(bigsize, { nil: undefined }),
      unknownTlvs: unknownTlvs([1n])
    })
    .map((f): Message => ({ _tag: "QueryChannelRange", ...f })),
  fc
    .record({
      chainHash: bytes(32),
      firstBlocknum: u32,
      numberOfBlocks: u32,
      syncComplete: u8,
      shortIds,
      withTimestamps: fc.boolean(),
      withChecksums: fc.boolean(),
      values: fc.array(u32, { minLength: 120, maxLength: 120 }),
      unknownTlvs: unknownTlvs([1n, 3n])
    })
    .map(({ withTimestamps, withChecksums, values, ...f }): Message => ({
      _tag: "ReplyChannelRange",
      ...f,
      timestamps: withTimestamps
        ? {
          encoding: 0,
          entries: f.shortIds.ids.map((_, i) => ({ timestamp1: values[2 * i], timestamp2: values[2 * i + 1] }))
        }
        : undefined,
      checksums: withChecksums
        ? f.shortIds.ids.map((_, i) => ({ checksum1: values[119 - 2 * i], checksum2: values[118 - 2 * i] }))
        : undefined
    })),
  fc
    .record({ chainHash: bytes(32), firstTimestamp: u32, timestampRange: u32, ext: optionalExtension })
    .map(({ ext, ...f }): Message => withExtension({ _tag: "GossipTimestampFilter" as const, ...f }, ext)),
  fc.record({ type: ODD_UNKNOWN_TYPES, payload: varBytes(40) }).map((f): Message => ({ _tag: "UnknownMessage", ...f }))
)

const decodeOk = (b: Uint8Array): Message => Either.getOrThrow(decodeMessage(b))

/** Total decoding: a Message (which re-encodes to the input) or a DecodeError inside the input. */
const checkTotal = (input: Uint8Array): void => {
  const r = decodeMessage(input)
  if (Either.isRight(r)) {
    expect(Buffer.from(encodeMessage(r.right)).equals(Buffer.from(input))).toBe(true)
  } else {
    expect(r.left).toBeInstanceOf(DecodeError)
    expect(r.left.reason.startsWith("internal")).toBe(false)
    expect(r.left.offset).toBeGreaterThanOrEqual(0)
    expect(r.left.offset).toBeLessThanOrEqual(input.length)
  }
}

const validMessages: ReadonlyArray<Uint8Array> = [
  ...readFileSync(path.join(vectorsDir, "real-gossip", "messages.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => fromHex((JSON.parse(l) as { hex: string }).hex)),
  ...(JSON.parse(readFileSync(path.join(vectorsDir, "bolt07-extended-queries.json"), "utf8")) as Array<{ hex: string }>)
    .map((v) => fromHex(v.hex))
]

describe("Codec properties", () => {
  it("BOLT 1/7: every message type round-trips value -> bytes -> equal value -> identical bytes", () => {
    const seen = new Set<string>()
    fc.assert(
      fc.property(message, (m) => {
        seen.add(m._tag)
        const wire = encodeMessage(m)
        const decoded = decodeOk(wire)
        expect(decoded).toEqual(isGossipMessage(m) ? { ...m, raw: wire } : m)
        expect(Buffer.from(encodeMessage(decoded)).equals(Buffer.from(wire))).toBe(true)
      }),
      { seed: SEED, numRuns: 1500 }
    )
    expect(seen.size).toBe(14)
  })

  it("decodeOwnedMessage decodes as decodeMessage does, keeping the handed-over bytes themselves (no copy)", () => {
    fc.assert(
      fc.property(message, (m) => {
        const wire = encodeMessage(m)
        const copied = decodeOk(wire)
        const owned = decodeOwnedMessage(wire)
        if (Either.isLeft(owned)) throw owned.left
        expect(owned.right).toEqual(copied)
        if (isGossipMessage(owned.right)) {
          expect(owned.right.raw).toBe(wire)
          if (isGossipMessage(copied)) expect(copied.raw.buffer).not.toBe(wire.buffer)
        }
      }),
      { seed: SEED, numRuns: 300 }
    )
  })

  it("BOLT 7: parsed node addresses re-encode to their descriptors (IPv6 and Tor v3 text forms are lossless)", () => {
    fc.assert(
      fc.property(addressField, (field) => {
        const addresses: ReadonlyArray<NodeAddress> = Either.getOrThrow(decodeAddresses(field))
        expect(Buffer.from(encodeAddresses(addresses)).equals(Buffer.from(field))).toBe(true)
      }),
      { seed: SEED, numRuns: 300 }
    )
  })

  it("BOLT 7: scanning an addresses field agrees with decoding it (malformed, DNS hostname count, ASCII), valid or cut", () => {
    const field = fc.oneof(
      addressField,
      // cut anywhere or followed by junk: truncated descriptors, unknown types, bad DNS lengths
      fc.tuple(addressField, fc.nat(), fc.uint8Array({ maxLength: 8 })).map(([f, cut, junk]) =>
        Uint8Array.from([...f.subarray(0, cut % (f.length + 1)), ...junk])
      )
    )
    fc.assert(
      fc.property(field, (bytes) => {
        const decoded = decodeAddresses(bytes)
        const scan = scanAddresses(bytes)
        if (Either.isLeft(decoded)) {
          expect(scan).toBeUndefined()
          return
        }
        const dns = decoded.right.flatMap((a) => (a._tag === "DnsHostname" ? [a.hostname] : []))
        expect(scan).toEqual({ dnsHostnames: dns.length, asciiHostnames: dns.every((h) => !/[\u0080-\uffff]/.test(h)) })
      }),
      { seed: SEED, numRuns: 1000 }
    )
  })

  it("BOLT 1: TLV streams round-trip and reject any reordering of two distinct records", () => {
    fc.assert(
      fc.property(unknownTlvs([]), (records) => {
        const wire = Tlv.encodeStream(records)
        expect(Either.getOrThrow(Tlv.decodeStream(wire))).toEqual(records)
        if (records.length >= 2) {
          const swapped = Buffer.concat([Tlv.encodeStream([records[1]]), Tlv.encodeStream([records[0]])])
          expect(Either.isLeft(Tlv.decodeStream(swapped))).toBe(true)
        }
      }),
      { seed: SEED, numRuns: 300 }
    )
  })

  it("decoding random bytes (random and known type prefixes) never throws; accepted input re-encodes exactly", () => {
    const known = Object.values(MessageType)
    const input = fc.tuple(fc.oneof(fc.constantFrom(...known), u16), fc.uint8Array({ maxLength: 300 })).map((
      [t, body]
    ) => Uint8Array.from([t >> 8, t & 0xff, ...body]))
    fc.assert(fc.property(fc.oneof(input, fc.uint8Array({ maxLength: 3 })), (b) => checkTotal(b)), {
      seed: SEED,
      numRuns: 2000
    })
  })

  it("every truncation and single-bit flip of the real and extended-query vectors decodes totally", () => {
    let rejected = 0
    for (const m of validMessages) {
      for (let n = 0; n < m.length; n++) {
        const cut = m.subarray(0, n)
        checkTotal(cut)
        if (Either.isLeft(decodeMessage(cut))) rejected++
      }
    }
    // truncating inside the fixed fields of a message must be rejected (only trailing / TLV-free tails may go)
    expect(rejected).toBeGreaterThan(validMessages.length * 100)
    fc.assert(
      fc.property(fc.constantFrom(...validMessages), fc.nat(), fc.integer({ min: 0, max: 7 }), (m, at, bit) => {
        const flipped = m.slice()
        flipped[at % m.length] ^= 1 << bit
        checkTotal(flipped)
      }),
      { seed: SEED, numRuns: 1500 }
    )
  })
})
