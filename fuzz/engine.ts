/**
 * The fuzzing engine behind `npm run fuzz` and test/Fuzz.test.ts: a seeded PRNG, structure-blind mutators (bit
 * flips, interesting bytes, truncations, splices, length-field edits, random tails, insertions, deletions), and a
 * runner that feeds one decoder and accounts crashes, slow inputs and allocation per input.
 *
 * What "allocation" means here (be precise, it is an estimate): `v8.getHeapStatistics()` read just before and just
 * after the decode call, `Δused_heap_size + Δexternal_memory` (JS objects, strings, BigInts, arrays, code, plus
 * ArrayBuffer backing stores such as zlib output and Buffer copies), minus the constant cost of the measurement
 * itself (calibrated on a no-op). A garbage collection during the call makes a delta negative; such inputs are
 * measured again (up to 3 times). The worst inputs of each decoder are measured again at the end and keep the
 * smallest of 3 readings, so one-off JIT code or a concurrent sweep does not pass for the decoder's own allocation.
 * The ratio reported is `allocated / max(input size, floor)` (floor 4 KiB by default): inputs under the floor are
 * judged as if they were that large, since a decode has a fixed cost whatever the input (a typed error with its
 * stack trace ~1–4 KB, node's crypto objects per AEAD open ~2 KB, zlib's inflate state ~7 KB + its first output
 * chunk). The peak column is the largest absolute allocation of any input.
 */
import * as v8 from "node:v8"

/** sfc32: small, fast, seedable; one instance per run (no shared state). */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number
  constructor(seed: number) {
    this.a = 0x9e3779b9
    this.b = 0x243f6a88
    this.c = 0xb7e15162
    this.d = seed >>> 0
    for (let i = 0; i < 16; i++) this.u32()
  }
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }
  /** Uniform in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : this.u32() % n
  }
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p
  }
  pick<A>(xs: ReadonlyArray<A>): A {
    return xs[this.int(xs.length)]
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff
    return out
  }
}

const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x7f, 0x80, 0xfc, 0xfd, 0xfe, 0xff]

/** Length-field values worth trying: the edges of u8/u16 fields, BigSize prefixes and the remaining length ± 1. */
const lengthValues = (remaining: number): ReadonlyArray<number> => [
  0,
  1,
  2,
  7,
  8,
  9,
  0xfc,
  0xfd,
  0xff,
  0x100,
  0x7fff,
  0xfffd,
  0xffff,
  Math.max(0, remaining - 1),
  remaining,
  Math.min(0xffff, remaining + 1)
]

/** One mutation of `input`, using `corpus` for splices. Never mutates its arguments. */
export const mutateOnce = (
  rng: Rng,
  input: Uint8Array,
  corpus: ReadonlyArray<Uint8Array>,
  maxSize: number
): Uint8Array => {
  const n = input.length
  switch (rng.int(10)) {
    case 0: {
      // bit flips
      if (n === 0) return rng.bytes(1 + rng.int(8))
      const out = input.slice()
      for (let k = 1 + rng.int(4); k > 0; k--) out[rng.int(n)] ^= 1 << rng.int(8)
      return out
    }
    case 1: {
      // interesting byte values
      if (n === 0) return Uint8Array.of(rng.pick(INTERESTING_BYTES))
      const out = input.slice()
      for (let k = 1 + rng.int(3); k > 0; k--) out[rng.int(n)] = rng.pick(INTERESTING_BYTES)
      return out
    }
    case 2:
      // truncation
      return input.slice(0, rng.int(n + 1))
    case 3: {
      // splice: a prefix of this input and a suffix of another
      const other = rng.pick(corpus)
      const cut = rng.int(n + 1)
      const from = rng.int(other.length + 1)
      return concat(input.subarray(0, cut), other.subarray(from), maxSize)
    }
    case 4:
    case 5: {
      // length-field edit: a u16 (or u8 / BigSize prefix) written at a random offset
      if (n < 2) return concat(input, rng.bytes(2), maxSize)
      const out = input.slice()
      const at = rng.int(n - 1)
      const v = rng.pick(lengthValues(n - at - 2))
      if (rng.chance(0.25)) out[at] = v & 0xff
      else {
        out[at] = (v >>> 8) & 0xff
        out[at + 1] = v & 0xff
      }
      return out
    }
    case 6:
      // random tail
      return concat(input, rng.bytes(rng.chance(0.9) ? 1 + rng.int(64) : 1 + rng.int(4096)), maxSize)
    case 7: {
      // insert random bytes
      const at = rng.int(n + 1)
      return concat(concat(input.subarray(0, at), rng.bytes(1 + rng.int(16)), maxSize), input.subarray(at), maxSize)
    }
    case 8: {
      // delete a range
      if (n === 0) return input
      const at = rng.int(n)
      const len = 1 + rng.int(Math.min(32, n - at))
      return concat(input.subarray(0, at), input.subarray(at + len), maxSize)
    }
    default: {
      // duplicate a range in place
      if (n === 0) return input
      const at = rng.int(n)
      const len = 1 + rng.int(Math.min(64, n - at))
      return concat(input.subarray(0, at + len), input.subarray(at), maxSize)
    }
  }
}

