/**
 * Signed gossip for the pipeline tests: known keys, real signatures, and ways to spoil them.
 */
import { Effect, Layer } from "effect"
import secp256k1 from "secp256k1"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import { deriveKey } from "../src/testing/GraphGenerator.js"
import type {
  ChannelAnnouncement,
  ChannelUpdate,
  GossipMessage,
  NodeAddress,
  NodeAnnouncement,
  PublicKey
} from "../src/domain/Messages.js"
import type { ShortChannelId } from "../src/domain/ShortChannelId.js"
import * as Scid from "../src/domain/ShortChannelId.js"
import type { GraphStoreService } from "../src/services/GraphStore.js"
import { GraphStore, GraphStoreError, makeMemory } from "../src/services/GraphStore.js"
import { makeInThread, SignatureVerifier } from "../src/services/SignatureVerifier.js"
import {
  publicKeyOf,
  signChannelAnnouncement,
  signChannelUpdate,
  signedHash,
  signNodeAnnouncement
} from "../src/domain/Signatures.js"

/** Test clock start: 2025-06-15, unix seconds. */
export const NOW = 1_750_000_000
export const NOW_MILLIS = NOW * 1000
export const DAY = 86_400

export interface Key {
  readonly priv: Uint8Array
  readonly pub: PublicKey
}

const keyCache = new Map<string, Key>()
export const key = (label: string): Key => {
  let k = keyCache.get(label)
  if (k === undefined) {
    const priv = deriveKey(`pipeline-test/${label}`)
    k = { priv, pub: publicKeyOf(priv) }
    keyCache.set(label, k)
  }
  return k
}
export const node = (i: number): Key => key(`node/${i}`)

export const scid = (block: number, tx = 1, out = 0): ShortChannelId => Scid.make(block, tx, out)

export interface ChannelOptions {
  readonly chainHash?: Uint8Array
  readonly features?: Uint8Array
  /** Keep the two nodes in the order given even if that breaks BOLT 7's ordering. */
  readonly keepOrder?: boolean
}

/** A channel between nodes `a` and `b`, ordered as BOLT 7 requires; returns the announcement and the ordered keys. */
export const channel = (
  a: Key,
  b: Key,
  id: ShortChannelId,
  options: ChannelOptions = {}
): { readonly ann: ChannelAnnouncement; readonly n1: Key; readonly n2: Key } => {
  const [n1, n2] = options.keepOrder === true || Buffer.compare(a.pub, b.pub) < 0 ? [a, b] : [b, a]
  const btc1 = key(`btc/${id}/1`)
  const btc2 = key(`btc/${id}/2`)
  const ann = signChannelAnnouncement(
    {
      features: options.features ?? new Uint8Array(0),
      chainHash: options.chainHash ?? BITCOIN_MAINNET,
      shortChannelId: id,
      nodeId1: n1.pub,
      nodeId2: n2.pub,
      bitcoinKey1: btc1.pub,
      bitcoinKey2: btc2.pub
    },
    n1.priv,
    n2.priv,
    btc1.priv,
    btc2.priv
  )
  return { ann, n1, n2 }
}

export interface UpdateOptions {
  readonly chainHash?: Uint8Array
  readonly feeBaseMsat?: number
  readonly trailing?: Uint8Array
}

/** A channel_update for `direction` of `id`, signed by `signer`. */
export const update = (
  id: ShortChannelId,
  direction: 0 | 1,
  timestamp: number,
  signer: Key,
  options: UpdateOptions = {}
): ChannelUpdate =>
  signChannelUpdate(
    {
      chainHash: options.chainHash ?? BITCOIN_MAINNET,
      shortChannelId: id,
      timestamp,
      messageFlags: 1,
      channelFlags: direction,
      cltvExpiryDelta: 144,
      htlcMinimumMsat: 1000n,
      feeBaseMsat: options.feeBaseMsat ?? 1000,
      feeProportionalMillionths: 100,
      htlcMaximumMsat: 1_000_000_000n,
      ...(options.trailing === undefined ? {} : { trailing: options.trailing })
    },
    signer.priv
  )

export interface NodeOptions {
  readonly features?: Uint8Array
  readonly addresses?: ReadonlyArray<NodeAddress>
}

