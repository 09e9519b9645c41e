import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, Layer, TestClock } from "effect"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import type { ChannelAnnouncement } from "../src/domain/Messages.js"
import * as Bitcoind from "../src/layers/chain/Bitcoind.js"
import * as Esplora from "../src/layers/chain/Esplora.js"
import type { ChainSourceService } from "../src/services/ChainSource.js"
import { ChainSource, expectedFundingScriptPubKey, fundingScript, trustModel } from "../src/services/ChainSource.js"
import * as ChainServer from "../src/testing/chain/ChainServer.js"
import { capacityOf, SyntheticChain } from "../src/testing/chain/SyntheticChain.js"
import { GENERATED_TIP, generateGraph } from "../src/testing/GraphGenerator.js"

const graph = generateGraph({ seed: 15, channels: 12, chainHash: BITCOIN_MAINNET, now: 1_750_000_000 })
const anns = graph.channelAnnouncements

const sources = (server: ChainServer.ChainServer): ReadonlyArray<readonly [string, Layer.Layer<ChainSource>]> => [
  ["esplora", Esplora.layer({ url: server.esploraUrl, retries: 3, retryBase: "1 second" })],
  [
    "bitcoind",
    Bitcoind.layer({
      url: server.rpcUrl,
      user: ChainServer.RPC_USER,
      password: ChainServer.RPC_PASSWORD,
      retries: 3,
      retryBase: "1 second"
    })
  ]
]

const check = (layer: Layer.Layer<ChainSource>, batch: ReadonlyArray<ChannelAnnouncement>) =>
  Effect.flatMap(ChainSource, (c: ChainSourceService) => c.checkFunding(batch)).pipe(Effect.provide(layer))

