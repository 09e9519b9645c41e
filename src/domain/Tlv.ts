/**
 * BOLT 1 TLV streams: `type` and `length` are BigSize, records appear in strictly increasing type order, unknown
 * even types are a failure ("it's OK to be odd"), unknown odd types are skipped by the reader but kept here so the
 * message re-encodes byte-identically (they may be covered by a signature or forwarded verbatim).
 */
import { Data, Either } from "effect"
import * as BigSize from "./BigSize.js"
import type { TlvRecord } from "./Messages.js"

export type { TlvRecord } from "./Messages.js"

export class TlvError extends Data.TaggedError("TlvError")<{
  /** Absolute offset in the buffer given to the decoder. */
  readonly offset: number
  /** The record type concerned, when it was read. */
  readonly recordType: bigint | undefined
  readonly reason: string
}> {}

/** Which types a namespace understands: everything else even fails, everything else odd is kept as unknown. */
export type KnownTypes = ReadonlySet<bigint>

const NONE: KnownTypes = new Set()

/**
 * Decodes `bytes[start, end)` as one TLV stream. Returns every record (known and unknown odd) in wire order; values
 * are subarrays of `bytes` (no copy, no allocation sized by a length field beyond what the input holds).
 */
export const decodeStream = (
  bytes: Uint8Array,
  known: KnownTypes = NONE,
  start = 0,
  end: number = bytes.length
): Either.Either<ReadonlyArray<TlvRecord>, TlvError> => {
  const records: Array<TlvRecord> = []
  let pos = start
  let last = -1n
  while (pos < end) {
    const recordStart = pos
    const t = BigSize.read(bytes, pos, end)
    if (typeof t === "string") {
      return Either.left(new TlvError({ offset: pos, recordType: undefined, reason: `type: ${t}` }))
    }
    const type = t.value
    // BOLT 1: types MUST be strictly increasing (this also rejects duplicates)
    if (type <= last) {
      return Either.left(
        new TlvError({ offset: recordStart, recordType: type, reason: "types not strictly increasing" })
      )
    }
    const l = BigSize.read(bytes, t.next, end)
    if (typeof l === "string") {
      return Either.left(new TlvError({ offset: t.next, recordType: type, reason: `length: ${l}` }))
    }
    if (l.value > BigInt(end - l.next)) {
      return Either.left(new TlvError({ offset: l.next, recordType: type, reason: "value truncated" }))
    }
    // BOLT 1: unknown even type -> MUST fail to parse; unknown odd -> MUST discard (we keep it verbatim)
    if (!known.has(type) && (type & 1n) === 0n) {
      return Either.left(new TlvError({ offset: recordStart, recordType: type, reason: "unknown even type" }))
    }
    const valueEnd = l.next + Number(l.value)
    records.push({ type, value: bytes.subarray(l.next, valueEnd) })
    last = type
    pos = valueEnd
  }
  return Either.right(records)
}

/** Bytes needed for `records` (any order; see `writeStream`). */
export const streamLength = (records: ReadonlyArray<TlvRecord>): number => {
  let n = 0
  for (const r of records) {
    n += BigSize.encodedLength(r.type) + BigSize.encodedLength(BigInt(r.value.length)) + r.value.length
  }
  return n
}

/**
 * Writes `records` sorted by type at `offset`; returns the offset past them. Throws RangeError on a duplicate type
 * (an invalid value, never peer input: decoded streams are strictly increasing).
 */
export const writeStream = (records: ReadonlyArray<TlvRecord>, out: Uint8Array, offset: number): number => {
  const sorted = isSorted(records)
    ? records
    : [...records].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0))
  let pos = offset
  let last = -1n
  for (const r of sorted) {
    if (r.type <= last) throw new RangeError(`duplicate TLV type ${r.type}`)
    last = r.type
    pos = BigSize.write(r.type, out, pos)
    pos = BigSize.write(BigInt(r.value.length), out, pos)
    out.set(r.value, pos)
    pos += r.value.length
  }
  return pos
}

export const encodeStream = (records: ReadonlyArray<TlvRecord>): Uint8Array => {
  const out = new Uint8Array(streamLength(records))
  writeStream(records, out, 0)
  return out
}

const isSorted = (records: ReadonlyArray<TlvRecord>): boolean => {
  for (let i = 1; i < records.length; i++) if (records[i - 1].type >= records[i].type) return false
  return true
}

// ---------------------------------------------------------------------------------------------------------------
// Truncated integers (tu16/tu32/tu64): big-endian with leading zero bytes omitted; BOLT 1 requires minimal form.

export const decodeTu64 = (value: Uint8Array): Either.Either<bigint, string> => {
  if (value.length > 8) return Either.left("longer than 8 bytes")
  if (value.length > 0 && value[0] === 0) return Either.left("not minimally encoded")
  let v = 0n
  for (const b of value) v = (v << 8n) | BigInt(b)
  return Either.right(v)
}

export const decodeTu32 = (value: Uint8Array): Either.Either<number, string> =>
  value.length > 4 ? Either.left("longer than 4 bytes") : Either.map(decodeTu64(value), Number)

export const encodeTu64 = (value: bigint): Uint8Array => {
  if (value < 0n || value > BigSize.MAX) throw new RangeError(`tu64 out of range: ${value}`)
  const out: Array<number> = []
  for (let v = value; v > 0n; v >>= 8n) out.unshift(Number(v & 0xffn))
  return Uint8Array.from(out)
}