/** 1–4 stacked mutations of a corpus member. */
export const mutate = (rng: Rng, corpus: ReadonlyArray<Uint8Array>, maxSize: number): Uint8Array => {
  let out = rng.pick(corpus)
  for (let k = 1 + rng.int(4); k > 0; k--) out = mutateOnce(rng, out, corpus, maxSize)
  return out
}

const concat = (a: Uint8Array, b: Uint8Array, maxSize: number): Uint8Array => {
  const out = new Uint8Array(Math.min(maxSize, a.length + b.length))
  out.set(a.subarray(0, out.length))
  if (a.length < out.length) out.set(b.subarray(0, out.length - a.length), a.length)
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Targets and outcomes

/**
 * What a decode did. `rejected` is a typed failure (Either.left of the module's own error); `crash` is anything
 * else (a throw, a left that is not the typed error, a codec "internal" error); `mismatch` is an accepted input the
 * decoder's own contract disagrees with (re-encoding differs, scanner and decoder disagree).
 */
export type Verdict =
  | { readonly _tag: "accepted" }
  | { readonly _tag: "rejected" }
  | { readonly _tag: "crash"; readonly reason: string }
  | { readonly _tag: "mismatch"; readonly reason: string }

export const accepted: Verdict = { _tag: "accepted" }
export const rejected: Verdict = { _tag: "rejected" }
export const crash = (reason: string): Verdict => ({ _tag: "crash", reason })
export const mismatch = (reason: string): Verdict => ({ _tag: "mismatch", reason })

/** One decoder under test. `decode` is what is timed and measured; `check` judges its result outside the window. */
export interface Target<R> {
  readonly name: string
  /** Real inputs to mutate (from test/vectors, or built from them). */
  readonly corpus: ReadonlyArray<Uint8Array>
  /** A fresh input: mostly mutated corpus members, some random. */
  readonly generate: (rng: Rng) => Uint8Array
  readonly decode: (input: Uint8Array) => R
  readonly check: (input: Uint8Array, result: R) => Verdict
  /** Size the allocation is judged against when over 1x the input's (default: the input's length). */
  readonly sizeOf?: (input: Uint8Array) => number
}

/** A target with its result type hidden, so targets of different decoders sit in one list. */
export interface AnyTarget {
  readonly name: string
  readonly run: (rng: Rng, count: number, options: RunOptions) => Promise<TargetReport>
}

export const target = <R>(t: Target<R>): AnyTarget => ({
  name: t.name,
  run: (rng, count, options) => runTarget(t, rng, count, options)
})

// ---------------------------------------------------------------------------------------------------------------
// Measurement

const reading = (): readonly [number, number] => {
  const h = v8.getHeapStatistics()
  return [h.used_heap_size, h.external_memory]
}

/** The measurement's own cost (the statistics object read between the two samples): smallest of many no-ops. */
export const calibrate = (): number => {
  let best = Number.POSITIVE_INFINITY
  for (let i = 0; i < 200; i++) {
    const [h0, e0] = reading()
    const [h1, e1] = reading()
    const d = h1 - h0 + (e1 - e0)
    if (h1 >= h0 && e1 >= e0 && d < best) best = d
  }
  return Number.isFinite(best) ? best : 0
}

interface Measured<R> {
  readonly result: R | undefined
  readonly thrown: unknown
  readonly didThrow: boolean
  readonly ms: number
  /** Bytes, or undefined when a GC disturbed every attempt. */
  readonly bytes: number | undefined
}

const measureOnce = <R>(decode: (input: Uint8Array) => R, input: Uint8Array, overhead: number): Measured<R> => {
  let result: R | undefined
  let thrown: unknown = undefined
  let didThrow = false
  const [h0, e0] = reading()
  const t0 = performance.now()
  try {
    result = decode(input)
  } catch (e) {
    thrown = e
    didThrow = true
  }
  const ms = performance.now() - t0
  const [h1, e1] = reading()
  const disturbed = h1 < h0 || e1 < e0
  return { result, thrown, didThrow, ms, bytes: disturbed ? undefined : Math.max(0, h1 - h0 + (e1 - e0) - overhead) }
}

/** Measures with retries: again while a GC disturbed the reading, and the fastest of 3 when it looks slow. */
const measure = <R>(
  decode: (input: Uint8Array) => R,
  input: Uint8Array,
  overhead: number,
  slowMs: number
): Measured<R> => {
  let m = measureOnce(decode, input, overhead)
  let bytes = m.bytes
  let ms = m.ms
  for (let attempt = 0; attempt < 2 && (bytes === undefined || ms > slowMs); attempt++) {
    const again = measureOnce(decode, input, overhead)
    if (again.bytes !== undefined) bytes = bytes === undefined ? again.bytes : Math.min(bytes, again.bytes)
    ms = Math.min(ms, again.ms)
    m = again
  }
  return { ...m, bytes, ms }
}

// ---------------------------------------------------------------------------------------------------------------
// Running one target

export interface RunOptions {
  /** Measurement overhead from `calibrate`. */
  readonly overhead: number
  /** Inputs slower than this are reported (after the fastest-of-3 retry). */
  readonly slowMs: number
  /** Floor of the size allocations are judged against. */
  readonly sizeFloor: number
}

export interface Finding {
  readonly verdict: string
  readonly reason: string
  readonly inputHex: string
}

export interface TargetReport {
  readonly name: string
  readonly inputs: number
  readonly accepted: number
  readonly rejected: number
  readonly crashes: number
  readonly mismatches: number
  readonly slow: number
  readonly unmeasured: number
  readonly maxMs: number
  /** Worst `allocated / max(size, floor)` after re-measuring the worst inputs. */
  readonly worstRatio: number
  readonly worstBytes: number
  readonly worstSize: number
  readonly worstInputHex: string
  /** When judged against another size than the input's (zlib: inflated bytes), the worst ratio to the input's. */
  readonly worstRatioVsInput: number | undefined
  /** Largest allocation seen for any input, bytes. */
  readonly maxBytes: number
  readonly maxInputSize: number
  readonly findings: ReadonlyArray<Finding>
  readonly seconds: number
}

const describe = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e))
const hexOf = (b: Uint8Array): string =>
  Buffer.from(b.subarray(0, 256)).toString("hex") + (b.length > 256 ? `…(${b.length} B)` : "")

