/**
 * Byte helpers shared by the codec, the transport, the pipeline and the syncer: big-endian readers at an offset,
 * equality and order. Plain functions over `Uint8Array`, no allocation, for the hot paths.
 */

/** Big-endian u16 at `at` (the caller has checked the length). */
export const u16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1]

/** Big-endian u32 at `at`, unsigned. */
export const u32 = (b: Uint8Array, at: number): number =>
  ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0

/** Big-endian u64 at `at` (short channel ids). */
export const u64 = (b: Uint8Array, at: number): bigint =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at, false)

/** Same length and same bytes. */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** `field` occurs in `raw` at `at` (false when it would run past the end). */
export const equalAt = (raw: Uint8Array, at: number, field: Uint8Array): boolean => {
  if (at + field.length > raw.length) return false
  for (let i = 0; i < field.length; i++) if (raw[at + i] !== field[i]) return false
  return true
}

/** Lexicographic order of two byte strings (-1, 0, 1). */
export const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}
