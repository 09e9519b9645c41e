/**
 * Deterministic synthetic gossip: a graph shape (by default the real mainnet topology) signed with generated keys,
 * so the demo, the end-to-end tests and the benches exchange gossip that passes every BOLT 7 check. Same seed and
 * options, same bytes.
 *
 * Sizes: fewer channels than the shape has → a seeded sample; more → the shape plus extra channels attached by
 * degree (hubs get more, like the real network). Every channel gets one update per direction (a direction the
 * shape marks disabled gets an update with the disable bit), every node a node_announcement with addresses.
 */
import { createHash } from "node:crypto"
import secp256k1 from "secp256k1"
import type {
  ChainHash,
  ChannelAnnouncement,
  ChannelUpdate,
  NodeAddress,
  NodeAnnouncement,
  PublicKey
} from "../domain/Messages.js"
import * as Scid from "../domain/ShortChannelId.js"
import { publicKeyOf, signChannelAnnouncement, signChannelUpdate, signNodeAnnouncement } from "../domain/Signatures.js"
import { prng, syntheticTopology, type Policy, type Topology, type TopologyChannel } from "./Topology.js"

export interface GenerateOptions {
  readonly seed: number
  readonly channels: number
  readonly chainHash: ChainHash
  /** Unix seconds; timestamps fall in the `maxAgeSeconds` before it. */
  readonly now: number
  /** Default 13 days: inside BOLT 7's two-week prune window, spread so horizon queries have work to do. */
  readonly maxAgeSeconds?: number
  /** Default: a seeded synthetic power-law shape. */
  readonly topology?: Topology
}

export interface GeneratedNode {
  readonly privateKey: Uint8Array
  readonly nodeId: PublicKey
}

export interface GeneratedGraph {
  readonly nodes: ReadonlyArray<GeneratedNode>
  /** Ascending by short channel id. */
  readonly channelAnnouncements: ReadonlyArray<ChannelAnnouncement>
  /** Two per channel, in channel order. */
  readonly channelUpdates: ReadonlyArray<ChannelUpdate>
  readonly nodeAnnouncements: ReadonlyArray<NodeAnnouncement>
}

const DEFAULT_POLICY: Policy = {
  htlcMinimumMsat: 1000n,
  htlcMaximumMsat: 0n,
  feeBaseMsat: 1000,
  feeProportionalMillionths: 1,
  cltvExpiryDelta: 144
}
const FIRST_BLOCK = 500_000
const BLOCK_SPAN = 420_000
/** Above every generated channel's block: a best height under which a full range query finds them all. */
export const GENERATED_TIP = FIRST_BLOCK + BLOCK_SPAN + 1
const BASE32 = "abcdefghijklmnopqrstuvwxyz234567"

/** A valid secp256k1 private key derived from a label: SHA-256, re-hashed in the (≈2^-128) case it is out of range. */
export const deriveKey = (label: string): Uint8Array => {
  let key = new Uint8Array(createHash("sha256").update(label).digest())
  while (!secp256k1.privateKeyVerify(key)) key = new Uint8Array(createHash("sha256").update(key).digest())
  return key
}

const compareBytes = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b)

/** The channels of the generated graph, as rows of the shape (sampled, or extended by degree). */
const selectChannels = (shape: Topology, count: number, rand: () => number): ReadonlyArray<TopologyChannel> => {
  const all = shape.channels
  if (count <= all.length) {
    // partial Fisher-Yates over indices, then back to shape order so neighbouring rows stay neighbours
    const idx = Array.from(all.keys())
    for (let i = 0; i < count; i++) {
      const j = i + Math.floor(rand() * (idx.length - i))
      const t = idx[i] as number
      idx[i] = idx[j] as number
      idx[j] = t
    }
    return idx.slice(0, count).sort((a, b) => a - b).map((i) => all[i] as TopologyChannel)
  }
  const out = all.slice()
  while (out.length < count) {
    const template = all[Math.floor(rand() * all.length)] as TopologyChannel
    const hub = rand() < 0.5 ? template.node1 : template.node2 // a random channel end: degree-weighted
    let other = Math.floor(rand() * shape.nodeCount)
    if (other === hub) other = (other + 1) % shape.nodeCount
    out.push({ ...template, node1: hub, node2: other })
  }
  return out
}

const addressesFor = (index: number, rand: () => number): ReadonlyArray<NodeAddress> => {
  const r = rand()
  const port = 9735
  if (r < 0.55) {
    return [{
      _tag: "IPv4",
      address: `${10 + (index % 200)}.${(index >> 8) & 255}.${index & 255}.${1 + Math.floor(rand() * 250)}`,
      port
    }]
  }
  if (r < 0.9) {
    let onion = ""
    for (let i = 0; i < 56; i++) onion += BASE32[Math.floor(rand() * 32)]
    return [{ _tag: "TorV3", onion: `${onion}.onion`, port }]
  }
  return [{ _tag: "DnsHostname", hostname: `node${index}.example.org`, port }]
}

