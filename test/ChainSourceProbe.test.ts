/**
 * The chain source an operator names is probed once when the node starts (`ChainSourceConfig.layer`): a source that
 * answers something that will never work (refused credentials, not the API its kind says) fails the build with a
 * `ChainSourceStartupError` naming the source without its password, and so does one on another network than the
 * node's (its genesis block, BOLT 7 `chain_hash`); one that is down or hung is a warning and the node carries on
 * (its checks retry). Against the in-suite chain server; the hung case on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Fiber, Logger, TestClock } from "effect"
import { BITCOIN_MAINNET, BITCOIN_REGTEST, BITCOIN_TESTNET3 } from "../src/domain/Chain.js"
import type { ChainHash } from "../src/domain/Messages.js"
import * as ChainSourceConfig from "../src/layers/chain/ChainSourceConfig.js"
import type { ChainSourceSpec } from "../src/layers/chain/ChainSourceConfig.js"
import { ChainSource } from "../src/services/ChainSource.js"
import * as ChainServer from "../src/testing/chain/ChainServer.js"
import { capacityOf, SyntheticChain } from "../src/testing/chain/SyntheticChain.js"
import { GENERATED_TIP, generateGraph } from "../src/testing/GraphGenerator.js"

const graph = generateGraph({ seed: 43, channels: 3, chainHash: BITCOIN_REGTEST, now: 1_750_000_000 })
const [unfunded, ...funded] = graph.channelAnnouncements

const bitcoind = (server: ChainServer.ChainServer, password: string): ChainSourceSpec => ({
  kind: "bitcoind",
  url: server.rpcUrl,
  user: ChainServer.RPC_USER,
  password
})

/** Builds the layer `spec` names for a node on `chain` and asks it for its kind: the build's failure, if any. */
const build = (spec: ChainSourceSpec, chain: ChainHash = BITCOIN_REGTEST) =>
  Effect.either(Effect.provide(Effect.map(ChainSource, (s) => s.kind), ChainSourceConfig.layer(spec, chain)))

/** The messages logged while `effect` runs. */
const logged = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const logger = Logger.make(({ message }) => {
      lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
    const result = yield* effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
    return [result, lines] as const
  })

