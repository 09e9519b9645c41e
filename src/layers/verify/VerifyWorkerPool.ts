/**
 * The SignatureVerifier on a pool of worker threads, one per core (`layer`); the in-thread verifier it falls back
 * to is `SignatureVerifier.layerInThread`.
 *
 * A full mainnet sync is ~340k secp256k1 verifications, so they leave the main thread: the pool packs a batch into
 * transferable buffers (one postMessage per chunk of `chunkSize` signatures, not per signature) and spreads the
 * chunks over the least busy workers. The workers are plain JavaScript (`verify-worker.mjs`, loaded via
 * `import.meta.url`) so they start the same under tsx, vitest and plain node. The pool lives in a Scope: closing it
 * terminates every thread and waits for their exit.
 */
import * as os from "node:os"
import { Worker } from "node:worker_threads"
import { Effect, Layer, Runtime } from "effect"
import type { Scope } from "effect"
import type { SignatureVerifierService, VerifyItem } from "../../services/SignatureVerifier.js"
import { pack, PACKED_ITEM_SIZE, SignatureVerifier, verifyPackedInThread } from "../../services/SignatureVerifier.js"

/** Packed item layout shared with verify-worker.mjs: [32 hash][64 signature][33 public key]. */
const ITEM_SIZE = PACKED_ITEM_SIZE

const toBooleans = (res: Uint8Array): ReadonlyArray<boolean> => Array.from(res, (b) => b === 1)

export interface VerifyWorkerPoolOptions {
  /** Worker threads; default `os.availableParallelism()`. */
  readonly threads?: number
  /** Most signatures per postMessage; default 512 (amortises the message cost, keeps every worker fed). */
  readonly chunkSize?: number
  /**
   * Whether a worker keeps the uncompressed form of keys it sees twice (default true: a node key signs all its
   * gossip, and decompressing it is ~10% of a check). False gives raw `ecdsaVerify`, what the benches' floor is.
   */
  readonly keyCache?: boolean
  /** Most keys a worker's cache holds before it starts over; default 32768 (~2 MB of uncompressed keys). */
  readonly keyCacheSize?: number
}

export interface VerifyWorkerPoolHandle {
  readonly verifier: SignatureVerifierService
  /** The live worker threads (for observation: tests watch their `exit` events). */
  readonly workers: () => ReadonlyArray<Worker>
}

interface PoolWorker {
  readonly worker: Worker
  alive: boolean
  /** Signatures handed to this worker and not answered yet. */
  inflight: number
}

interface PendingChunk {
  readonly owner: PoolWorker
  /** The caller's packed items (chunks travel as copies, so this stays readable for an in-thread fallback). */
  readonly packed: Uint8Array
  readonly start: number
  readonly end: number
  readonly out: Uint8Array
  readonly done: () => void
}

interface WorkerReply {
  readonly id: number
  readonly buf: ArrayBuffer
}

const isWorkerReply = (u: unknown): u is WorkerReply =>
  typeof u === "object" && u !== null && typeof (u as WorkerReply).id === "number" &&
  (u as WorkerReply).buf instanceof ArrayBuffer

const workerUrl = new URL("./verify-worker.mjs", import.meta.url)

/** Per-thread profiler flags (`--cpu-prof`, `--heap-prof` and their `-dir`/`-name`/`-interval` options). */
const PROFILER_FLAG = /^--(cpu|heap)-prof(-dir|-name|-interval)?$/
const TAKES_VALUE = /-(dir|name|interval)$/

/**
 * The node flags a verify worker starts with: only the process's per-thread profiler flags. Inheriting the whole
 * `execArgv` (node's default) would load the process's module loaders into every worker — `--import tsx` under
 * `npm run`/`bin/lnsync.js` costs ~10 MB per thread for a worker that is plain JavaScript — and naming
 * process-wide flags (`--expose-gc`, heap limits) explicitly is refused by `new Worker`.
 */
export const workerExecArgv = (execArgv: ReadonlyArray<string>): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]
    const eq = arg.indexOf("=")
    const flag = eq < 0 ? arg : arg.slice(0, eq)
    if (!PROFILER_FLAG.test(flag)) continue
    out.push(arg)
    if (eq < 0 && TAKES_VALUE.test(flag) && i + 1 < execArgv.length) out.push(execArgv[++i])
  }
  return out
}

/**
 * Starts the pool in the current Scope. Closing the scope terminates every worker and waits for its exit. A worker
 * that dies on its own is not restarted: its chunks (and later ones, if none is left) are checked in-thread, and the
 * death is logged.
 */