/**
 * Node frees the buffers of a synchronous zlib call only once the event loop turns (the handle closes on a later
 * tick): a loop that never yields holds ~16 KB per inflate, gigabytes over a run. So the runner yields every so often.
 */
const YIELD_EVERY = 256
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const runTarget = async <R>(t: Target<R>, rng: Rng, count: number, options: RunOptions): Promise<TargetReport> => {
  const started = performance.now()
  let acceptedN = 0
  let rejectedN = 0
  let crashes = 0
  let mismatches = 0
  let slow = 0
  let unmeasured = 0
  let maxMs = 0
  let maxBytes = 0
  let maxInputSize = 0
  const findings: Array<Finding> = []
  // the worst few inputs by ratio, re-measured at the end
  const worst: Array<{ input: Uint8Array; ratio: number }> = []
  const sizeOf = t.sizeOf ?? ((i: Uint8Array) => Math.max(i.length, 0))
  let worstVsInput = 0
  const ratioOf = (input: Uint8Array, bytes: number) => {
    const plain = bytes / Math.max(input.length, options.sizeFloor)
    // the judged size (zlib: inflated bytes) is only worth computing when the plain ratio is over 1
    return plain <= 1 ? plain : bytes / Math.max(sizeOf(input), options.sizeFloor)
  }
  for (let i = 0; i < count; i++) {
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await turn()
    const input = t.generate(rng)
    if (input.length > maxInputSize) maxInputSize = input.length
    const m = measure(t.decode, input, options.overhead, options.slowMs)
    if (m.ms > maxMs) maxMs = m.ms
    if (m.ms > options.slowMs) {
      slow++
      if (findings.filter((f) => f.verdict === "slow").length < 3) {
        findings.push({
          verdict: "slow",
          reason: `${m.ms.toFixed(2)} ms for ${input.length} B`,
          inputHex: hexOf(input)
        })
      }
    }
    if (m.bytes === undefined) unmeasured++
    else {
      if (m.bytes > maxBytes) maxBytes = m.bytes
      if (t.sizeOf !== undefined) {
        worstVsInput = Math.max(worstVsInput, m.bytes / Math.max(input.length, options.sizeFloor))
      }
      const ratio = ratioOf(input, m.bytes)
      if (worst.length < 8 || ratio > worst[worst.length - 1].ratio) {
        worst.push({ input, ratio })
        worst.sort((a, b) => b.ratio - a.ratio)
        if (worst.length > 8) worst.pop()
      }
    }
    const verdict: Verdict = m.didThrow ? crash(`threw ${describe(m.thrown)}`) : safeCheck(t, input, m.result as R)
    switch (verdict._tag) {
      case "accepted":
        acceptedN++
        break
      case "rejected":
        rejectedN++
        break
      case "crash":
        crashes++
        if (findings.filter((f) => f.verdict === "crash").length < 5) {
          findings.push({ verdict: "crash", reason: verdict.reason, inputHex: hexOf(input) })
        }
        break
      case "mismatch":
        mismatches++
        if (findings.filter((f) => f.verdict === "mismatch").length < 5) {
          findings.push({ verdict: "mismatch", reason: verdict.reason, inputHex: hexOf(input) })
        }
        break
    }
  }
  // re-measure the worst: smallest of 3 undisturbed readings
  let worstRatio = 0
  let worstBytes = 0
  let worstSize = 0
  let worstInputHex = ""
  await turn()
  for (const w of worst) {
    let best: number | undefined
    for (let k = 0; k < 3; k++) {
      const b = measureOnce(t.decode, w.input, options.overhead).bytes
      if (b !== undefined) best = best === undefined ? b : Math.min(best, b)
    }
    if (best === undefined) continue
    const ratio = ratioOf(w.input, best)
    if (ratio > worstRatio) {
      worstRatio = ratio
      worstBytes = best
      worstSize = sizeOf(w.input)
      worstInputHex = hexOf(w.input)
    }
  }
  return {
    name: t.name,
    inputs: count,
    accepted: acceptedN,
    rejected: rejectedN,
    crashes,
    mismatches,
    slow,
    unmeasured,
    maxMs,
    worstRatio,
    worstBytes,
    worstSize,
    worstInputHex,
    worstRatioVsInput: t.sizeOf === undefined ? undefined : worstVsInput,
    maxBytes,
    maxInputSize,
    findings,
    seconds: (performance.now() - started) / 1000
  }
}