describe("ChainSourceConfig.layer probes the chain source at start", () => {
  it.scoped("a source that answers is built after one tip request, and checks funding", () =>
    Effect.gen(function* () {
      const server = yield* ChainServer.make(SyntheticChain.forAnnouncements(funded, GENERATED_TIP))
      const [results, lines] = yield* logged(
        Effect.flatMap(ChainSource, (s) => s.checkFunding([unfunded, ...funded])).pipe(
          Effect.provide(ChainSourceConfig.layer(bitcoind(server, ChainServer.RPC_PASSWORD), BITCOIN_REGTEST))
        )
      )
      expect(results.map((r) => r._tag)).toEqual(["Invalid", "Valid", "Valid"])
      expect(server.requests.get("getblockcount")).toBe(1)
      expect(lines).toContain(`chain source bitcoind:${server.rpcUrl}: tip at height ${GENERATED_TIP}`)
    }))

  it.scoped("refused credentials fail the build: ChainSourceStartupError naming the source, never the password", () =>
    Effect.gen(function* () {
      const server = yield* ChainServer.make(SyntheticChain.forAnnouncements(funded, GENERATED_TIP))
      const urlPassword = server.rpcUrl.replace("http://", "http://lnsync:not-the-password@")
      for (
        const [spec, shown] of [
          [bitcoind(server, "wrong"), `bitcoind:${server.rpcUrl}`],
          [{ kind: "bitcoind", url: urlPassword }, `bitcoind:${server.rpcUrl.replace("http://", "http://lnsync:***@")}`]
        ] as const
      ) {
        const built = yield* build(spec)
        expect(Either.isLeft(built)).toBe(true)
        if (Either.isLeft(built)) {
          expect(built.left).toBeInstanceOf(ChainSourceConfig.ChainSourceStartupError)
          expect(built.left.source).toBe(shown)
          expect(built.left.operation).toBe("getblockcount")
          expect(built.left.message).toBe(
            `chain source ${shown} unusable (getblockcount): RPC credentials refused (HTTP 401)`
          )
          expect(built.left.message).not.toContain("not-the-password")
        }
      }
      // not retried: a refusal stays a refusal
      expect(server.received()).toBe(2)
    }))

  it.scoped("a URL that is not the API its kind says fails the build, saying so", () =>
    Effect.gen(function* () {
      const server = yield* ChainServer.make(SyntheticChain.forAnnouncements(funded, GENERATED_TIP))
      const notEsplora = yield* build({ kind: "esplora", url: server.rpcUrl })
      expect(Either.isLeft(notEsplora) && notEsplora.left.message).toBe(
        `chain source esplora:${server.rpcUrl} unusable (tip height): no /blocks/tip/height here: not an Esplora API`
      )
      const notBitcoind = yield* build({ kind: "bitcoind", url: server.esploraUrl })
      expect(Either.isLeft(notBitcoind) && notBitcoind.left.message).toBe(
        `chain source bitcoind:${server.esploraUrl} unusable (getblockcount): HTTP 404: no JSON-RPC here (not bitcoind?)`
      )
    }))

  it.scoped("a source on another network than the node's fails the build, naming both networks (bitcoind, Esplora)", () =>
    Effect.gen(function* () {
      const testnet = yield* ChainServer.make(
        SyntheticChain.forAnnouncements(funded, GENERATED_TIP, capacityOf, BITCOIN_TESTNET3)
      )
      const regtest = yield* ChainServer.make(SyntheticChain.forAnnouncements(funded, GENERATED_TIP))
      for (
        const [server, chain, says] of [
          [testnet, BITCOIN_REGTEST, "on testnet3, the node syncs regtest"],
          [regtest, BITCOIN_MAINNET, "on regtest, the node syncs mainnet"]
        ] as const
      ) {
        for (
          const [spec, shown] of [
            [bitcoind(server, ChainServer.RPC_PASSWORD), `bitcoind:${server.rpcUrl}`],
            [{ kind: "esplora", url: server.esploraUrl }, `esplora:${server.esploraUrl}`]
          ] as const
        ) {
          const built = yield* build(spec, chain)
          expect(Either.isLeft(built) && built.left).toBeInstanceOf(ChainSourceConfig.ChainSourceStartupError)
          expect(Either.isLeft(built) && built.left.message).toBe(`chain source ${shown} unusable (network): ${says}`)
        }
      }
      // asked block 0 once per build, as bitcoind's getblockhash 0 and Esplora's /block-height/0
      expect(testnet.requests.get("getblockhash")).toBe(1)
      expect(testnet.requests.get("block-height")).toBe(1)
    }))

  it.scoped("a genesis block of no known chain fails the build, naming both hashes as bitcoind shows them", () =>
    Effect.gen(function* () {
      const odd = new Uint8Array(32).fill(7)
      const server = yield* ChainServer.make(SyntheticChain.forAnnouncements(funded, GENERATED_TIP, capacityOf, odd))
      const built = yield* build({ kind: "esplora", url: server.esploraUrl }, BITCOIN_REGTEST)
      expect(Either.isLeft(built) && built.left.message).toBe(
        `chain source esplora:${server.esploraUrl} unusable (network): block 0 is ${"07".repeat(32)}, regtest's is ` +
          "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
      )
    }))

  it.scoped("a source that is down at start is a warning, asked once: the node starts, and checks once it is up", () =>
    Effect.gen(function* () {
      const server = yield* ChainServer.make(SyntheticChain.forAnnouncements(funded, GENERATED_TIP))
      server.down = true
      const [results, lines] = yield* logged(
        Effect.gen(function* () {
          const source = yield* ChainSource
          // the probe asked once and did not retry; the node is up
          expect(server.received()).toBe(1)
          server.down = false
          return yield* source.checkFunding([unfunded, ...funded])
        }).pipe(Effect.provide(ChainSourceConfig.layer({ kind: "esplora", url: server.esploraUrl }, BITCOIN_REGTEST)))
      )
      expect(results.map((r) => r._tag)).toEqual(["Invalid", "Valid", "Valid"])
      expect(lines.filter((l) => l.includes("unavailable at startup"))).toEqual([
        `chain source esplora:${server.esploraUrl} unavailable at startup (tip height: HTTP 503: down); carrying on, funding checks and the chain watcher retry it`
      ])
    }))

  it.scoped("a hung source holds the start for the probe's timeout at most, then is a warning", () =>
    Effect.gen(function* () {
      const server = yield* ChainServer.make(SyntheticChain.forAnnouncements(funded, GENERATED_TIP))
      server.hold = true
      const starting = yield* Effect.fork(build(bitcoind(server, ChainServer.RPC_PASSWORD)))
      yield* server.untilRequests(1)
      yield* TestClock.adjust(ChainSourceConfig.PROBE_TIMEOUT)
      const built = yield* Fiber.join(starting)
      expect(built).toEqual(Either.right("bitcoind"))
      server.release()
    }))
})
