/**
 * BOLT 1 BigSize: bitcoin's CompactSize with big-endian multi-byte values. Used for TLV types and lengths and for
 * `query_flags` entries. Decoding enforces minimal encoding (BOLT 1: "decoded bigsize is not canonical" otherwise),
 * so every value has exactly one encoding and re-encoding a decoded stream is byte-identical.
 */
import { Data, Either } from "effect"

export const MAX: bigint = 0xffff_ffff_ffff_ffffn

export type BigSizeFailure = "EOF" | "unexpected EOF" | "not canonical"

export class BigSizeError extends Data.TaggedError("BigSizeError")<{
  readonly offset: number
  readonly reason: BigSizeFailure
}> {}

/** A decoded value and the offset just past it. */
export interface BigSizeRead {
  readonly value: bigint
  readonly next: number
}

/**
 * Allocation-free reader for the codecs: the value and next offset, or the failure reason.
 * `end` bounds the read (a TLV stream inside a message must not read past the stream).
 */
export const read = (bytes: Uint8Array, offset: number, end: number = bytes.length): BigSizeRead | BigSizeFailure => {
  if (offset >= end) return "EOF"
  const first = bytes[offset]
  if (first < 0xfd) return { value: BigInt(first), next: offset + 1 }
  if (first === 0xfd) {
    if (offset + 3 > end) return "unexpected EOF"
    const v = (bytes[offset + 1] << 8) | bytes[offset + 2]
    if (v < 0xfd) return "not canonical"
    return { value: BigInt(v), next: offset + 3 }
  }
  if (first === 0xfe) {
    if (offset + 5 > end) return "unexpected EOF"
    const v = ((bytes[offset + 1] << 24) >>> 0) +
      ((bytes[offset + 2] << 16) | (bytes[offset + 3] << 8) | bytes[offset + 4])
    if (v < 0x10000) return "not canonical"
    return { value: BigInt(v), next: offset + 5 }
  }
  if (offset + 9 > end) return "unexpected EOF"
  let v = 0n
  for (let i = 1; i <= 8; i++) v = (v << 8n) | BigInt(bytes[offset + i])
  if (v < 0x1_0000_0000n) return "not canonical"
  return { value: v, next: offset + 9 }
}

export const decode = (bytes: Uint8Array, offset = 0): Either.Either<BigSizeRead, BigSizeError> => {
  const r = read(bytes, offset)
  return typeof r === "string" ? Either.left(new BigSizeError({ offset, reason: r })) : Either.right(r)
}

/** 1, 3, 5 or 9. Throws RangeError outside 0..2^64-1 (a programming error, never peer input). */
export const encodedLength = (value: bigint): number => {
  if (value < 0n || value > MAX) throw new RangeError(`BigSize out of range: ${value}`)
  return value < 0xfdn ? 1 : value < 0x10000n ? 3 : value < 0x1_0000_0000n ? 5 : 9
}

/** Writes the minimal encoding at `offset`; returns the offset just past it. Caller sized `out`. */
export const write = (value: bigint, out: Uint8Array, offset: number): number => {
  const len = encodedLength(value)
  if (len === 1) {
    out[offset] = Number(value)
    return offset + 1
  }
  out[offset] = len === 3 ? 0xfd : len === 5 ? 0xfe : 0xff
  let v = value
  for (let i = len - 1; i >= 1; i--) {
    out[offset + i] = Number(v & 0xffn)
    v >>= 8n
  }
  return offset + len
}

export const encode = (value: bigint): Uint8Array => {
  const out = new Uint8Array(encodedLength(value))
  write(value, out, 0)
  return out
}
