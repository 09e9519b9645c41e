/**
 * The decoders `npm run fuzz` feeds, each with a corpus built from the real vectors in test/vectors: BOLT 8 frames
 * (FrameDecoder under a fixed key) and handshake acts, every BOLT 1/7 message type through `decodeMessage`, TLV
 * streams, node_announcement address lists, and zlib `encoded_short_ids` blocks.
 *
 * Each target judges its own result: a typed `Either.left` is a rejection; a throw, an untyped left or the codec's
 * "internal" error (an exception it caught) is a crash; an accepted input that does not re-encode to itself (or
 * where the address scanner and decoder disagree) is a mismatch.
 */
import { Either } from "effect"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { constants, deflateSync, inflateRawSync } from "node:zlib"
import { AddressError, decodeAddresses, encodeAddresses, scanAddresses } from "../src/domain/Addresses.js"
import {
  DecodeError,
  decodeMessage,
  encodeMessage,
  MAX_MESSAGE_SIZE,
  MAX_SCIDS_PER_MESSAGE
} from "../src/domain/Codec.js"
import type { Message } from "../src/domain/Messages.js"
import { MessageType } from "../src/domain/Messages.js"
import {
  CipherState,
  FrameDecoder,
  initiatorActOne,
  initiatorActTwo,
  NoiseError,
  responderActOne,
  responderActThree
} from "../src/domain/Noise.js"
import * as Tlv from "../src/domain/Tlv.js"
import {
  accepted,
  type AnyTarget,
  calibrate,
  crash,
  mismatch,
  mutate,
  rejected,
  Rng,
  target,
  type TargetReport,
  type Verdict
} from "./engine.js"

export const vectorsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../test/vectors")

const read = (file: string): string => readFileSync(path.join(vectorsDir, file), "utf8")
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/^0x/, "").replace(/\s+/g, ""), "hex"))
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
const typeOf = (m: Uint8Array): number => (m.length < 2 ? -1 : (m[0] << 8) | m[1])

// ---------------------------------------------------------------------------------------------------------------
// Corpus from test/vectors

/** The 44 real signed gossip messages (messages.bin: u16 length + raw message). */
const realGossip = (): Array<Uint8Array> => {
  const bin = readFileSync(path.join(vectorsDir, "real-gossip/messages.bin"))
  const out: Array<Uint8Array> = []
  for (let at = 0; at + 2 <= bin.length;) {
    const len = bin.readUInt16BE(at)
    out.push(new Uint8Array(bin.subarray(at + 2, at + 2 + len)))
    at += 2 + len
  }
  return out
}

/** BOLT 7 extended-query examples (query/reply_channel_range, query_short_channel_ids, zlib included). */
const extendedQueries = (): Array<Uint8Array> =>
  [...read("bolt07-extended-queries.json").matchAll(/"hex":\s*"([0-9a-f]+)"/g)].map((m) => fromHex(m[1]))

/** BOLT 1 appendix C `init` messages (valid and invalid). */
const initVectors = (): Array<Uint8Array> =>
  [...read("bolt01-bigsize-tlv.txt").matchAll(/`0x(0010[0-9a-f]*)`/g)].map((m) => fromHex(m[1]))

/** BOLT 1 appendix B TLV streams (valid and invalid). */
const tlvStreams = (): Array<Uint8Array> =>
  [...read("bolt01-bigsize-tlv.txt").matchAll(/(?:Invalid|Valid) stream: 0x([0-9a-f ]+)/g)].map((m) => fromHex(m[1]))

interface ActVectors {
  readonly actOnes: ReadonlyArray<Uint8Array>
  readonly actTwos: ReadonlyArray<Uint8Array>
  readonly actThrees: ReadonlyArray<Uint8Array>
}

/** BOLT 8 appendix A act inputs/outputs, by size (50: acts one and two; 66: act three). */
const actVectors = (): ActVectors => {
  const all = [...read("bolt08-transport.txt").matchAll(/(?:input|output):\s*0x([0-9a-f]+)\s*$/gm)].map((m) =>
    fromHex(m[1])
  )
  return {
    actOnes: all.filter((a) => a.length <= 50 && a[1] !== 0x02),
    actTwos: all.filter((a) => a.length <= 50 && a[1] !== 0x03),
    actThrees: all.filter((a) => a.length > 50)
  }
}