export const make = (
  options: VerifyWorkerPoolOptions = {}
): Effect.Effect<VerifyWorkerPoolHandle, never, Scope.Scope> =>
  Effect.gen(function* () {
    const threads = Math.max(1, options.threads ?? os.availableParallelism())
    const maxChunk = Math.max(1, options.chunkSize ?? 512)
    const workerData = { keyCache: options.keyCache ?? true, keyCacheSize: Math.max(1, options.keyCacheSize ?? 32768) }
    const runtime = yield* Effect.runtime<never>()
    const logError = (message: string) => Runtime.runFork(runtime)(Effect.logError(message))
    const pending = new Map<number, PendingChunk>()
    let nextId = 1
    let closing = false

    const finishInThread = (chunk: PendingChunk) => {
      verifyPackedInThread(chunk.packed, chunk.start, chunk.end, chunk.out)
      chunk.done()
    }

    const spawn = (): PoolWorker => {
      const worker = new Worker(workerUrl, { execArgv: workerExecArgv(process.execArgv), workerData })
      const pw: PoolWorker = { worker, alive: true, inflight: 0 }
      worker.on("message", (msg: unknown) => {
        if (!isWorkerReply(msg)) return
        const chunk = pending.get(msg.id)
        if (chunk === undefined) return // its caller was interrupted
        pending.delete(msg.id)
        pw.inflight -= chunk.end - chunk.start
        chunk.out.set(new Uint8Array(msg.buf), chunk.start)
        chunk.done()
      })
      worker.on("error", (err) => {
        if (!closing) logError(`signature worker ${worker.threadId} failed: ${String(err)}`)
      })
      worker.on("exit", (code) => {
        pw.alive = false
        if (closing) return
        logError(`signature worker exited unexpectedly (code ${code}); its signatures are checked in-thread`)
        for (const [id, chunk] of pending) {
          if (chunk.owner !== pw) continue
          pending.delete(id)
          finishInThread(chunk)
        }
      })
      return pw
    }

    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => Array.from({ length: threads }, spawn)),
      (ws) =>
        Effect.promise(() => {
          closing = true
          // terminate() settles once the thread has emitted 'exit' (at once if it already has).
          return Promise.all(ws.map((w) => w.worker.terminate().then(() => undefined, () => undefined)))
        })
    )

    const leastBusy = (): PoolWorker | undefined => {
      let best: PoolWorker | undefined
      for (const w of pool) if (w.alive && (best === undefined || w.inflight < best.inflight)) best = w
      return best
    }

    const verifyPacked = (packed: Uint8Array, count: number): Effect.Effect<Uint8Array> => {
      if (count === 0) return Effect.succeed(new Uint8Array(0))
      return Effect.async<Uint8Array>((resume) => {
        const out = new Uint8Array(count)
        const live = pool.reduce((k, w) => (w.alive ? k + 1 : k), 0)
        if (live === 0) {
          verifyPackedInThread(packed, 0, count, out)
          resume(Effect.succeed(out))
          return
        }
        // Small batches still use every worker; large ones go in chunks of at most `maxChunk`.
        const size = Math.max(1, Math.min(maxChunk, Math.ceil(count / live)))
        let remaining = Math.ceil(count / size)
        const ids: Array<number> = []
        const done = () => {
          remaining -= 1
          if (remaining === 0) resume(Effect.succeed(out))
        }
        for (let start = 0; start < count; start += size) {
          const end = Math.min(count, start + size)
          const owner = leastBusy()
          const chunk: PendingChunk = { owner: owner ?? pool[0], packed, start, end, out, done }
          if (owner === undefined) {
            finishInThread(chunk)
            continue
          }
          const id = nextId++
          const buf = packed.slice(start * ITEM_SIZE, end * ITEM_SIZE).buffer
          pending.set(id, chunk)
          ids.push(id)
          owner.inflight += end - start
          owner.worker.postMessage({ id, buf, count: end - start }, [buf])
        }
        return Effect.sync(() => {
          for (const id of ids) {
            const chunk = pending.get(id)
            if (chunk === undefined) continue
            pending.delete(id)
            chunk.owner.inflight -= chunk.end - chunk.start
          }
        })
      })
    }

    const verifyBatch = (items: ReadonlyArray<VerifyItem>): Effect.Effect<ReadonlyArray<boolean>> =>
      items.length === 0 ? Effect.succeed([]) : Effect.map(verifyPacked(pack(items), items.length), toBooleans)

    return {
      verifier: { verifyBatch, verifyPacked, parallelism: threads },
      workers: () => pool.filter((w) => w.alive).map((w) => w.worker)
    }
  })

/** The pool as the SignatureVerifier, one worker per core (or `options.threads`), scoped to the layer. */
export const layer = (options: VerifyWorkerPoolOptions = {}): Layer.Layer<SignatureVerifier> =>
  Layer.scoped(
    SignatureVerifier,
    Effect.map(make(options), (h) => h.verifier)
  )
