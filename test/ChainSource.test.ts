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
    Bitcoind.layer({ url: server.rpcUrl, user: ChainServer.RPC_USER, password: ChainServer.RPC_PASSWORD, retries: 3, retryBase: "1 second" })
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
      const [missing, wrong, spent, ...good] = anns
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
        const tip = yield* Effect.flatMap(ChainSource, (c) => c.tipHeight ?? Effect.succeed(-1)).pipe(Effect.provide(layer))
        expect(tip).toBe(GENERATED_TIP + 1)
        const spentOutpoints = yield* Effect.flatMap(ChainSource, (c) => c.spentInBlock?.(GENERATED_TIP + 1) ?? Effect.succeed([])).pipe(
          Effect.provide(layer)
        )
        expect(spentOutpoints).toEqual([`${chain.outputAt(spent.shortChannelId)?.tx.txid}:${Number(spent.shortChannelId & 0xffffn)}`])
      }
    }))

  it.scoped("batched per block: one block lookup per block, whatever the announcements in it", () =>
    Effect.gen(function* () {
      const chain = SyntheticChain.forAnnouncements(anns, GENERATED_TIP)
      const server = yield* ChainServer.make(chain)
      const blocks = new Set(anns.map((a) => a.shortChannelId >> 40n)).size
      yield* check(sources(server)[1][1], anns)
      expect(server.requests.get("getblock")).toBe(blocks)
      expect(server.requests.get("gettxout")).toBe(anns.length) // one batched request per block
      yield* check(sources(server)[0][1], anns)
      expect(server.requests.get("txids")).toBe(blocks)
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