const decoded = (wire: ReadonlyArray<Uint8Array>): Array<Message> =>
  wire.flatMap((w) => {
    const r = decodeMessage(w)
    return Either.isRight(r) ? [r.right] : []
  })

/** Messages the vectors do not hold (ping, pong, error, warning, filters, ends): built with the encoder. */
const builtMessages = (chain: Uint8Array): Array<Uint8Array> => {
  const bytes = (n: number, v: number) => new Uint8Array(n).fill(v)
  const tlv = [{ type: 0xc9n, value: Uint8Array.of(0x2a) }]
  return [
    { _tag: "Ping", numPongBytes: 4, ignored: bytes(8, 0) },
    { _tag: "Ping", numPongBytes: 65531, ignored: new Uint8Array(0), unknownTlvs: tlv },
    { _tag: "Pong", ignored: bytes(4, 0) },
    { _tag: "Error", channelId: bytes(32, 0), data: new TextEncoder().encode("internal error"), unknownTlvs: [] },
    {
      _tag: "Warning",
      channelId: bytes(32, 1),
      data: new TextEncoder().encode("warning: bad gossip"),
      unknownTlvs: tlv
    },
    { _tag: "GossipTimestampFilter", chainHash: chain, firstTimestamp: 1_700_000_000, timestampRange: 0xffff_ffff },
    { _tag: "ReplyShortChannelIdsEnd", chainHash: chain, fullInformation: 1 },
    { _tag: "ReplyShortChannelIdsEnd", chainHash: chain, fullInformation: 0, unknownTlvs: tlv },
    { _tag: "UnknownMessage", type: 32769, payload: bytes(12, 5) },
    { _tag: "UnknownMessage", type: 32768, payload: bytes(4, 5) }
  ].map((m) => encodeMessage(m as Message))
}

export interface Corpus {
  readonly messages: ReadonlyArray<Uint8Array>
  readonly tlvStreams: ReadonlyArray<Uint8Array>
  readonly addressFields: ReadonlyArray<Uint8Array>
  readonly zlibBlocks: ReadonlyArray<Uint8Array>
  readonly acts: ActVectors
  readonly chain: Uint8Array
}

const scidBytes = (ids: ReadonlyArray<bigint>): Buffer => {
  const out = Buffer.alloc(ids.length * 8)
  ids.forEach((id, i) => out.writeBigUInt64BE(id, i * 8))
  return out
}

export const loadCorpus = (): Corpus => {
  const gossip = realGossip()
  const queries = extendedQueries()
  const chain = queries[0].subarray(2, 34)
  const vectorMessages = [...gossip, ...queries, ...initVectors()]
  const messages = [...vectorMessages, ...builtMessages(chain)]
  const values = decoded(vectorMessages)
  const addressFields = values.flatMap((m) => (m._tag === "NodeAnnouncement" ? [m.addressBytes] : []))
  // zlib blocks: the vectors' own, then sorted real scids and long runs up to and past the GS-41 cap
  const zlibBlocks: Array<Uint8Array> = []
  for (const m of values) {
    if (m._tag === "QueryShortChannelIds" || m._tag === "ReplyChannelRange") {
      if (m.shortIds.compressed !== undefined) zlibBlocks.push(m.shortIds.compressed)
    }
    if (m._tag === "ReplyChannelRange" && m.timestamps?.compressed !== undefined) {
      zlibBlocks.push(m.timestamps.compressed)
    }
    if (m._tag === "QueryShortChannelIds" && m.queryFlags?.compressed !== undefined) {
      zlibBlocks.push(m.queryFlags.compressed)
    }
  }
  const realScids = [...new Set(values.flatMap((m) => ("shortChannelId" in m ? [m.shortChannelId] : [])))].sort((
    a,
    b
  ) => a < b ? -1 : a > b ? 1 : 0)
  zlibBlocks.push(new Uint8Array(deflateSync(scidBytes(realScids))))
  for (const n of [1, 100, 8_000, MAX_SCIDS_PER_MESSAGE, MAX_SCIDS_PER_MESSAGE + 1]) {
    const ids = Array.from({ length: n }, (_, i) => (BigInt(500_000 + (i >> 4)) << 40n) | (BigInt(i & 15) << 16n))
    zlibBlocks.push(new Uint8Array(deflateSync(scidBytes(ids))))
  }
  zlibBlocks.push(new Uint8Array(deflateSync(Buffer.alloc(50_000_000), { level: 9 })))
  return { messages, tlvStreams: tlvStreams(), addressFields, zlibBlocks, acts: actVectors(), chain }
}

