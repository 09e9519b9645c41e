import { createHash } from "node:crypto"
import * as os from "node:os"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Logger, LogLevel, Scope } from "effect"
import secp256k1 from "secp256k1"
import type { VerifyItem } from "../src/services/SignatureVerifier.js"
import * as SignatureVerifierModule from "../src/services/SignatureVerifier.js"
import { SignatureVerifier } from "../src/services/SignatureVerifier.js"
import * as VerifyWorkerPool from "../src/layers/verify/VerifyWorkerPool.js"
import { workerExecArgv } from "../src/layers/verify/VerifyWorkerPool.js"

const sha = (s: string) => new Uint8Array(createHash("sha256").update(s).digest())
const key = (i: number) => sha(`key ${i}`)

const ORDER = Buffer.from("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", "hex")

/** s' = n - s: the high-S twin of a (low-S) signature, which libsecp256k1 (and Core Lightning) reject. */
const highS = (sig: Uint8Array): Uint8Array => {
  const out = Uint8Array.from(sig)
  let borrow = 0
  for (let i = 31; i >= 0; i--) {
    let d = ORDER[i] - sig[32 + i] - borrow
    borrow = d < 0 ? 1 : 0
    if (d < 0) d += 256
    out[32 + i] = d
  }
  return out
}

/** A mix of valid and invalid items, with the expected answer for each. */
const fixture = (n: number): { items: Array<VerifyItem>; expected: Array<boolean> } => {
  const items: Array<VerifyItem> = []
  const expected: Array<boolean> = []
  for (let i = 0; i < n; i++) {
    const priv = key(i % 17)
    const pubkey = secp256k1.publicKeyCreate(priv)
    const hash = sha(`msg ${i}`)
    const sig = secp256k1.ecdsaSign(hash, priv).signature
    switch (i % 7) {
      case 0: // flipped bit in the signature
        sig[10] ^= 1
        items.push({ hash, sig, pubkey })
        expected.push(false)
        break
      case 1: // signed by another key
        items.push({ hash, sig, pubkey: secp256k1.publicKeyCreate(key(i % 17 + 1)) })
        expected.push(false)
        break
      case 2: // high-S form of a valid signature (malleated)
        items.push({ hash, sig: highS(sig), pubkey })
        expected.push(false)
        break
      case 3: // not a point on the curve
        items.push({ hash, sig, pubkey: new Uint8Array(33).fill(2) })
        expected.push(false)
        break
      case 4: // r >= n: unparseable signature
        items.push({ hash, sig: new Uint8Array(64).fill(0xff), pubkey })
        expected.push(false)
        break
      default:
        items.push({ hash, sig, pubkey })
        expected.push(true)
    }
  }
  return { items, expected }
}

describe("SignatureVerifier", () => {
  it.effect("BOLT 7: in-thread verifier accepts valid signatures and rejects bad, malleated (high-S) and malformed ones", () =>
    Effect.gen(function* () {
      const { items, expected } = fixture(70)
      const v = yield* SignatureVerifier
      expect(yield* v.verifyBatch(items)).toEqual(expected)
      expect(v.parallelism).toBe(1)
    }).pipe(Effect.provide(SignatureVerifierModule.layerInThread)))

  it.effect("BOLT 7: the worker pool gives the same answers as the in-thread verifier, in order", () =>
    Effect.gen(function* () {
      const { items, expected } = fixture(3000)
      const v = yield* SignatureVerifier
      expect(v.parallelism).toBe(os.availableParallelism())
      const got = yield* v.verifyBatch(items)
      expect(got).toEqual(expected)
      expect(yield* SignatureVerifierModule.makeInThread().verifyBatch(items)).toEqual(expected)
      expect(yield* v.verifyBatch([])).toEqual([])
      // Concurrent batches are answered independently.
      const [a, b] = yield* Effect.all([v.verifyBatch(items.slice(0, 500)), v.verifyBatch(items.slice(500, 1300))], {
        concurrency: "unbounded"
      })
      expect(a).toEqual(expected.slice(0, 500))
      expect(b).toEqual(expected.slice(500, 1300))
      // the packed form: same answers, one byte each, input untouched
      const packed = SignatureVerifierModule.pack(items)
      const copy = Uint8Array.from(packed)
      const bytes = yield* v.verifyPacked(packed, items.length)
      expect(Array.from(bytes, (x) => x === 1)).toEqual(expected)
      expect(packed).toEqual(copy)
      expect(
        Array.from(yield* SignatureVerifierModule.makeInThread().verifyPacked(packed, items.length), (x) => x === 1)
      ).toEqual(expected)
    }).pipe(Effect.provide(VerifyWorkerPool.layer())))

  it.effect("the workers' key cache (and its starting over when full) gives the answers raw ecdsaVerify gives", () =>
    Effect.gen(function* () {
      // 17 signing keys, each seen many times: first sight, decompression at the second, cache hits after; a cache
      // of 5 keys starts over again and again. The invalid keys (not a point) repeat too and must stay invalid.
      const { items, expected } = fixture(1500)
      for (const options of [{ keyCache: false }, { keyCacheSize: 5 }, {}]) {
        const pool = yield* VerifyWorkerPool.make({ threads: 2, chunkSize: 100, ...options })
        expect(yield* pool.verifier.verifyBatch(items)).toEqual(expected)
        // a second pass: every key is now cached (or, at size 5, evicted again)
        expect(yield* pool.verifier.verifyBatch(items)).toEqual(expected)
      }
    }).pipe(Effect.scoped))

  it.effect("closing the pool's scope terminates every worker thread", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const pool = yield* VerifyWorkerPool.make({ threads: 3, chunkSize: 64 }).pipe(Scope.extend(scope))
      const workers = pool.workers()
      expect(workers.length).toBe(3)
      const exited: Array<number> = []
      for (const w of workers) w.once("exit", () => exited.push(w.threadId))
      const { items, expected } = fixture(400)
      expect(yield* pool.verifier.verifyBatch(items)).toEqual(expected)
      yield* Scope.close(scope, Exit.void)
      expect(exited.length).toBe(3)
      expect(pool.workers().length).toBe(0)
    }))

  it.effect("a worker that dies is not a crash: its work (and later work) is checked in-thread", () =>
    Effect.gen(function* () {
      const { items, expected } = fixture(300)
      const pool = yield* VerifyWorkerPool.make({ threads: 2, chunkSize: 50 })
      const [first, second] = pool.workers()
      yield* Effect.promise(() => first.terminate())
      expect(pool.workers().length).toBe(1)
      expect(yield* pool.verifier.verifyBatch(items)).toEqual(expected)
      yield* Effect.promise(() => second.terminate())
      expect(pool.workers().length).toBe(0)
      expect(yield* pool.verifier.verifyBatch(items)).toEqual(expected)
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.None)))

  it("workers start without the process's module loaders (tsx) or process-wide flags, keeping its profiler flags", () => {
    expect(
      workerExecArgv([
        "--import",
        "tsx",
        "--cpu-prof",
        "--cpu-prof-dir",
        "out/prof",
        "--require=./hook.cjs",
        "--expose-gc",
        "--max-old-space-size=512",
        "--heap-prof-interval=4096",
        "--loader",
        "ts-node/esm"
      ])
    ).toEqual(["--cpu-prof", "--cpu-prof-dir", "out/prof", "--heap-prof-interval=4096"])
    expect(workerExecArgv([])).toEqual([])
  })
})
