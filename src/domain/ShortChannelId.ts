/**
 * BOLT 7 short_channel_id: 3 bytes block height, 3 bytes transaction index, 2 bytes output index.
 * Held as a `bigint` (block << 40 | tx << 16 | output): it orders like the wire form, keys maps directly and
 * fits SQLite's signed 64-bit INTEGER for every block height below 2^23.
 */
export type ShortChannelId = bigint

export const MAX_BLOCK = 0xffffff
export const MAX_TX_INDEX = 0xffffff
export const MAX_OUTPUT_INDEX = 0xffff

export const make = (block: number, txIndex: number, outputIndex: number): ShortChannelId => {
  if (!Number.isInteger(block) || block < 0 || block > MAX_BLOCK) throw new RangeError(`block out of range: ${block}`)
  if (!Number.isInteger(txIndex) || txIndex < 0 || txIndex > MAX_TX_INDEX) {
    throw new RangeError(`tx index out of range: ${txIndex}`)
  }
  if (!Number.isInteger(outputIndex) || outputIndex < 0 || outputIndex > MAX_OUTPUT_INDEX) {
    throw new RangeError(`output index out of range: ${outputIndex}`)
  }
  return (BigInt(block) << 40n) | (BigInt(txIndex) << 16n) | BigInt(outputIndex)
}

export const blockHeight = (scid: ShortChannelId): number => Number(scid >> 40n)
export const txIndex = (scid: ShortChannelId): number => Number((scid >> 16n) & 0xffffffn)
export const outputIndex = (scid: ShortChannelId): number => Number(scid & 0xffffn)

/** `123x4x5`, the text form used by lnd, CLN and the BOLTs. */
export const format = (scid: ShortChannelId): string => `${blockHeight(scid)}x${txIndex(scid)}x${outputIndex(scid)}`

export const parse = (text: string): ShortChannelId | undefined => {
  const m = /^(\d+)x(\d+)x(\d+)$/.exec(text)
  if (m === null) return undefined
  const [b, t, o] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (b > MAX_BLOCK || t > MAX_TX_INDEX || o > MAX_OUTPUT_INDEX) return undefined
  return make(b, t, o)
}

export const compare = (a: ShortChannelId, b: ShortChannelId): -1 | 0 | 1 => (a < b ? -1 : a > b ? 1 : 0)

/** Reads 8 big-endian bytes at `offset` (caller checks bounds). */
export const read = (bytes: Uint8Array, offset: number): ShortChannelId => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return view.getBigUint64(offset, false)
}

/** Writes 8 big-endian bytes at `offset` (caller checks bounds). */
export const write = (scid: ShortChannelId, bytes: Uint8Array, offset: number): void => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  view.setBigUint64(offset, scid, false)
}
