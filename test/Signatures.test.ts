/**
 * BOLT 7 signature hashing, verification and the signing helpers. Keys are fixed (derived from a counter) so runs
 * are reproducible.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { createHash } from "node:crypto"
import secp256k1 from "secp256k1"
import * as Chain from "../src/domain/Chain.js"
import { decodeMessage, encodeMessage } from "../src/domain/Codec.js"
import * as Features from "../src/domain/Features.js"
import { toHex } from "../src/domain/Hex.js"
import * as Scid from "../src/domain/ShortChannelId.js"
import * as Sig from "../src/domain/Signatures.js"

const key = (n: number): Uint8Array => createHash("sha256").update(`lnsync test key ${n}`).digest()
const [k1, k2, b1, b2, other] = [1, 2, 3, 4, 5].map(key)
const [n1, n2] = [Sig.publicKeyOf(k1), Sig.publicKeyOf(k2)].sort((a, b) => Buffer.compare(a, b))
const nodeKey = (pub: Uint8Array) => (toHex(pub) === toHex(Sig.publicKeyOf(k1)) ? k1 : k2)

const annFields: Sig.ChannelAnnouncementFields = {
  features: Features.fromBits([]),
  chainHash: Chain.BITCOIN_MAINNET,
  shortChannelId: Scid.make(800_000, 12, 1),
  nodeId1: n1,
  nodeId2: n2,
  bitcoinKey1: Sig.publicKeyOf(b1),
  bitcoinKey2: Sig.publicKeyOf(b2),
  trailing: Uint8Array.of(0xca, 0xfe)
}

const updateFields: Sig.ChannelUpdateFields = {
  chainHash: Chain.BITCOIN_MAINNET,
  shortChannelId: Scid.make(800_000, 12, 1),
  timestamp: 1_700_000_000,
  messageFlags: 1,
  channelFlags: 0,
  cltvExpiryDelta: 144,
  htlcMinimumMsat: 1000n,
  feeBaseMsat: 1000,
  feeProportionalMillionths: 100,
  htlcMaximumMsat: 990_000_000n
}

const nodeFields: Sig.NodeAnnouncementFields = {
  features: Features.fromBits([Features.GOSSIP_QUERIES.odd]),
  timestamp: 1_700_000_000,
  nodeId: n1,
  rgbColor: Uint8Array.of(1, 2, 3),
  alias: new Uint8Array(32).fill(0x41),
  addresses: [
    { _tag: "IPv4", address: "203.0.113.7", port: 9735 },
    { _tag: "IPv6", address: "2001:db8::1", port: 9735 },
    { _tag: "TorV3", onion: `${"a".repeat(55)}q.onion`, port: 9735 },
    { _tag: "DnsHostname", hostname: "node.example.com", port: 9735 }
  ]
}

const N = BigInt("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")

/** The malleated twin of a low-S signature: (r, n - s). */
const highS = (sig: Uint8Array): Uint8Array => {
  const s = BigInt(`0x${toHex(sig.subarray(32))}`)
  const out = sig.slice()
  out.set(Buffer.from((N - s).toString(16).padStart(64, "0"), "hex"), 32)
  return out
}

