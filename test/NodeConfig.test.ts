/**
 * The node's one configuration: `Node.config` reads `LNSYNC_*`, and what a node built from it runs with (the
 * pipeline's and the SyncManager's validated configs) follows from it, with lnd's defaults for what is absent.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BITCOIN_MAINNET, BITCOIN_REGTEST } from "../src/domain/Chain.js"
import { toHex } from "../src/domain/Hex.js"
import * as Node from "../src/layers/Node.js"
import { GossipPipelineConfig, GossipPipelineDefaults } from "../src/services/GossipPipelineConfig.js"
import { SyncManagerConfig, SyncManagerDefaults } from "../src/services/SyncManagerConfig.js"
import { fakeNodeIdHex } from "./support/FakeSyncer.js"

const fromEnv = (env: Record<string, string>) =>
  ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" })

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-config-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

/** The configs a node built from `env` runs with. */
const serviceConfigs = (env: Record<string, string>) =>
  Effect.gen(function* () {
    const config = yield* Node.config
    const settings = Node.settingsFromConfig(config, new Uint8Array(32).fill(1))
    return yield* Effect.all([GossipPipelineConfig, SyncManagerConfig]).pipe(
      Effect.provide(Node.layerServiceConfig(settings))
    )
  }).pipe(Effect.withConfigProvider(fromEnv(env)))

