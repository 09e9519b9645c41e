/**
 * BOLT 7 channel_update checksum for extended queries (`checksums_tlv`): CRC32C (RFC 3720) of the update without
 * its signature and timestamp. Computed from the raw wire bytes like Core Lightning does, so bytes after the known
 * fields (future extensions, covered by the signature) change the checksum too.
 */
import { crc32c } from "@node-rs/crc32"

const TYPE_LEN = 2
const SIG_LEN = 64
const CHAIN_AND_SCID_LEN = 32 + 8
const TIMESTAMP_LEN = 4
const HEAD = TYPE_LEN + SIG_LEN
const TAIL = HEAD + CHAIN_AND_SCID_LEN + TIMESTAMP_LEN

/** Checksum of a raw `channel_update` wire message (type included). Caller guarantees a decoded update. */
export const channelUpdateChecksum = (raw: Uint8Array): number => {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
  const first = crc32c(buf.subarray(HEAD, HEAD + CHAIN_AND_SCID_LEN))
  return crc32c(buf.subarray(TAIL), first) >>> 0
}