// ---------------------------------------------------------------------------------------------------------------
// Codec: one target per message type

const codecVerdict = (input: Uint8Array, r: Either.Either<Message, DecodeError>): Verdict => {
  if (Either.isLeft(r)) {
    if (!(r.left instanceof DecodeError)) return crash(`left is not a DecodeError: ${String(r.left)}`)
    // `run` turns any exception into a DecodeError "internal: …": for the fuzzer that is a crash
    if (r.left.reason.startsWith("internal")) return crash(`${r.left.field}: ${r.left.reason}`)
    return rejected
  }
  const again = encodeMessage(r.right)
  return sameBytes(again, input)
    ? accepted
    : mismatch(`${r.right._tag} re-encodes to ${again.length} B, not the ${input.length} B received`)
}

const CODEC_TYPES: ReadonlyArray<readonly [string, number]> = [
  ["warning", MessageType.Warning],
  ["init", MessageType.Init],
  ["error", MessageType.Error],
  ["ping", MessageType.Ping],
  ["pong", MessageType.Pong],
  ["channel_announcement", MessageType.ChannelAnnouncement],
  ["node_announcement", MessageType.NodeAnnouncement],
  ["channel_update", MessageType.ChannelUpdate],
  ["query_short_channel_ids", MessageType.QueryShortChannelIds],
  ["reply_short_channel_ids_end", MessageType.ReplyShortChannelIdsEnd],
  ["query_channel_range", MessageType.QueryChannelRange],
  ["reply_channel_range", MessageType.ReplyChannelRange],
  ["gossip_timestamp_filter", MessageType.GossipTimestampFilter]
]
const KNOWN = new Set(CODEC_TYPES.map(([, t]) => t))

const withType = (type: number, body: Uint8Array): Uint8Array => {
  const out = new Uint8Array(2 + body.length)
  out[0] = type >>> 8
  out[1] = type & 0xff
  out.set(body, 2)
  return out
}

const randomBody = (rng: Rng): Uint8Array => rng.bytes(rng.chance(0.95) ? rng.int(600) : rng.int(MAX_MESSAGE_SIZE - 1))

const codecTarget = (name: string, type: number | undefined, corpus: Corpus): AnyTarget => {
  const own = corpus.messages.filter((m) => (type === undefined ? !KNOWN.has(typeOf(m)) : typeOf(m) === type))
  return target({
    name: `codec:${name}`,
    corpus: own,
    generate: (rng) => {
      if (rng.chance(0.1)) {
        const t = type ?? (rng.chance(0.5) ? rng.int(0x10000) : 32768 + rng.int(32768))
        return withType(t, randomBody(rng))
      }
      // mostly this type's own messages; sometimes spliced with any other message of the corpus
      const m = mutate(rng, rng.chance(0.8) ? own : corpus.messages, MAX_MESSAGE_SIZE)
      // keep the type this target is about (a splice or flip may have changed it), except for the unknown-type target
      return type === undefined || m.length < 2 ? m : withType(type, m.subarray(2))
    },
    decode: decodeMessage,
    check: codecVerdict,
    // query_short_channel_ids and reply_channel_range may carry zlib fields: judged per inflated byte, as below
    sizeOf: judgedSize
  })
}

// ---------------------------------------------------------------------------------------------------------------
// BOLT 8 frames: FrameDecoder with a fixed key, random chunking

const KEY = new Uint8Array(32).fill(7)
const CK = new Uint8Array(32).fill(9)

/** Encrypts `messages` as frames; `lie` replaces a frame's length header with another value (length-field edit). */
const frames = (messages: ReadonlyArray<Uint8Array>, lie: (i: number, length: number) => number): Uint8Array => {
  const sender = new CipherState(KEY, CK)
  const parts: Array<Uint8Array> = []
  messages.forEach((m, i) => {
    const length = lie(i, m.length)
    parts.push(sender.seal(Uint8Array.of(length >>> 8, length & 0xff)))
    parts.push(sender.seal(m))
  })
  return Buffer.concat(parts)
}

