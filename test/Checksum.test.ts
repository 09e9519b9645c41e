import { describe, expect, it } from "@effect/vitest"
import { channelUpdateChecksum } from "../src/domain/Checksum.js"

describe("channelUpdateChecksum (BOLT 7 checksums_tlv)", () => {
  const update = new Uint8Array(2 + 64 + 32 + 8 + 4 + 2 + 2 + 8 + 4 + 4 + 8)
  update[1] = 2 // type 258 = 0x0102
  update[0] = 1
  for (let i = 66; i < update.length; i++) update[i] = i & 0xff

  it("ignores the signature and the timestamp", () => {
    const other = update.slice()
    other[10] ^= 0xff // signature byte
    other[2 + 64 + 40] ^= 0xff // timestamp byte
    expect(channelUpdateChecksum(other)).toBe(channelUpdateChecksum(update))
  })

  it("covers chain hash, scid, policy fields and trailing bytes", () => {
    for (const at of [66, 2 + 64 + 35, 2 + 64 + 44, update.length - 1]) {
      const other = update.slice()
      other[at] ^= 0x01
      expect(channelUpdateChecksum(other)).not.toBe(channelUpdateChecksum(update))
    }
  })

  it("equals a bitwise reference CRC32C over type/signature/timestamp-stripped bytes", () => {
    const reference = (bytes: Uint8Array): number => {
      let crc = 0xffffffff
      for (const b of bytes) {
        crc ^= b
        for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
      }
      return (crc ^ 0xffffffff) >>> 0
    }
    expect(reference(new TextEncoder().encode("123456789"))).toBe(0xe3069283) // RFC 3720 check value
    const covered = new Uint8Array([...update.subarray(66, 106), ...update.subarray(110)])
    expect(channelUpdateChecksum(update)).toBe(reference(covered))
  })
})
