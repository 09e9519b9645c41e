/**
 * The transport's receive path as the connection's reader runs it (issue 18): `FrameDecoder.nextBare` then
 * `decodeOwnedBare`, the forms without an `Either` per message. Their results equal the `Either` forms', decoded
 * messages own their memory (no view into a socket chunk or a scratch buffer that later frames overwrite), and the
 * fields shared instead of viewed (known chain hashes, empty feature bitmaps) re-encode byte-identically.
 */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import * as Chain from "../src/domain/Chain.js"
import { DecodeError, decodeMessage, decodeOwnedBare, decodeOwnedMessage, encodeMessage } from "../src/domain/Codec.js"
import { fromHex, toHex } from "../src/domain/Hex.js"
import type { Message } from "../src/domain/Messages.js"
import { CipherState, encryptFrame, FrameDecoder, NoiseError } from "../src/domain/Noise.js"
import { vectorsDir } from "./shared.js"

const SEED = 18_018

/** The 44 real signed gossip messages (channel announcements, node announcements, channel updates). */
const realGossip: ReadonlyArray<Uint8Array> = readFileSync(
  path.join(vectorsDir, "real-gossip", "messages.jsonl"),
  "utf8"
)
  .trim()
  .split("\n")
  .map((l) => fromHex((JSON.parse(l) as { readonly hex: string }).hex))

const keys = () => {
  const key = new Uint8Array(32).fill(5)
  const ck = new Uint8Array(32).fill(6)
  return { sender: new CipherState(key, ck), receiver: new CipherState(key, ck) }
}

/** `messages` as one encrypted stream (enough of them to cross a key rotation: 500 messages per key). */
const stream = (sender: CipherState, messages: ReadonlyArray<Uint8Array>): Buffer =>
  Buffer.concat(messages.map((m) => Either.getOrThrow(encryptFrame(sender, m))))

/** Cuts `wire` at `cuts` into Buffers that sit inside larger ArrayBuffers (as socket reads do), then fills them. */
const socketChunks = (wire: Buffer, cuts: ReadonlyArray<number>): Array<Buffer> => {
  const points = [...new Set([0, ...cuts.map((c) => c % (wire.length + 1)), wire.length])].sort((a, b) => a - b)
  const out: Array<Buffer> = []
  for (let i = 1; i < points.length; i++) {
    const len = points[i] - points[i - 1]
    if (len === 0) continue
    const backing = Buffer.alloc(len + 16, 0xee)
    const chunk = backing.subarray(8, 8 + len)
    wire.copy(chunk, 0, points[i - 1], points[i])
    out.push(chunk)
  }
  return out
}

