/**
 * The signature floor benches compare against: every signature of a gossip set (4 per channel announcement, 1 per
 * update or node announcement, same hashes and keys as the pipeline checks) through raw `secp256k1.ecdsaVerify`
 * on one worker thread per core (a pool made with `keyCache: false`: every check decompresses its key, as a plain
 * ecdsaVerify does) — the least time a validator checking each signature on its own could take on this machine.
 */
import { Effect, Either } from "effect"
import { decodeMessage } from "../../src/domain/Codec.js"
import type { ChannelAnnouncement, GossipMessage } from "../../src/domain/Messages.js"
import { isGossipMessage } from "../../src/domain/Messages.js"
import type { VerifyWorkerPoolHandle } from "../../src/layers/verify/VerifyWorkerPool.js"
import { signedHash } from "../../src/domain/Signatures.js"
import type { VerifyItem } from "../../src/services/SignatureVerifier.js"
import { pack } from "../../src/services/SignatureVerifier.js"

export const decodeAll = (raws: ReadonlyArray<Uint8Array>): Array<GossipMessage> =>
  raws.map((raw) => {
    const m = decodeMessage(raw)
    if (Either.isLeft(m) || !isGossipMessage(m.right)) {
      throw new Error("the bench graph holds a message that is not gossip")
    }
    return m.right
  })

/** Every signature the graph carries, as the pipeline checks them (same hash, same key). */
export const signatureItems = (messages: ReadonlyArray<GossipMessage>): Array<VerifyItem> => {
  const anns = new Map<bigint, ChannelAnnouncement>()
  for (const m of messages) if (m._tag === "ChannelAnnouncement") anns.set(m.shortChannelId, m)
  const items: Array<VerifyItem> = []
  for (const m of messages) {
    const hash = signedHash(m._tag, m.raw)
    switch (m._tag) {
      case "ChannelAnnouncement":
        items.push(
          { hash, sig: m.nodeSignature1, pubkey: m.nodeId1 },
          { hash, sig: m.nodeSignature2, pubkey: m.nodeId2 },
          { hash, sig: m.bitcoinSignature1, pubkey: m.bitcoinKey1 },
          { hash, sig: m.bitcoinSignature2, pubkey: m.bitcoinKey2 }
        )
        break
      case "ChannelUpdate": {
        const ann = anns.get(m.shortChannelId)
        if (ann === undefined) throw new Error("update without its announcement in the bench graph")
        items.push({ hash, sig: m.signature, pubkey: (m.channelFlags & 1) === 0 ? ann.nodeId1 : ann.nodeId2 })
        break
      }
      case "NodeAnnouncement":
        items.push({ hash, sig: m.signature, pubkey: m.nodeId })
    }
  }
  return items
}

/**
 * One floor run over `items` on `pool`: wall milliseconds and the CPU-seconds this process used meanwhile (all
 * threads: the pool's workers and the main thread handing out chunks). Dies if any signature fails (the data is ours).
 */
export const floorRunWithCpu = (pool: VerifyWorkerPoolHandle, items: ReadonlyArray<VerifyItem>) => {
  const packed = pack(items)
  return Effect.gen(function* () {
    const cpuBefore = process.cpuUsage()
    const s = performance.now()
    const ok = yield* pool.verifier.verifyPacked(packed, items.length)
    const wallMs = performance.now() - s
    const cpu = process.cpuUsage(cpuBefore)
    if (ok.some((v) => v !== 1)) return yield* Effect.dieMessage("a bench signature failed to verify")
    return { wallMs, cpuSeconds: (cpu.user + cpu.system) / 1e6 }
  })
}

/** One floor run over `items` on `pool`: wall milliseconds. Dies if any signature fails (the data is ours). */
export const floorRun = (pool: VerifyWorkerPoolHandle, items: ReadonlyArray<VerifyItem>) =>
  Effect.map(floorRunWithCpu(pool, items), (r) => r.wallMs)