const aliasFor = (index: number): Uint8Array => {
  const alias = new Uint8Array(32)
  alias.set(new TextEncoder().encode(`lnsync-gen-${index}`))
  return alias
}

/** Generates and signs the whole graph (about 350k signatures at mainnet size: seconds, not milliseconds). */
export const generateGraph = (options: GenerateOptions): GeneratedGraph => {
  const rand = prng(options.seed)
  const shape = options.topology ?? syntheticTopology(options.channels, options.seed)
  const maxAge = options.maxAgeSeconds ?? 13 * 24 * 3600
  const rows = selectChannels(shape, options.channels, rand)
  const stamp = (): number => options.now - Math.floor(rand() * maxAge)

  // Only nodes that have a channel in the selection exist; keys are derived from the shape's node index.
  const keys = new Map<number, GeneratedNode>()
  const nodeOf = (index: number): GeneratedNode => {
    let node = keys.get(index)
    if (node === undefined) {
      const privateKey = deriveKey(`lnsync/gen/${options.seed}/node/${index}`)
      node = { privateKey, nodeId: publicKeyOf(privateKey) }
      keys.set(index, node)
    }
    return node
  }

  const perBlock = Math.max(1, Math.ceil(rows.length / BLOCK_SPAN))
  const channelAnnouncements: Array<ChannelAnnouncement> = []
  const channelUpdates: Array<ChannelUpdate> = []
  rows.forEach((row, i) => {
    const a = nodeOf(row.node1)
    const b = nodeOf(row.node2)
    // BOLT 7: node_id_1 is the lesser key; the shape's node1 keeps its own policy whichever side it lands on
    const swapped = compareBytes(a.nodeId, b.nodeId) > 0
    const [n1, n2] = swapped ? [b, a] : [a, b]
    const [p1, p2] = swapped ? [row.policy2, row.policy1] : [row.policy1, row.policy2]
    const block = FIRST_BLOCK + Math.floor((i / rows.length) * BLOCK_SPAN)
    const scid = Scid.make(block, 1 + (i % perBlock) * 7 + Math.floor(rand() * 7), Math.floor(rand() * 2))
    const btc1 = deriveKey(`lnsync/gen/${options.seed}/btc/${i}/1`)
    const btc2 = deriveKey(`lnsync/gen/${options.seed}/btc/${i}/2`)
    channelAnnouncements.push(
      signChannelAnnouncement(
        {
          features: new Uint8Array(0),
          chainHash: options.chainHash,
          shortChannelId: scid,
          nodeId1: n1.nodeId,
          nodeId2: n2.nodeId,
          bitcoinKey1: publicKeyOf(btc1),
          bitcoinKey2: publicKeyOf(btc2)
        },
        n1.privateKey,
        n2.privateKey,
        btc1,
        btc2
      )
    )
    const capacityMsat = row.capacitySat * 1000n
    for (const direction of [0, 1] as const) {
      const policy = (direction === 0 ? p1 : p2) ?? DEFAULT_POLICY
      const disabled = (direction === 0 ? p1 : p2) === undefined
      const max = policy.htlcMaximumMsat > 0n && policy.htlcMaximumMsat <= capacityMsat
        ? policy.htlcMaximumMsat
        : capacityMsat
      channelUpdates.push(
        signChannelUpdate(
          {
            chainHash: options.chainHash,
            shortChannelId: scid,
            timestamp: stamp(),
            messageFlags: 1,
            channelFlags: direction | (disabled ? 2 : 0),
            cltvExpiryDelta: policy.cltvExpiryDelta,
            htlcMinimumMsat: policy.htlcMinimumMsat,
            feeBaseMsat: policy.feeBaseMsat,
            feeProportionalMillionths: policy.feeProportionalMillionths,
            htlcMaximumMsat: max < policy.htlcMinimumMsat ? policy.htlcMinimumMsat : max
          },
          direction === 0 ? n1.privateKey : n2.privateKey
        )
      )
    }
  })

  const nodeAnnouncements: Array<NodeAnnouncement> = []
  const indices = Array.from(keys.keys()).sort((x, y) => x - y)
  for (const index of indices) {
    const node = keys.get(index) as GeneratedNode
    nodeAnnouncements.push(
      signNodeAnnouncement(
        {
          features: new Uint8Array([0x80]), // gossip_queries (optional bit 7)
          timestamp: stamp(),
          nodeId: node.nodeId,
          rgbColor: node.nodeId.subarray(1, 4),
          alias: aliasFor(index),
          addresses: addressesFor(index, rand)
        },
        node.privateKey
      )
    )
  }
  // blocks ascend with the row, but tx indices within a crowded block need not: order by scid as promised
  const byScid = <T extends { readonly shortChannelId: bigint }>(x: T, y: T): number =>
    Scid.compare(x.shortChannelId, y.shortChannelId)
  return {
    nodes: indices.map((i) => keys.get(i) as GeneratedNode),
    channelAnnouncements: channelAnnouncements.sort(byScid),
    channelUpdates: channelUpdates.sort(byScid),
    nodeAnnouncements
  }
}
