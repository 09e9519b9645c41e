/**
 * Codec bench (`npm run bench:codec`): decode + re-encode throughput per message type on a realistic, freshly
 * signed mix (2,000 channel_announcements, 4,000 channel_updates, 1,000 node_announcements, reply_channel_range
 * with 8,000 scids and with timestamps+checksums, queries), then signature verifies/s through Signatures.ts against
 * raw `secp256k1.ecdsaVerify` on the same (hash, sig, key) triples in the same run (the floor).
 *
 * Last line: `codec: decode <N> msg/s; verify <R>× of raw`.
 */
import { Either } from "effect"
import { createHash } from "node:crypto"
import secp256k1 from "secp256k1"
import * as Chain from "../src/domain/Chain.js"
import { decodeMessage, encodeMessage } from "../src/domain/Codec.js"
import * as Features from "../src/domain/Features.js"
import type { Message, NodeAddress, ReplyChannelRange } from "../src/domain/Messages.js"
import * as Scid from "../src/domain/ShortChannelId.js"
import * as Sig from "../src/domain/Signatures.js"

const started = performance.now()

// --- deterministic inputs --------------------------------------------------------------------------------------
let state = 0x2545f491
const rand = (n: number): number => {
  // xorshift32: reproducible mixes without Math.random
  state ^= state << 13
  state ^= state >>> 17
  state ^= state << 5
  return (state >>> 0) % n
}
const key = (label: string, i: number) => createHash("sha256").update(`lnsync bench ${label} ${i}`).digest()
const NODES = 1000
const nodeKeys = Array.from({ length: NODES }, (_, i) => key("node", i))
const nodeIds = nodeKeys.map(Sig.publicKeyOf)
const btcKeys = Array.from({ length: 64 }, (_, i) => key("btc", i))
const btcIds = btcKeys.map(Sig.publicKeyOf)
const now = 1_750_000_000

const anns = Array.from({ length: 2000 }, (_, i) => {
  let a = rand(NODES)
  let b = rand(NODES - 1)
  if (b >= a) b++
  if (Buffer.compare(nodeIds[a], nodeIds[b]) > 0) [a, b] = [b, a] // BOLT 7: node_id_1 < node_id_2
  const [x, y] = [rand(64), rand(64)]
  return {
    nodes: [a, b] as const,
    message: Sig.signChannelAnnouncement(
      {
        features: Features.empty,
        chainHash: Chain.BITCOIN_MAINNET,
        shortChannelId: Scid.make(600_000 + i, rand(3000), rand(4)),
        nodeId1: nodeIds[a],
        nodeId2: nodeIds[b],
        bitcoinKey1: btcIds[x],
        bitcoinKey2: btcIds[y]
      },
      nodeKeys[a],
      nodeKeys[b],
      btcKeys[x],
      btcKeys[y]
    )
  }
})

const updates = anns.flatMap(({ nodes, message }) =>
  [0, 1].map((direction) => ({
    signer: nodeIds[nodes[direction]],
    message: Sig.signChannelUpdate(
      {
        chainHash: Chain.BITCOIN_MAINNET,
        shortChannelId: message.shortChannelId,
        timestamp: now - rand(86_400 * 14),
        messageFlags: 1,
        channelFlags: direction,
        cltvExpiryDelta: 40 + rand(100),
        htlcMinimumMsat: BigInt(rand(1000)),
        feeBaseMsat: rand(2000),
        feeProportionalMillionths: rand(5000),
        htlcMaximumMsat: BigInt(1_000_000 + rand(1_000_000_000))
      },
      nodeKeys[nodes[direction]]
    )
  }))
)

const nodeAnns = nodeKeys.map((k, i) => {
  const addresses: Array<NodeAddress> = [{ _tag: "IPv4", address: `10.${i >> 8}.${i & 0xff}.${rand(256)}`, port: 9735 }]
  if (i % 3 === 0) addresses.push({ _tag: "IPv6", address: `2001:db8::${i.toString(16)}`, port: 9735 })
  if (i % 4 === 0) addresses.push({ _tag: "TorV3", onion: `${"abcdefgh".repeat(7)}.onion`, port: 9735 })
  return Sig.signNodeAnnouncement(
    {
      features: Features.fromBits([
        Features.OPTION_DATA_LOSS_PROTECT.odd,
        Features.GOSSIP_QUERIES.odd,
        Features.VAR_ONION_OPTIN.even
      ]),
      timestamp: now - rand(86_400),
      nodeId: nodeIds[i],
      rgbColor: Uint8Array.of(rand(256), rand(256), rand(256)),
      alias: Buffer.from(`bench-node-${i}`.padEnd(32, "\0")),
      addresses
    },
    k
  )
})

const scids = (n: number, from: number) => Array.from({ length: n }, (_, i) => Scid.make(from + (i >> 4), i & 15, 0))

const replies: Array<ReplyChannelRange> = [
  ...Array.from({ length: 10 }, (_, i): ReplyChannelRange => ({
    _tag: "ReplyChannelRange",
    chainHash: Chain.BITCOIN_MAINNET,
    firstBlocknum: 600_000 + i * 1000,
    numberOfBlocks: 1000,
    syncComplete: 1,
    shortIds: { encoding: 0, ids: scids(8000, 600_000 + i * 1000) },
    timestamps: undefined,
    checksums: undefined,
    unknownTlvs: []
  })),
  ...Array.from({ length: 10 }, (_, i): ReplyChannelRange => ({
    _tag: "ReplyChannelRange",
    chainHash: Chain.BITCOIN_MAINNET,
    firstBlocknum: 700_000 + i * 1000,
    numberOfBlocks: 1000,
    syncComplete: 1,
    shortIds: { encoding: 0, ids: scids(2000, 700_000 + i * 1000) },
    timestamps: {
      encoding: 0,
      entries: Array.from({ length: 2000 }, () => ({ timestamp1: now - rand(99_999), timestamp2: now - rand(99_999) }))
    },
    checksums: Array.from({ length: 2000 }, () => ({ checksum1: rand(2 ** 31), checksum2: rand(2 ** 31) })),
    unknownTlvs: []
  }))
]

