/**
 * The pipeline on the 44 real signed messages (test/vectors/real-gossip): signatures hashed over the raw bytes,
 * and no real message tripped by our structure, feature or address rules.
 */
import { describe, expect, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { Effect, Either, Layer, TestClock } from "effect"
import { BITCOIN_TESTNET3 } from "../src/domain/Chain.js"
import { decodeMessage } from "../src/domain/Codec.js"
import { fromHex, toHex } from "../src/domain/Hex.js"
import type { GossipMessage } from "../src/domain/Messages.js"
import { isGossipMessage } from "../src/domain/Messages.js"
import { signedOffset } from "../src/domain/RawGossip.js"
import * as Sig from "../src/domain/Signatures.js"
import { GossipPipeline, layer as layerGossipPipeline } from "../src/services/GossipPipeline.js"
import { layerGossipPipelineConfig } from "../src/services/GossipPipelineConfig.js"
import { statelessVerdict } from "../src/services/internal/gossipPipeline/rules.js"
import { GraphStore, layerMemory } from "../src/services/GraphStore.js"
import { vectorsDir } from "./shared.js"
import { layerNone } from "../src/services/ChainSource.js"
import { layerInThread, verifyInThread } from "../src/services/SignatureVerifier.js"

interface GossipRecord {
  readonly type: string
  readonly chain: string | null
  readonly hex: string
  readonly signer?: string
}

const records: ReadonlyArray<GossipRecord> = readFileSync(
  path.join(vectorsDir, "real-gossip", "messages.jsonl"),
  "utf8"
)
  .trim()
  .split("\n")
  .map((l) => JSON.parse(l) as GossipRecord)

const decoded: ReadonlyArray<{ readonly record: GossipRecord; readonly msg: GossipMessage }> = records.map((record) => {
  const m = Either.getOrThrow(decodeMessage(fromHex(record.hex)))
  if (!isGossipMessage(m)) throw new Error(`not gossip: ${m._tag}`)
  return { record, msg: m }
})

/** BOLT 7's signed-data hash, computed the slow, obvious way as a reference. */
const doubleSha256 = (data: Uint8Array): Uint8Array =>
  createHash("sha256").update(createHash("sha256").update(data).digest()).digest()

const TWENTY_YEARS = 20 * 365 * 86_400

describe("GossipPipeline on real gossip", () => {
  it("lnd#10835: the pipeline's hash of the raw bytes is BOLT 7's, and every real signature verifies with it", () => {
    for (const { record, msg } of decoded) {
      const h = Sig.signedHash(msg._tag, msg.raw)
      expect(toHex(h)).toBe(toHex(doubleSha256(msg.raw.subarray(signedOffset(msg._tag)))))
      if (msg._tag === "ChannelAnnouncement") {
        expect(verifyInThread(h, msg.nodeSignature1, msg.nodeId1)).toBe(true)
        expect(verifyInThread(h, msg.bitcoinSignature2, msg.bitcoinKey2)).toBe(true)
      } else if (msg._tag === "NodeAnnouncement") {
        expect(verifyInThread(h, msg.signature, msg.nodeId)).toBe(true)
      } else {
        expect(verifyInThread(h, msg.signature, fromHex(record.signer ?? ""))).toBe(true)
      }
    }
  })

  it("BOLT 7: no real message breaks a structure, feature-bit or address rule", () => {
    for (const { msg } of decoded) {
      const chainHash = msg._tag === "NodeAnnouncement" ? BITCOIN_TESTNET3 : msg.chainHash
      const nowSeconds = msg._tag === "ChannelAnnouncement" ? 0 : msg.timestamp
      expect(statelessVerdict(msg, { chainHash, nowSeconds, staleSeconds: 1, maxFutureSeconds: 1 })).toBeUndefined()
    }
  })

  it.effect("BOLT 7: the testnet3 channels, their updates and their nodes' announcements are accepted; other chains are not", () =>
    Effect.gen(function* () {
      const newest = Math.max(...decoded.map(({ msg }) => (msg._tag === "ChannelAnnouncement" ? 0 : msg.timestamp)))
      yield* TestClock.setTime(newest * 1000)
      const p = yield* GossipPipeline
      const store = yield* GraphStore
      const order = ["ChannelAnnouncement", "ChannelUpdate", "NodeAnnouncement"]
      const msgs = [...decoded.map((d) => d.msg)].sort((a, b) => order.indexOf(a._tag) - order.indexOf(b._tag))
      const verdicts = yield* p.process("02" + "ee".repeat(32), msgs)
      const summary = new Map<string, number>()
      msgs.forEach((m, i) => {
        const v = verdicts[i]
        const k = `${m._tag}:${v._tag}${v._tag === "Invalid" ? `:${v.reason}` : ""}`
        summary.set(k, (summary.get(k) ?? 0) + 1)
      })
      expect(Object.fromEntries(summary)).toEqual({
        "ChannelAnnouncement:Accepted": 4,
        "ChannelUpdate:Accepted": 6,
        "ChannelUpdate:Invalid:WrongChain": 14,
        // the five testnet channel endpoints with an announcement in the set
        "NodeAnnouncement:Accepted": 5,
        // the other fifteen: nodes without a known channel
        "NodeAnnouncement:Premature": 15
      })
      const counts = yield* store.counts
      expect([counts.channels, counts.updates, counts.nodes]).toEqual([4, 6, 5])
    }).pipe(
      Effect.provide(
        layerGossipPipeline.pipe(
          Layer.provideMerge(
            Layer.mergeAll(
              layerMemory,
              layerInThread,
              layerNone,
              layerGossipPipelineConfig({
                chainHash: BITCOIN_TESTNET3,
                staleSeconds: TWENTY_YEARS,
                maxFutureSeconds: TWENTY_YEARS
              })
            )
          )
        )
      )
    ))
})