describe("Signatures", () => {
  it("BOLT 7: signChannelAnnouncement gives a decodable message whose four signatures verify", () => {
    const ann = Sig.signChannelAnnouncement(annFields, nodeKey(n1), nodeKey(n2), b1, b2)
    expect(toHex(encodeMessage(ann))).toBe(toHex(ann.raw))
    const decoded = Either.getOrThrow(decodeMessage(ann.raw))
    expect(decoded).toEqual(ann)
    expect(Sig.verifyChannelAnnouncement(ann)).toEqual({ ok: true, failed: [] })
  })

  it("BOLT 7: a channel_announcement signed with a wrong key names exactly the failing signature", () => {
    const wrongNode2 = Sig.signChannelAnnouncement(annFields, nodeKey(n1), other, b1, b2)
    expect(Sig.verifyChannelAnnouncement(wrongNode2)).toEqual({ ok: false, failed: ["nodeSignature2"] })
    const wrongBtc1 = Sig.signChannelAnnouncement(annFields, nodeKey(n1), nodeKey(n2), other, b2)
    expect(Sig.verifyChannelAnnouncement(wrongBtc1)).toEqual({ ok: false, failed: ["bitcoinSignature1"] })
  })

  it("BOLT 7: signNodeAnnouncement verifies with its key and fails with another", () => {
    const na = Sig.signNodeAnnouncement(nodeFields, nodeKey(n1))
    const decoded = Either.getOrThrow(decodeMessage(na.raw))
    expect(decoded).toEqual(na)
    expect(Sig.verifyNodeAnnouncement(na)).toBe(true)
    expect(Sig.verifyNodeAnnouncement(Sig.signNodeAnnouncement(nodeFields, other))).toBe(false)
  })

  it("BOLT 7: signChannelUpdate verifies against the signer's node id only", () => {
    const cu = Sig.signChannelUpdate(updateFields, nodeKey(n1))
    expect(Either.getOrThrow(decodeMessage(cu.raw))).toEqual(cu)
    expect(Sig.verifyChannelUpdate(cu, n1)).toBe(true)
    expect(Sig.verifyChannelUpdate(cu, n2)).toBe(false)
  })

  it("BOLT 7: the signed data starts after the signatures (4 for channel_announcement, 1 otherwise), trailing bytes included", () => {
    const ann = Sig.signChannelAnnouncement(annFields, nodeKey(n1), nodeKey(n2), b1, b2)
    const expected = createHash("sha256").update(createHash("sha256").update(ann.raw.subarray(258)).digest()).digest()
    expect(toHex(Sig.signedHash("ChannelAnnouncement", ann.raw))).toBe(expected.toString("hex"))
    // bytes inside the signatures do not change the hash; the last (trailing) byte does
    const inSig = ann.raw.slice()
    inSig[257] ^= 1
    expect(toHex(Sig.signedHash("ChannelAnnouncement", inSig))).toBe(expected.toString("hex"))
    const inTrailing = ann.raw.slice()
    inTrailing[inTrailing.length - 1] ^= 1
    expect(toHex(Sig.signedHash("ChannelAnnouncement", inTrailing))).not.toBe(expected.toString("hex"))

    const cu = Sig.signChannelUpdate(updateFields, k1)
    const cuHash = createHash("sha256").update(createHash("sha256").update(cu.raw.subarray(66)).digest()).digest()
    expect(toHex(Sig.signedHash("ChannelUpdate", cu.raw))).toBe(cuHash.toString("hex"))
  })

  it("SignedHasher gives signedHash's bytes for every kind, each hash kept intact across slabs", () => {
    const ann = Sig.signChannelAnnouncement(annFields, nodeKey(n1), nodeKey(n2), b1, b2)
    const cu = Sig.signChannelUpdate(updateFields, k1)
    const na = Sig.signNodeAnnouncement(nodeFields, nodeKey(n1))
    const msgs = [ann, cu, na, cu, ann, na, na]
    const hasher = new Sig.SignedHasher(2) // 7 hashes: four slabs
    const hashes = msgs.map((m) => hasher.hash(m._tag, m.raw))
    // checked only after all were made: a later hash never overwrites an earlier one
    msgs.forEach((m, i) => expect(toHex(hashes[i])).toBe(toHex(Sig.signedHash(m._tag, m.raw))))
    expect(new Set(hashes.slice(0, 3).map(toHex)).size).toBe(3)
  })

  it("libsecp256k1 signs low-S and verification rejects the high-S twin (BOLT 7 / lnd / CLN reject malleated sigs)", () => {
    const cu = Sig.signChannelUpdate(updateFields, nodeKey(n1))
    const hash = Sig.signedHash("ChannelUpdate", cu.raw)
    expect(toHex(secp256k1.signatureNormalize(cu.signature.slice()))).toBe(toHex(cu.signature)) // already low-S
    const malleated = highS(cu.signature)
    expect(toHex(malleated)).not.toBe(toHex(cu.signature))
    expect(Sig.verifySignature(hash, malleated, n1)).toBe(false)
    expect(secp256k1.ecdsaVerify(malleated, hash, n1)).toBe(false)
    expect(Sig.verifySignature(hash, secp256k1.signatureNormalize(malleated), n1)).toBe(true)
  })

  it("unparsable keys and signatures are invalid (false), never an exception", () => {
    const cu = Sig.signChannelUpdate(updateFields, k1)
    const hash = Sig.signedHash("ChannelUpdate", cu.raw)
    const offCurve = new Uint8Array(33).fill(0xff)
    offCurve[0] = 0x02
    expect(Sig.verifySignature(hash, cu.signature, offCurve)).toBe(false)
    expect(Sig.verifySignature(hash, new Uint8Array(64).fill(0xff), n1)).toBe(false) // r, s >= n
    expect(Sig.verifySignature(hash, cu.signature, n1.subarray(0, 32))).toBe(false)
    expect(Sig.verifySignature(hash.subarray(1), cu.signature, n1)).toBe(false)
  })
})