describe("ChainSource", () => {
  it("BOLT 3: the funding script is 2 <k1> <k2> 2 CHECKMULTISIG with the keys sorted; P2WSH wraps its sha256", () => {
    const [a] = anns
    const script = fundingScript(a.bitcoinKey2, a.bitcoinKey1)
    expect(script).toEqual(fundingScript(a.bitcoinKey1, a.bitcoinKey2))
    expect(script.length).toBe(71)
    expect([script[0], script[1], script[35], script[69], script[70]]).toEqual([0x52, 0x21, 0x21, 0x52, 0xae])
    expect(Buffer.compare(script.subarray(2, 35), script.subarray(36, 69))).toBeLessThan(0)
    const spk = expectedFundingScriptPubKey(a)
    expect([spk.length, spk[0], spk[1]]).toEqual([34, 0x00, 0x20])
    expect(trustModel("none")).toMatch(/signatures only/)
  })

  it.scoped("BOLT 7 over Esplora and bitcoind: valid with its capacity; missing, wrong script and spent outputs refused", () =>
    Effect.gen(function* () {
      const [_missing, wrong, spent, ...good] = anns
      const chain = SyntheticChain.forAnnouncements([wrong, spent, ...good], GENERATED_TIP)
      chain.breakScript(wrong.shortChannelId)
      chain.mine([spent.shortChannelId])
      const server = yield* ChainServer.make(chain)
      for (const [name, layer] of sources(server)) {
        const results = yield* check(layer, anns)
        expect(results.map((r) => r._tag), name).toEqual(["Invalid", "Invalid", "Invalid", ...good.map(() => "Valid")])
        expect(results[0]).toMatchObject({ reason: expect.stringMatching(/no output/) })
        expect(results[1]).toMatchObject({ reason: expect.stringMatching(/2-of-2/) })
        expect(results[2]).toMatchObject({ spent: true })
        good.forEach((a, i) =>
          expect(results[3 + i], name).toEqual({
            _tag: "Valid",
            capacitySat: capacityOf(a.shortChannelId),
            fundingTxid: chain.outputAt(a.shortChannelId)?.tx.txid
          })
        )
        const tip = yield* Effect.flatMap(ChainSource, (c) => c.tipHeight ?? Effect.succeed(-1)).pipe(
          Effect.provide(layer)
        )
        expect(tip).toBe(GENERATED_TIP + 1)
        const spentOutpoints = yield* Effect.flatMap(
          ChainSource,
          (c) => c.spentInBlock?.(GENERATED_TIP + 1) ?? Effect.succeed([])
        ).pipe(
          Effect.provide(layer)
        )
        expect(spentOutpoints).toEqual([
          `${chain.outputAt(spent.shortChannelId)?.tx.txid}:${Number(spent.shortChannelId & 0xffffn)}`
        ])
      }
    }))

  it.scoped("batched per block: one block lookup per block, whatever the announcements in it", () =>
    Effect.gen(function* () {
      const chain = SyntheticChain.forAnnouncements(anns, GENERATED_TIP)
      const server = yield* ChainServer.make(chain)
      const blocks = new Set(anns.map((a) => a.shortChannelId >> 40n)).size
      yield* check(sources(server)[1][1], anns)
      expect(server.requests.get("getblock")).toBe(blocks)
      expect(server.requests.get("gettxout")).toBe(anns.length)
      expect(server.requests.get("getrawtransaction")).toBeUndefined() // only asked where gettxout says null
      // Esplora: the pages holding the funding transactions, no txid list nor transaction one by one
      const pages = new Set(anns.map((a) =>
        `${a.shortChannelId >> 40n}/${Math.floor(Number((a.shortChannelId >> 16n) & 0xffffffn) / 25)}`
      )).size
      yield* check(sources(server)[0][1], anns)
      expect(server.requests.get("block-height")).toBe(blocks)
      expect(server.requests.get("txs")).toBe(pages)
      expect([server.requests.get("txids"), server.requests.get("tx")]).toEqual([undefined, undefined])
    }))

  it.scoped("bitcoind: the HTTP requests for N blocks are O(N / blocksPerCall), three JSON-RPC batches per call", () =>
    Effect.gen(function* () {
      const [missing, spent, ...rest] = anns
      const chain = SyntheticChain.forAnnouncements([spent, ...rest], GENERATED_TIP)
      chain.mine([spent.shortChannelId])
      const server = yield* ChainServer.make(chain)
      // one announcement per block: N = 12 blocks (the generator spreads a small graph over many blocks)
      const blocks = new Set(anns.map((a) => a.shortChannelId >> 40n)).size
      expect(blocks).toBe(anns.length)
      for (const perCall of [1, 4, 32]) {
        const before = server.received()
        const results = yield* check(
          Bitcoind.layer({
            url: server.rpcUrl,
            user: ChainServer.RPC_USER,
            password: ChainServer.RPC_PASSWORD,
            blocksPerCall: perCall
          }),
          anns
        )
        expect(results[0], `${perCall}`).toMatchObject({ _tag: "Invalid", reason: expect.stringMatching(/no output/) })
        expect(results[1], `${perCall}`).toMatchObject({ _tag: "Invalid", spent: true })
        expect(results.slice(2).every((r) => r._tag === "Valid"), `${perCall}`).toBe(true)
        // at most getblockhash, getblock and gettxout batches per call (fewer when a call's blocks are all
        // missing), plus one getrawtransaction batch in the call holding the spent output (gettxout null: spent
        // or missing, the transaction tells which)
        const calls = Math.ceil(blocks / perCall)
        const requests = server.received() - before
        expect(requests, `${perCall}`).toBeLessThanOrEqual(3 * calls + 1)
        expect(requests, `${perCall}`).toBeGreaterThanOrEqual(calls)
        if (perCall >= blocks) expect(requests).toBe(4)
      }
      expect(chain.outputAt(missing.shortChannelId)).toBeUndefined()
    }))

  it.scoped("a backend that is down fails with ChainSourceUnavailable after its retries, with backoff; one that comes back succeeds", () =>
    Effect.gen(function* () {
      const chain = SyntheticChain.forAnnouncements(anns, GENERATED_TIP)
      const server = yield* ChainServer.make(chain)
      server.down = true
      for (const [name, layer] of sources(server)) {
        const before = server.received()
        const fiber = yield* Effect.fork(Effect.either(check(layer, anns.slice(0, 1))))
        // the first attempt fails; the retries wait for backoffs only the TestClock can pass
        yield* server.untilRequests(before + 1)
        yield* Effect.yieldNow()
        expect(fiber.unsafePoll(), name).toBeNull()
        expect(server.received()).toBe(before + 1)
        yield* TestClock.adjust("1 minute")
        const result = yield* Fiber.join(fiber)
        expect(Either.isLeft(result) && result.left._tag, name).toBe("ChainSourceUnavailable")
        expect(server.received(), name).toBe(before + 4) // one attempt and three retries
      }
      server.down = false
      const ok = yield* check(sources(server)[0][1], anns.slice(0, 1))
      expect(ok[0]._tag).toBe("Valid")
    }))
})