interface FrameResult {
  readonly messages: number
  readonly error: unknown
  readonly buffered: number
}

/** Pushes the wire in chunks derived from its own bytes (so a re-measurement replays the same chunking). */
const decodeFrames = (wire: Uint8Array): FrameResult => {
  const d = new FrameDecoder(new CipherState(KEY, CK))
  let messages = 0
  let at = 0
  let step = wire.length === 0 ? 1 : (wire[wire.length >> 1] % 5) + 1
  while (at < wire.length) {
    // chunk sizes: 1 byte, a few bytes, or large, cycling by the wire's content
    const n = step === 1 ? 1 : step === 2 ? 7 : step === 3 ? 61 : step === 4 ? 1500 : wire.length
    step = (step % 5) + 1
    d.push(wire.subarray(at, Math.min(wire.length, at + n)))
    at += n
    for (;;) {
      const r = d.next()
      if (Either.isLeft(r)) return { messages, error: r.left, buffered: d.buffered }
      if (r.right === undefined) break
      messages++
    }
  }
  return { messages, error: undefined, buffered: d.buffered }
}

const frameTarget = (corpus: Corpus): AnyTarget => {
  const honest: Array<Uint8Array> = []
  for (let i = 0; i < corpus.messages.length; i += 3) honest.push(frames(corpus.messages.slice(i, i + 3), (_, n) => n))
  return target({
    name: "bolt8:frames",
    corpus: honest,
    generate: (rng) => {
      const mode = rng.int(4)
      if (mode === 0) return mutate(rng, honest, 3 * 65_600)
      if (mode === 3) return rng.bytes(rng.int(2048))
      // plaintexts from the corpus (mutated or not), encrypted, sometimes with lying length headers
      const picked = Array.from(
        { length: 1 + rng.int(4) },
        () => rng.chance(0.5) ? rng.pick(corpus.messages) : mutate(rng, corpus.messages, MAX_MESSAGE_SIZE)
      )
      const lies = mode === 2
      const wire = frames(
        picked,
        (_, n) => (lies && rng.chance(0.5) ? rng.pick([0, 1, 2, n - 1, n + 1, 0xffff, rng.int(0x10000)]) & 0xffff : n)
      )
      return rng.chance(0.3) ? mutate(rng, [wire], wire.length + 64) : wire
    },
    decode: decodeFrames,
    check: (input, r) => {
      if (r.error !== undefined) {
        return r.error instanceof NoiseError
          ? rejected
          : crash(`left is not a NoiseError: ${String(r.error)}`)
      }
      if (r.buffered > input.length) return mismatch(`holds ${r.buffered} B of a ${input.length} B input`)
      return accepted
    }
  })
}

// ---------------------------------------------------------------------------------------------------------------
// BOLT 8 handshake acts: the same bytes as act one (responder), act two (initiator) and act three (responder)

const hex32 = (b: number) => new Uint8Array(32).fill(b)

const actTarget = (corpus: Corpus): AnyTarget => {
  // BOLT 8 appendix A keys: initiator ls=0x11…, e=0x12…; responder ls=0x21…, e=0x22…
  const responderPriv = hex32(0x21)
  const responderPub = fromHex("028d7500dd4c12685d1f568b4c2b5048e8534b873319f3a8daa612b469132ec7f7")
  const init = initiatorActOne(hex32(0x11), responderPub, hex32(0x12))
  const resp = Either.getOrThrow(responderActOne(responderPriv, init.actOne, hex32(0x22)))
  const all = [...corpus.acts.actOnes, ...corpus.acts.actTwos, ...corpus.acts.actThrees]
  return target({
    name: "bolt8:acts",
    corpus: all,
    generate: (rng) =>
      rng.chance(0.05)
        ? rng.bytes(rng.pick([49, 50, 51, 65, 66, 67, rng.int(200)]))
        : rng.chance(0.05)
        ? rng.pick(all) // the vectors as they are, so the success paths are measured too
        : mutate(rng, all, 200),
    decode: (input): ReadonlyArray<Either.Either<unknown, unknown>> => [
      responderActOne(responderPriv, input, hex32(0x22)),
      initiatorActTwo(init.state, input),
      responderActThree(resp.state, input)
    ],
    check: (_, results) => {
      let ok = false
      for (const r of results) {
        if (Either.isLeft(r) && !(r.left instanceof NoiseError)) {
          return crash(`left is not a NoiseError: ${String(r.left)}`)
        }
        if (Either.isRight(r)) ok = true
      }
      return ok ? accepted : rejected
    }
  })
}