export const nodeAnnouncement = (k: Key, timestamp: number, options: NodeOptions = {}): NodeAnnouncement => {
  const alias = new Uint8Array(32)
  alias.set(new TextEncoder().encode("pipeline-test"))
  return signNodeAnnouncement(
    {
      features: options.features ?? new Uint8Array([0x80]),
      timestamp,
      nodeId: k.pub,
      rgbColor: new Uint8Array([1, 2, 3]),
      alias,
      addresses: options.addresses ?? [{ _tag: "IPv4", address: "203.0.113.7", port: 9735 }]
    },
    k.priv
  )
}

/**
 * The same message with one bit of its `which`-th signature flipped, in the decoded field and in `raw` alike
 * (a corruption in transit, not a decoding inconsistency).
 */
export const corrupt = <M extends GossipMessage>(m: M, which = 0): M => {
  const raw = Uint8Array.from(m.raw)
  const at = 2 + which * 64 + 17
  raw[at] ^= 0x04
  const sig = raw.slice(2 + which * 64, 2 + (which + 1) * 64)
  switch (m._tag) {
    case "ChannelAnnouncement": {
      const field = (["nodeSignature1", "nodeSignature2", "bitcoinSignature1", "bitcoinSignature2"] as const)[which]
      return { ...m, [field]: sig, raw }
    }
    default:
      return { ...m, signature: sig, raw }
  }
}

/** BOLT 7 wire layout of a node_announcement with hand-made `addresses` bytes, signed by `k`. */
export const nodeAnnouncementWithAddressBytes = (
  k: Key,
  timestamp: number,
  addressBytes: Uint8Array
): NodeAnnouncement => {
  const ok = nodeAnnouncement(k, timestamp, { addresses: [] })
  // ok.raw ends with addrlen = 0 (2 bytes) and no TLVs
  const head = ok.raw.subarray(0, ok.raw.length - 2)
  const raw = new Uint8Array(head.length + 2 + addressBytes.length)
  raw.set(head)
  new DataView(raw.buffer).setUint16(head.length, addressBytes.length, false)
  raw.set(addressBytes, head.length + 2)
  const resigned = signRaw(raw, k)
  return { ...ok, addressBytes, addresses: [], raw: resigned, signature: resigned.slice(2, 66) }
}

/** Re-signs a hand-made node_announcement / channel_update raw message in place and returns it. */
export const signRaw = (raw: Uint8Array, k: Key): Uint8Array => {
  const kind = ((raw[0] << 8) | raw[1]) === 257 ? "NodeAnnouncement" : "ChannelUpdate"
  raw.set(secp256k1.ecdsaSign(signedHash(kind, raw), k.priv).signature, 2)
  return raw
}

/**
 * A memory store whose writes (and, with `reads`, its batch lookups) fail while `failing` says so: the real store's
 * rules otherwise. `failing` is asked once per call, so a test can fail "always", "the first n writes", etc.
 */
export const failingStore = (
  failing: Effect.Effect<boolean>,
  options: { readonly reads?: boolean } = {}
): Layer.Layer<GraphStore> =>
  Layer.effect(
    GraphStore,
    Effect.map(makeMemory, (inner): GraphStoreService => {
      const guard = <A>(operation: string, run: Effect.Effect<A, GraphStoreError>) =>
        Effect.flatMap(failing, (fail) =>
          fail ? Effect.fail(new GraphStoreError({ operation, cause: "disk I/O error" })) : run)
      return {
        ...inner,
        applyBatch: (batch) =>
          guard("applyBatch", inner.applyBatch(batch)),
        ...(options.reads === true
          ? {
            channels: (ids) => guard("channels", inner.channels(ids)),
            zombies: (ids) => guard("zombies", inner.zombies(ids)),
            nodes: (ids) => guard("nodes", inner.nodes(ids))
          }
          : {})
      }
    })
  )

/** An in-thread verifier that counts the signatures it is asked to check. */
export const countingVerifier = () => {
  const inner = makeInThread()
  const state = { checked: 0 }
  const layer = Layer.succeed(SignatureVerifier, {
    parallelism: 1,
    verifyBatch: (items) =>
      Effect.suspend(() => {
        state.checked += items.length
        return inner.verifyBatch(items)
      }),
    verifyPacked: (packed, count) =>
      Effect.suspend(() => {
        state.checked += count
        return inner.verifyPacked(packed, count)
      })
  })
  return { state, layer }
}
