/**
 * The 44 real signed gossip messages (test/vectors/real-gossip): decode, byte-identical re-encoding, fields as
 * recorded, and BOLT 7 signatures over the raw bytes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { encodeAddresses } from "../src/domain/Addresses.js"
import * as Chain from "../src/domain/Chain.js"
import { decodeMessage, encodeMessage } from "../src/domain/Codec.js"
import { fromHex, toHex } from "../src/domain/Hex.js"
import type { ChannelAnnouncement, GossipMessage, Message } from "../src/domain/Messages.js"
import * as Sig from "../src/domain/Signatures.js"
import { vectorsDir } from "./shared.js"

interface GossipRecord {
  readonly type: "channel_announcement" | "node_announcement" | "channel_update"
  readonly chain: string | null
  readonly hex: string
  readonly scid?: string
  readonly node_id?: string
  readonly node_id_1?: string
  readonly node_id_2?: string
  readonly signer?: string
}

const dir = path.join(vectorsDir, "real-gossip")
const records: ReadonlyArray<GossipRecord> = readFileSync(path.join(dir, "messages.jsonl"), "utf8")
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l) as GossipRecord)

const TAGS = {
  channel_announcement: "ChannelAnnouncement",
  node_announcement: "NodeAnnouncement",
  channel_update: "ChannelUpdate"
} as const

const decodeGossip = (bytes: Uint8Array): GossipMessage => {
  const m: Message = Either.getOrThrow(decodeMessage(bytes))
  if (m._tag !== "ChannelAnnouncement" && m._tag !== "NodeAnnouncement" && m._tag !== "ChannelUpdate") {
    throw new Error(`not gossip: ${m._tag}`)
  }
  return m
}

const announcements = new Map<string, ChannelAnnouncement>()
for (const r of records) {
  if (r.type === "channel_announcement") {
    const m = decodeGossip(fromHex(r.hex))
    if (m._tag === "ChannelAnnouncement") announcements.set(m.shortChannelId.toString(16).padStart(16, "0"), m)
  }
}

/** BOLT 7: the update's direction bit picks node_id_1 (0) or node_id_2 (1) of its channel's announcement. */
const signerOf = (r: GossipRecord, m: GossipMessage): Uint8Array => {
  if (m._tag !== "ChannelUpdate") throw new Error("not an update")
  const ann = announcements.get(r.scid!)
  if (ann !== undefined) return m.channelFlags & 1 ? ann.nodeId2 : ann.nodeId1
  return fromHex(r.signer!)
}

const verify = (r: GossipRecord, m: GossipMessage): boolean => {
  switch (m._tag) {
    case "ChannelAnnouncement":
      return Sig.verifyChannelAnnouncement(m).ok
    case "NodeAnnouncement":
      return Sig.verifyNodeAnnouncement(m)
    case "ChannelUpdate":
      return Sig.verifyChannelUpdate(m, signerOf(r, m))
  }
}

describe("real gossip vectors", () => {
  it("holds 44 messages; messages.bin frames the same bytes in the same order", () => {
    expect(records.length).toBe(44)
    const bin = readFileSync(path.join(dir, "messages.bin"))
    const framed: Array<string> = []
    for (let pos = 0; pos < bin.length;) {
      const len = bin.readUInt16BE(pos)
      framed.push(bin.subarray(pos + 2, pos + 2 + len).toString("hex"))
      pos += 2 + len
    }
    expect(framed).toEqual(records.map((r) => r.hex))
  })

  records.forEach((r, i) => {
    it(`BOLT 7: #${i} ${r.type} decodes to the recorded fields and re-encodes byte-identically`, () => {
      const bytes = fromHex(r.hex)
      const m = decodeGossip(bytes)
      expect(m._tag).toBe(TAGS[r.type])
      expect(toHex(m.raw)).toBe(r.hex)
      expect(toHex(encodeMessage(m))).toBe(r.hex)
      switch (m._tag) {
        case "ChannelAnnouncement":
          expect(Chain.chainName(m.chainHash)).toBe(r.chain)
          expect(m.shortChannelId).toBe(BigInt(`0x${r.scid}`))
          expect(toHex(m.nodeId1)).toBe(r.node_id_1)
          expect(toHex(m.nodeId2)).toBe(r.node_id_2)
          break
        case "NodeAnnouncement":
          expect(toHex(m.nodeId)).toBe(r.node_id)
          // the parsed descriptors re-encode to the raw field (IPv6/Tor v3 text forms are lossless)
          expect(toHex(encodeAddresses(m.addresses))).toBe(toHex(m.addressBytes))
          break
        case "ChannelUpdate":
          expect(Chain.chainName(m.chainHash)).toBe(r.chain)
          expect(m.shortChannelId).toBe(BigInt(`0x${r.scid}`))
          // BOLT 7: htlc_maximum_msat present iff message_flags bit 0; old updates are 130 bytes without it
          expect(m.htlcMaximumMsat !== undefined).toBe((m.messageFlags & 1) === 1)
          if (bytes.length === 130) expect(m.htlcMaximumMsat).toBeUndefined()
          break
      }
    })

    it(`BOLT 7: #${i} ${r.type} signature(s) verify over raw; flipping the last byte fails them`, () => {
      const bytes = fromHex(r.hex)
      const m = decodeGossip(bytes)
      expect(verify(r, m)).toBe(true)

      const flipped = bytes.slice()
      flipped[flipped.length - 1] ^= 0x01
      const kind = m._tag
      const hash = Sig.signedHash(kind, flipped)
      if (m._tag === "ChannelAnnouncement") {
        expect(Sig.verifySignature(hash, m.nodeSignature1, m.nodeId1)).toBe(false)
        expect(Sig.verifySignature(hash, m.bitcoinSignature1, m.bitcoinKey1)).toBe(false)
      } else {
        const key = m._tag === "NodeAnnouncement" ? m.nodeId : signerOf(r, m)
        expect(Sig.verifySignature(hash, m.signature, key)).toBe(false)
      }
      // and through the message-level API whenever the flipped bytes still decode
      const d = decodeMessage(flipped)
      if (Either.isRight(d) && d.right._tag === m._tag) expect(verify(r, d.right as GossipMessage)).toBe(false)
    })
  })

  it("BOLT 7: every channel_update whose announcement is in the set is signed by the node its direction bit names", () => {
    let matched = 0
    for (const r of records) {
      if (r.type !== "channel_update" || !announcements.has(r.scid!)) continue
      const m = decodeGossip(fromHex(r.hex))
      expect(toHex(signerOf(r, m))).toBe(r.signer)
      matched++
    }
    expect(matched).toBe(6)
  })

  it("raw is a copy: reusing the caller's buffer leaves decoded messages intact", () => {
    const buffer = fromHex(records[0].hex)
    const m = decodeGossip(buffer)
    buffer.fill(0)
    expect(toHex(m.raw)).toBe(records[0].hex)
    expect(verify(records[0], m)).toBe(true)
  })
})