// ---------------------------------------------------------------------------------------------------------------
// TLV streams (BOLT 1 appendix B namespaces n1 and n2)

const N1: Tlv.KnownTypes = new Set([1n, 2n, 3n, 254n])
const N2: Tlv.KnownTypes = new Set([0n, 11n])

const tlvTarget = (corpus: Corpus): AnyTarget =>
  target({
    name: "tlv:stream",
    corpus: corpus.tlvStreams,
    generate: (rng) => (rng.chance(0.1) ? rng.bytes(rng.int(300)) : mutate(rng, corpus.tlvStreams, MAX_MESSAGE_SIZE)),
    decode: (input) => [Tlv.decodeStream(input, N1), Tlv.decodeStream(input, N2)] as const,
    check: (input, results) => {
      let ok = false
      for (const r of results) {
        if (Either.isLeft(r)) {
          if (!(r.left instanceof Tlv.TlvError)) return crash(`left is not a TlvError: ${String(r.left)}`)
          continue
        }
        ok = true
        if (!sameBytes(Tlv.encodeStream(r.right), input)) return mismatch("accepted stream re-encodes differently")
      }
      return ok ? accepted : rejected
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// node_announcement address lists

const addressTarget = (corpus: Corpus): AnyTarget =>
  target({
    name: "addresses",
    corpus: corpus.addressFields,
    generate: (
      rng
    ) => (rng.chance(0.1) ? rng.bytes(rng.int(300)) : mutate(rng, corpus.addressFields, MAX_MESSAGE_SIZE)),
    decode: (input) => [decodeAddresses(input), scanAddresses(input)] as const,
    check: (input, [decodedList, scan]) => {
      if (Either.isLeft(decodedList)) {
        if (!(decodedList.left instanceof AddressError)) {
          return crash(`left is not an AddressError: ${String(decodedList.left)}`)
        }
        return scan === undefined ? rejected : mismatch("scanAddresses accepts what decodeAddresses rejects")
      }
      if (scan === undefined) return mismatch("scanAddresses rejects what decodeAddresses accepts")
      const dns = decodedList.right.filter((a) => a._tag === "DnsHostname").length
      if (dns !== scan.dnsHostnames) return mismatch(`scan counts ${scan.dnsHostnames} hostnames, decode ${dns}`)
      return sameBytes(encodeAddresses(decodedList.right), input)
        ? accepted
        : mismatch("addresses re-encode differently")
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// zlib encoded_short_ids blocks, inside a query_short_channel_ids

const ZLIB_HEADER = 2 + 32 + 2 + 1
const MAX_BLOCK = MAX_MESSAGE_SIZE - ZLIB_HEADER

const wrapZlib = (chain: Uint8Array, block: Uint8Array): Uint8Array => {
  const out = new Uint8Array(ZLIB_HEADER + block.length)
  out[0] = MessageType.QueryShortChannelIds >>> 8
  out[1] = MessageType.QueryShortChannelIds & 0xff
  out.set(chain, 2)
  out[34] = (1 + block.length) >>> 8
  out[35] = (1 + block.length) & 0xff
  out[36] = 1
  out.set(block, ZLIB_HEADER)
  return out
}

/** The largest cap the codec applies to one zlib field (query_flags: 9 bytes per id). */
const MAX_ZLIB_FIELD = MAX_SCIDS_PER_MESSAGE * 9

/** Bytes a raw deflate stream yields before it ends or breaks (a broken stream still inflated up to the break). */
const inflatesTo = (raw: Uint8Array): number => {
  const attempt = (n: number): number | "error" | "cap" => {
    try {
      return inflateRawSync(raw.subarray(0, n), {
        maxOutputLength: MAX_ZLIB_FIELD,
        finishFlush: constants.Z_SYNC_FLUSH
      }).length
    } catch (e) {
      return e instanceof Error && "code" in e && e.code === "ERR_BUFFER_TOO_LARGE" ? "cap" : "error"
    }
  }
  const whole = attempt(raw.length)
  if (whole === "cap") return MAX_ZLIB_FIELD
  if (whole !== "error") return whole
  // the longest prefix that still inflates: what the codec's inflate produced before it met the error
  let lo = 0
  let hi = raw.length
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    if (attempt(mid) === "error") hi = mid
    else lo = mid
  }
  const best = attempt(lo)
  return best === "cap" ? MAX_ZLIB_FIELD : best === "error" ? 0 : best
}

/**
 * zlib's own cost per stream inflated, whatever its size: a 32 KiB window once output needs more than one call,
 * ~7 KiB of inflate state, the output chunks and node's final concatenation (measured: ~50–100 KB).
 */
const ZLIB_FIXED = 64 * 1024

/**
 * The size an input is judged against: its own plus what every zlib stream in it (any offset with a valid zlib
 * header) inflates to, and at least zlib's fixed cost when it holds one. GS-41 lets a 1 KiB zlib block legitimately
 * carry 100,000 ids (800 KB), so a ratio to the wire size would measure zlib, not the decoder (that ratio is printed
 * as "vs wire size").
 */
const judgedSize = (input: Uint8Array): number => {
  let inflated = 0
  let streams = 0
  for (let i = 0; i + 1 < input.length; i++) {
    const cmf = input[i]
    if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | input[i + 1]) % 31 !== 0 || (input[i + 1] & 0x20) !== 0) {
      continue
    }
    streams++
    inflated += inflatesTo(input.subarray(i + 2))
  }
  return streams === 0 ? input.length : Math.max(ZLIB_FIXED, input.length + inflated)
}

const zlibTarget = (corpus: Corpus): AnyTarget => {
  const blocks = corpus.zlibBlocks.filter((b) => b.length <= MAX_BLOCK)
  return target({
    name: "zlib:encoded_short_ids",
    corpus: blocks.map((b) => wrapZlib(corpus.chain, b)),
    generate: (rng) => {
      const block = rng.chance(0.05) ? rng.bytes(rng.int(512)) : mutate(rng, blocks, MAX_BLOCK)
      return wrapZlib(corpus.chain, block)
    },
    decode: decodeMessage,
    check: codecVerdict,
    sizeOf: judgedSize
  })
}

// ---------------------------------------------------------------------------------------------------------------

/** Every target, with its share of the inputs (weights sum to 1). */
export const targets = (corpus: Corpus): ReadonlyArray<readonly [AnyTarget, number]> => [
  [frameTarget(corpus), 0.08],
  [actTarget(corpus), 0.02],
  ...CODEC_TYPES.map(([name, type]) => [codecTarget(name, type, corpus), 0.045] as const),
  [codecTarget("unknown_types", undefined, corpus), 0.025],
  [tlvTarget(corpus), 0.1],
  [addressTarget(corpus), 0.1],
  [zlibTarget(corpus), 0.09]
]

/** Allocations of inputs smaller than this are judged against it (a decode's fixed cost is not amplification). */
export const DEFAULT_SIZE_FLOOR = 4096

/** Stable per-target seed, so one decoder's inputs do not depend on which others ran. */
const seedFor = (seed: number, name: string): number => {
  let h = seed >>> 0
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0
  return h
}

export interface SuiteOptions {
  readonly seed: number
  /** Inputs in total, shared by weight. */
  readonly count: number
  readonly slowMs?: number
  readonly sizeFloor?: number
  /** Only targets whose name contains this. */
  readonly only?: string
  readonly onReport?: (r: TargetReport) => void
}

export const runSuite = async (options: SuiteOptions): Promise<ReadonlyArray<TargetReport>> => {
  const corpus = loadCorpus()
  const overhead = calibrate()
  const chosen = targets(corpus).filter(([t]) => options.only === undefined || t.name.includes(options.only))
  const total = chosen.reduce((s, [, w]) => s + w, 0)
  const reports: Array<TargetReport> = []
  let left = options.count
  for (const [i, [t, w]] of chosen.entries()) {
    const n = i === chosen.length - 1 ? left : Math.round((options.count * w) / total)
    left -= n
    const r = await t.run(new Rng(seedFor(options.seed, t.name)), n, {
      overhead,
      slowMs: options.slowMs ?? 1,
      sizeFloor: options.sizeFloor ?? DEFAULT_SIZE_FLOOR
    })
    reports.push(r)
    options.onReport?.(r)
  }
  return reports
}