describe("NodeConfig", () => {
  it.effect("defaults when nothing is set: mainnet, no peers, ./lnsync.sqlite, 3 active syncers, not listening", () =>
    Effect.gen(function* () {
      const config = yield* Node.config.pipe(Effect.withConfigProvider(fromEnv({})))
      expect(config).toEqual(Node.NodeConfigDefaults)
      expect(config.chain).toBe("mainnet")
      expect(config.db).toBe("./lnsync.sqlite")
      expect(config.active).toBe(3)
      expect(config.keyFile).toBe("./lnsync-node.key")
      expect(config.listen).toBeUndefined()
      expect(config.exitWhenSynced).toBe(false)
    }))

  it.effect("LNSYNC_* sets peers, pinned, db, listen, active, key file, chain and exit-when-synced", () =>
    Effect.gen(function* () {
      const a = fakeNodeIdHex(1)
      const b = fakeNodeIdHex(2)
      const config = yield* Node.config.pipe(
        Effect.withConfigProvider(
          fromEnv({
            LNSYNC_PEERS: `${a}@127.0.0.1:9735, ${b}@[::1]:9736`,
            LNSYNC_PINNED: a.toUpperCase(),
            LNSYNC_DB: "/var/lib/lnsync/graph.sqlite",
            LNSYNC_LISTEN: "0.0.0.0:9735",
            LNSYNC_ACTIVE: "5",
            LNSYNC_KEY_FILE: "/etc/lnsync/node.key",
            LNSYNC_CHAIN: "regtest",
            LNSYNC_EXIT_WHEN_SYNCED: "true"
          })
        )
      )
      expect(config.peers.map((p) => `${toHex(p.nodeId)}@${p.host}:${p.port}`)).toEqual([
        `${a}@127.0.0.1:9735`,
        `${b}@::1:9736`
      ])
      expect(config.pinned).toEqual([a])
      expect(config.db).toBe("/var/lib/lnsync/graph.sqlite")
      expect(config.listen).toEqual({ host: "0.0.0.0", port: 9735 })
      expect(config.active).toBe(5)
      expect(config.keyFile).toBe("/etc/lnsync/node.key")
      expect(config.chain).toBe("regtest")
      expect(config.exitWhenSynced).toBe(true)
    }))

  it.effect("a malformed peer or listen address is refused, naming the key", () =>
    Effect.gen(function* () {
      const bad: ReadonlyArray<readonly [string, string]> = [["PEERS", "not-a-peer"], ["LISTEN", "9735"], [
        "CHAIN",
        "litecoin"
      ]]
      for (const [key, value] of bad) {
        const exit = yield* Effect.exit(
          Node.config.pipe(Effect.withConfigProvider(fromEnv({ [`LNSYNC_${key}`]: value })))
        )
        expect(Exit.isFailure(exit)).toBe(true)
        expect(JSON.stringify(exit)).toContain(key)
      }
    }))

  it.effect("SM-33 defaults (lnd) for the pipeline: threshold 100, 48 h bans, 10,000 tracked peers; mainnet", () =>
    Effect.gen(function* () {
      const [c] = yield* serviceConfigs({})
      expect(c).toEqual(GossipPipelineDefaults)
      expect([c.banThreshold, c.banDurationMillis, c.maxTrackedPeers]).toEqual([100, 48 * 3600 * 1000, 10_000])
      expect(c.chainHash).toEqual(BITCOIN_MAINNET)
    }))

  it.effect("the pipeline's values come from LNSYNC_*", () =>
    Effect.gen(function* () {
      const [c] = yield* serviceConfigs({
        LNSYNC_CHAIN: "regtest",
        LNSYNC_BAN_THRESHOLD: "0",
        LNSYNC_BAN_DURATION: "1 hours",
        LNSYNC_BATCH_SIZE: "256",
        LNSYNC_MAX_FUTURE: "10 minutes"
      })
      expect(c.chainHash).toEqual(BITCOIN_REGTEST)
      expect(c.banThreshold).toBe(0)
      expect(c.banDurationMillis).toBe(3600 * 1000)
      expect(c.batchSize).toBe(256)
      expect(c.maxFutureSeconds).toBe(600)
    }))

  it.effect("SM-2: the SyncManager's values come from LNSYNC_* with lnd's defaults for absent keys", () =>
    Effect.gen(function* () {
      const pinned = fakeNodeIdHex(1)
      const [, values] = yield* serviceConfigs({
        LNSYNC_ACTIVE: "2",
        LNSYNC_HISTORICAL_SYNC_INTERVAL: "30 minutes",
        LNSYNC_PINNED: `${pinned},${fakeNodeIdHex(2)}`
      })
      expect(values.numActiveSyncers).toBe(2)
      expect(Duration.toMillis(values.historicalSyncInterval)).toBe(30 * 60_000)
      expect(Duration.toMillis(values.rotationInterval)).toBe(20 * 60_000)
      expect([...values.pinnedPeers].sort()).toEqual([pinned, fakeNodeIdHex(2)].sort())
      expect(values.msgBytesPerSecond).toBe(SyncManagerDefaults.msgBytesPerSecond)
    }))

  it.effect("SM-3: invalid values are refused when the node starts", () =>
    Effect.gen(function* () {
      const burst = yield* Effect.exit(serviceConfigs({ LNSYNC_MSG_BURST_BYTES: "1000" }))
      expect(burst._tag === "Failure" && JSON.stringify(burst.cause)).toMatch(/SyncManagerConfigError/)
      const batch = yield* Effect.exit(serviceConfigs({ LNSYNC_BATCH_SIZE: "4096", LNSYNC_QUEUE_BOUND: "1024" }))
      expect(batch._tag === "Failure" && JSON.stringify(batch.cause)).toMatch(/GossipPipelineConfigError/)
    }))

  it.effect("the node key is created once (mode 0600) and then read back: our node id stays stable", () =>
    Effect.gen(function* () {
      const file = path.join(dir, "node.key")
      const first = yield* Node.loadNodeKey(file)
      const again = yield* Node.loadNodeKey(file)
      expect(first.length).toBe(32)
      expect(toHex(again)).toBe(toHex(first))
      expect(fs.statSync(file).mode & 0o777).toBe(0o600)
      fs.writeFileSync(path.join(dir, "bad.key"), "abcd\n")
      const bad = yield* Effect.flip(Node.loadNodeKey(path.join(dir, "bad.key")))
      expect(bad.message).toMatch(/bad\.key: key file must hold 32 bytes/)
    }))
})