const queries: Array<Message> = Array.from({ length: 200 }, (_, i): Message => ({
  _tag: "QueryShortChannelIds",
  chainHash: Chain.BITCOIN_MAINNET,
  shortIds: { encoding: 0, ids: scids(500, 600_000 + i * 40) },
  queryFlags: { encoding: 0, flags: Array.from({ length: 500 }, () => BigInt(1 + rand(31))) },
  unknownTlvs: []
}))

const mix: Array<{ type: string; wire: Uint8Array }> = [
  ...anns.map((a) => ({ type: "channel_announcement", wire: a.message.raw })),
  ...updates.map((u) => ({ type: "channel_update", wire: u.message.raw })),
  ...nodeAnns.map((n) => ({ type: "node_announcement", wire: n.raw })),
  ...replies.map((m) => ({
    type: m.shortIds.ids.length === 8000 ? "reply_channel_range 8000" : "reply_channel_range +ts+cs",
    wire: encodeMessage(m)
  })),
  ...queries.map((m) => ({ type: "query_short_channel_ids 500+flags", wire: encodeMessage(m) }))
]
const generatedMs = performance.now() - started

// correctness first: everything decodes and re-encodes byte-identically
for (const { type, wire } of mix) {
  const r = decodeMessage(wire)
  if (Either.isLeft(r) || !Buffer.from(encodeMessage(r.right)).equals(wire)) {
    throw new Error(`round trip failed for ${type}`)
  }
}

/** Runs `pass` until `budgetMs` has elapsed; returns items per second. */
const rate = (items: number, budgetMs: number, pass: () => void): number => {
  pass() // warm-up
  let n = 0
  const t0 = performance.now()
  let elapsed: number
  do {
    pass()
    n += items
    elapsed = performance.now() - t0
  } while (elapsed < budgetMs)
  return (n / elapsed) * 1000
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

console.log(`generated ${mix.length} signed/encoded messages in ${(generatedMs / 1000).toFixed(1)} s`)
console.log("type                                count   decode msg/s   decode+encode msg/s   MB/s decoded")
let sink = 0
for (const type of [...new Set(mix.map((m) => m.type))]) {
  const wires = mix.filter((m) => m.type === type).map((m) => m.wire)
  const bytes = wires.reduce((s, w) => s + w.length, 0)
  const decodeRate = rate(wires.length, 500, () => {
    for (const w of wires) if (Either.isRight(decodeMessage(w))) sink++
  })
  const roundTripRate = rate(wires.length, 500, () => {
    for (const w of wires) {
      const r = decodeMessage(w)
      if (Either.isRight(r)) sink += encodeMessage(r.right).length
    }
  })
  const mbps = (decodeRate * (bytes / wires.length)) / 1e6
  console.log(
    `${type.padEnd(34)} ${String(wires.length).padStart(6)}   ${fmt(decodeRate).padStart(12)}   ${
      fmt(roundTripRate).padStart(19)
    }   ${mbps.toFixed(0).padStart(12)}`
  )
}

const allWires = mix.map((m) => m.wire)
const mixRate = rate(allWires.length, 2000, () => {
  for (const w of allWires) if (Either.isRight(decodeMessage(w))) sink++
})
console.log(`realistic mix (${allWires.length} messages): decode ${fmt(mixRate)} msg/s`)

// --- signatures: the same triples through Signatures.ts and through the raw binding ---------------------------
const triples: Array<{ hash: Uint8Array; sig: Uint8Array; key: Uint8Array }> = [
  ...updates.map(({ message, signer }) => ({
    hash: Sig.signedHash("ChannelUpdate", message.raw),
    sig: message.signature,
    key: signer
  })),
  ...anns.map(({ message }) => ({
    hash: Sig.signedHash("ChannelAnnouncement", message.raw),
    sig: message.nodeSignature1,
    key: message.nodeId1
  })),
  ...nodeAnns.map((n) => ({ hash: Sig.signedHash("NodeAnnouncement", n.raw), sig: n.signature, key: n.nodeId }))
]
for (const t of triples) {
  if (!Sig.verifySignature(t.hash, t.sig, t.key)) throw new Error("generated signature does not verify")
}

const ours = () => {
  for (const t of triples) if (Sig.verifySignature(t.hash, t.sig, t.key)) sink++
}
const raw = () => {
  for (const t of triples) if (secp256k1.ecdsaVerify(t.sig, t.hash, t.key)) sink++
}
// interleaved rounds, best of each, so machine noise hits both sides alike
let bestOurs = 0
let bestRaw = 0
for (let round = 0; round < 3; round++) {
  bestRaw = Math.max(bestRaw, rate(triples.length, 700, raw))
  bestOurs = Math.max(bestOurs, rate(triples.length, 700, ours))
}
const fullPath = rate(updates.length, 700, () => {
  for (const u of updates) if (Sig.verifyChannelUpdate(u.message, u.signer)) sink++
})
console.log(
  `verify (${triples.length} triples): Signatures.verifySignature ${fmt(bestOurs)}/s, raw ecdsaVerify ${fmt(bestRaw)}/s`
)
console.log(`verifyChannelUpdate incl. double SHA-256 of raw: ${fmt(fullPath)}/s`)
console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s (checksum ${sink % 10})`)
console.log(`codec: decode ${Math.round(mixRate)} msg/s; verify ${(bestOurs / bestRaw).toFixed(2)}× of raw`)