const safeCheck = <R>(t: Target<R>, input: Uint8Array, result: R): Verdict => {
  try {
    return t.check(input, result)
  } catch (e) {
    // the checker re-encodes accepted values; an encoder throwing on a decoded value is a contract mismatch
    return mismatch(`check threw ${describe(e)}`)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Report lines

const kib = (n: number): string => (n < 10_240 ? `${n} B` : `${(n / 1024).toFixed(0)} KiB`)

export const formatLine = (r: TargetReport): string =>
  [
    r.name.padEnd(34),
    `inputs ${String(r.inputs).padStart(7)}`,
    `ok ${String(r.accepted).padStart(6)}`,
    `rejected ${String(r.rejected).padStart(7)}`,
    `crashes ${r.crashes}`,
    `mismatches ${r.mismatches}`,
    `slow>1ms ${r.slow}`,
    `max ${r.maxMs.toFixed(2)} ms`,
    `alloc worst ${r.worstRatio.toFixed(1)}x (${kib(r.worstBytes)} for ${kib(r.worstSize)})`,
    r.worstRatioVsInput === undefined ? "" : `vs wire size ${r.worstRatioVsInput.toFixed(0)}x`,
    `peak ${kib(r.maxBytes)}`,
    r.unmeasured > 0 ? `unmeasured ${r.unmeasured}` : "",
    `${r.seconds.toFixed(1)} s`
  ]
    .filter((s) => s !== "")
    .join("  ")
