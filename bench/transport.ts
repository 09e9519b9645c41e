/**
 * Transport bench (`npm run bench:transport`): BOLT 8 encrypted throughput over loopback TCP for 200-byte
 * (gossip-sized) messages — our dialer sends, our listener receives through the whole Peer stack (framing, key
 * rotation, decode, bounded queues, backpressure) — against the floor measured in the same run: raw node
 * ChaCha20-Poly1305 seal + open of the same 200-byte message (one AEAD each way, no framing, no I/O).
 *
 * Last line: `transport: <N> msg/s; <R>× of raw AEAD`.
 */
import { Effect, Logger, LogLevel, Option, Stream } from "effect"
import * as crypto from "node:crypto"
import * as Chain from "../src/domain/Chain.js"
import { generatePrivateKey } from "../src/domain/Noise.js"
import * as TcpPeerConnector from "../src/layers/net/TcpPeerConnector.js"

const MESSAGE_SIZE = 200
const MESSAGES = 100_000
const ROUNDS = 3

/** A 200-byte wire message of an unknown odd type: decoded cheaply, so the bench measures the transport. */
const wire = new Uint8Array(MESSAGE_SIZE)
wire[0] = 0x7f
wire[1] = 0x01
for (let i = 2; i < MESSAGE_SIZE; i++) wire[i] = i & 0xff

// --- floor: raw AEAD -------------------------------------------------------------------------------------------
const rawAead = (n: number): number => {
  const key = crypto.randomBytes(32)
  const nonce = Buffer.alloc(12)
  let check = 0
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    nonce.writeUInt32LE(i, 4)
    const c = crypto.createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 })
    const body = c.update(wire)
    c.final()
    const tag = c.getAuthTag()
    const d = crypto.createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 })
    d.setAuthTag(tag)
    const plain = d.update(body)
    d.final()
    check ^= plain[5]
  }
  const seconds = (performance.now() - t0) / 1000
  if (check !== 0 && check !== wire[5]) throw new Error("AEAD round trip mismatch")
  return n / seconds
}

// --- transport over loopback -------------------------------------------------------------------------------------
/** One connected pair; rounds alternate with raw AEAD rounds so machine load affects both alike. */
const bench = Effect.gen(function* () {
  const server = yield* TcpPeerConnector.make(
    TcpPeerConnector.makeConfig(generatePrivateKey(), Chain.BITCOIN_MAINNET, { listen: { host: "127.0.0.1", port: 0 } })
  )
  const client = yield* TcpPeerConnector.make(TcpPeerConnector.makeConfig(generatePrivateKey(), Chain.BITCOIN_MAINNET))
  const events = yield* server.events
  const address = Option.getOrThrow(server.listenAddress)
  const out = yield* client.connect({ nodeId: server.nodeId, host: address.host, port: address.port })
  const connected = Option.getOrThrow(yield* Stream.runHead(events))
  if (connected._tag !== "Connected") return yield* Effect.dieMessage("expected a Connected event")
  const pull = yield* Stream.toPull(connected.peer.messages)

  const transportRound = (n: number) =>
    Effect.gen(function* () {
      const t0 = performance.now()
      const send = Effect.forEach(Array.from({ length: n }), () => out.sendRaw(wire), { discard: true })
      const receive = Effect.gen(function* () {
        let got = 0
        while (got < n) got += (yield* Effect.orDie(pull)).length
      })
      yield* Effect.all([send, receive], { concurrency: 2, discard: true })
      return n / ((performance.now() - t0) / 1000)
    })

  // warm-up (JIT, socket buffers)
  rawAead(MESSAGES / 10)
  yield* transportRound(MESSAGES / 10)
  const raw: Array<number> = []
  const ours: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    raw.push(rawAead(MESSAGES))
    ours.push(yield* transportRound(MESSAGES))
  }
  yield* out.disconnect("bench done")
  return { raw, ours }
}).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

const main = async () => {
  const started = performance.now()
  const { raw: rawRates, ours: rates } = await Effect.runPromise(bench)
  const best = (xs: ReadonlyArray<number>) => Math.max(...xs)
  const raw = best(rawRates)
  const ours = best(rates)
  const mb = (rate: number) => ((rate * MESSAGE_SIZE) / 1e6).toFixed(1)
  const list = (xs: ReadonlyArray<number>) => xs.map((r) => Math.round(r)).join(", ")
  console.log(`messages: ${MESSAGES} × ${MESSAGE_SIZE} bytes per round, best of ${ROUNDS} (rounds alternate)`)
  console.log(
    `raw ChaCha20-Poly1305 seal+open: ${Math.round(raw)} msg/s (${mb(raw)} MB/s of plaintext) [${list(rawRates)}]`
  )
  console.log(
    `BOLT 8 over loopback TCP (2 seals + 2 opens per message, framing, Peer queues): ${Math.round(ours)} msg/s (${
      mb(ours)
    } MB/s) [${list(rates)}]`
  )
  console.log(`took ${((performance.now() - started) / 1000).toFixed(1)} s`)
  console.log(`transport: ${Math.round(ours)} msg/s; ${(ours / raw).toFixed(2)}× of raw AEAD`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