describe("receive path: FrameDecoder.nextBare + decodeOwnedBare", () => {
  it("gives what next + decodeOwnedMessage give, whatever the chunking; messages survive the chunks' reuse", () => {
    const messages = Array.from({ length: 560 }, (_, i) => realGossip[i % realGossip.length])
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => {
        const a = keys()
        const b = keys()
        const chunks = socketChunks(stream(a.sender, messages), cuts)
        const bare = new FrameDecoder(a.receiver)
        const wrapped = new FrameDecoder(b.receiver)
        const got: Array<Message> = []
        for (const chunk of chunks) {
          bare.push(chunk)
          wrapped.push(chunk)
          for (;;) {
            const wire = bare.nextBare()
            const other = wrapped.next()
            if (wire === undefined) {
              expect(Either.isRight(other) && other.right === undefined).toBe(true)
              break
            }
            if (wire instanceof NoiseError) throw wire
            const decoded = decodeOwnedBare(wire)
            if (decoded instanceof DecodeError) throw decoded
            expect(decoded).toEqual(Either.getOrThrow(decodeOwnedMessage(Either.getOrThrow(other) ?? new Uint8Array())))
            got.push(decoded)
          }
          // the reader hands a socket buffer back once it is consumed: scribble over it
          chunk.fill(0xaa)
        }
        expect(got.length).toBe(messages.length)
        got.forEach((m, i) => {
          expect(toHex(encodeMessage(m))).toBe(toHex(messages[i]))
          if ("raw" in m) expect(toHex(m.raw)).toBe(toHex(messages[i]))
        })
      }),
      { seed: SEED, numRuns: 6 }
    )
  })

  it("BOLT 8: a bad MAC is a NoiseError value, not a throw (length, then body)", () => {
    const frame = () => Either.getOrThrow(encryptFrame(keys().sender, realGossip[0]))
    for (const [at, code] of [[3, "LENGTH_BAD_TAG"], [40, "BODY_BAD_TAG"]] as const) {
      const f = frame()
      f[at] ^= 1
      const d = new FrameDecoder(keys().receiver)
      d.push(f)
      const r = d.nextBare()
      expect(r instanceof NoiseError && r.code).toBe(code)
    }
  })

  it("CipherState.openAt / openLength: a unit running past the buffer fails (nonce spent) instead of throwing", () => {
    const { sender, receiver } = keys()
    const frame = Either.getOrThrow(encryptFrame(sender, new Uint8Array([0, 18, 0, 1])))
    expect(receiver.openLength(frame, frame.length - 10)).toBe(-1)
    expect(receiver.openAt(frame, 18, 100)).toBeUndefined()
    expect(receiver.snapshot().nonce).toBe(2)
  })

  it("decodeOwnedBare: a DecodeError value for what decodeOwnedMessage rejects", () => {
    for (const bad of [new Uint8Array([1]), new Uint8Array([0, 2]), realGossip[0].subarray(0, 100)]) {
      const bare = decodeOwnedBare(bad)
      const wrapped = decodeOwnedMessage(bad)
      expect(bare instanceof DecodeError).toBe(true)
      expect(Either.isLeft(wrapped) && wrapped.left).toEqual(bare)
    }
  })
})

describe("decoded fields shared instead of viewed", () => {
  it("a well-known chain hash is its Chain constant; another chain is a view of the message", () => {
    const update = realGossip.find((m) => m[0] === 1 && m[1] === 2)
    if (update === undefined) throw new Error("no channel_update in the real gossip")
    const mainnet = Either.getOrThrow(decodeOwnedMessage(update.slice()))
    expect(mainnet._tag === "ChannelUpdate" && mainnet.chainHash).toBe(Chain.BITCOIN_MAINNET)
    const other = update.slice()
    other[66] ^= 0xff // chain_hash starts after type (2) and signature (64)
    const m = Either.getOrThrow(decodeOwnedMessage(other))
    if (m._tag !== "ChannelUpdate") throw new Error(m._tag)
    expect(m.chainHash.buffer).toBe(other.buffer)
    expect(Chain.chainName(m.chainHash)).toBeUndefined()
    expect(toHex(encodeMessage(m))).toBe(toHex(other))
  })

  it("an empty feature bitmap decodes empty and re-encodes byte-identically", () => {
    const ann = realGossip.find((m) => m[0] === 1 && m[1] === 0 && m[258] === 0 && m[259] === 0)
    if (ann === undefined) throw new Error("no channel_announcement without features in the real gossip")
    const m = Either.getOrThrow(decodeMessage(ann))
    expect(m._tag === "ChannelAnnouncement" && m.features.length).toBe(0)
    expect(toHex(encodeMessage(m))).toBe(toHex(ann))
  })

  it("decodeMessage copies a Buffer it is given (a Buffer's slice is a view): the caller may reuse it", () => {
    const bytes = Buffer.from(realGossip[0])
    const m = Either.getOrThrow(decodeMessage(bytes))
    bytes.fill(0)
    expect(toHex(encodeMessage(m))).toBe(toHex(realGossip[0]))
    if ("raw" in m) expect(toHex(m.raw)).toBe(toHex(realGossip[0]))
  })
})
