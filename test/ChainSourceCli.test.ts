/**
 * Issue 15, "Done when": `lnsync sync --chain-source esplora:<url>` against the in-suite chain server rejects a
 * channel without a funding output and stores the capacity of the others. The real CLI, spawned as a user runs it,
 * syncs over loopback TCP from an honest lnsync peer serving a small signed graph; the chain holds real funding
 * outputs (P2WSH 2-of-2 of each announcement's bitcoin keys) for every channel but one. Waits on the child's exit.
 * A chain source that refuses us (wrong bitcoind credentials) or is on another network than `--chain` fails the run
 * at start, before any sync.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ExitCode } from "../src/bin/terminal.js"
import { BITCOIN_REGTEST } from "../src/domain/Chain.js"
import { toHex } from "../src/domain/Hex.js"
import * as ChainServer from "../src/testing/chain/ChainServer.js"
import { capacityOf, SyntheticChain } from "../src/testing/chain/SyntheticChain.js"
import { GENERATED_TIP, generateGraph } from "../src/testing/GraphGenerator.js"
import { servingPeer, splitGraph } from "../src/testing/SimulatedNetwork.js"
import { runCli } from "./support/cli.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-chain-cli-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

/** `lnsync sync` from `peer` into `db` through the chain source `source`, on regtest, until synced. */
const syncArgs = (
  peer: { readonly address: { readonly nodeId: Uint8Array; readonly host: string; readonly port: number } },
  db: string,
  source: string,
  extra: ReadonlyArray<string> = [],
  chain = "regtest"
): Array<string> => [
  "sync",
  "--peer",
  `${toHex(peer.address.nodeId)}@${peer.address.host}:${peer.address.port}`,
  "--db",
  db,
  "--key-file",
  path.join(dir, "key"),
  "--chain",
  chain,
  "--chain-source",
  source,
  "--exit-when-synced",
  ...extra,
  "--sync-deadline",
  "60s"
]

/**
 * One sync against the chain server through `source` (a --chain-source value built from the server's URLs), with
 * `env` added to the child's environment; then the store must hold every funded channel with its capacity and not
 * the unfunded one.
 */
const syncAgainstChain = (
  name: string,
  source: (server: ChainServer.ChainServer) => string,
  env: Record<string, string>,
  requestKind: string
) =>
  Effect.gen(function* () {
    const graph = generateGraph({
      seed: 41,
      channels: 40,
      chainHash: BITCOIN_REGTEST,
      now: Math.floor(Date.now() / 1000)
    })
    const [unfunded, ...funded] = graph.channelAnnouncements
    const chain = SyntheticChain.forAnnouncements(funded, GENERATED_TIP)
    const server = yield* ChainServer.make(chain)
    const peer = yield* servingPeer(splitGraph(graph, 1)[0]!, { chain: BITCOIN_REGTEST, name: `chain-cli/${name}` })
    const db = path.join(dir, `${name}.sqlite`)
    const run = yield* runCli(syncArgs(peer, db, source(server), ["--reply-timeout", "5s"]), {
      LNSYNC_LOG_FORMAT: "line",
      NO_COLOR: "1",
      ...env
    })
    if (run.code !== 0) console.log(run.stdout, run.stderr)
    expect(run.code).toBe(0)
    expect(server.requests.get(requestKind) ?? 0).toBeGreaterThan(0)
    // probed once at start (one source for the pipeline and the chain watcher), and it answered
    expect(run.stderr.split("\n").filter((l) => l.includes(": tip at height "))).toHaveLength(1)

    const rows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql<
        { readonly scid: bigint; readonly capacity_sat: bigint | null }
      >`SELECT scid, capacity_sat FROM channels ORDER BY scid`.pipe(
        Effect.provideService(SqlClient.SafeIntegers, true)
      )).pipe(Effect.provide(SqliteClient.layer({ filename: db, readonly: true })))
    const held = new Map(rows.map((r) => [BigInt(r.scid), r.capacity_sat === null ? null : BigInt(r.capacity_sat)]))
    expect(held.has(unfunded.shortChannelId)).toBe(false)
    expect(held.size).toBe(funded.length)
    for (const a of funded) expect(held.get(a.shortChannelId)).toBe(capacityOf(a.shortChannelId))
  }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))

/**
 * `lnsync sync --chain <chain>` (into its own file) against the regtest chain server's source named by `source`, with
 * `env` added; the server is never asked to sync.
 */
const syncRefused = (
  source: (server: ChainServer.ChainServer) => string,
  env: Record<string, string>,
  chain = "regtest"
) =>
  Effect.gen(function* () {
    const graph = generateGraph({
      seed: 42,
      channels: 5,
      chainHash: BITCOIN_REGTEST,
      now: Math.floor(Date.now() / 1000)
    })
    const server = yield* ChainServer.make(SyntheticChain.forAnnouncements(graph.channelAnnouncements, GENERATED_TIP))
    const peer = yield* servingPeer(splitGraph(graph, 1)[0]!, { chain: BITCOIN_REGTEST, name: "chain-cli/refused" })
    const run = yield* runCli(syncArgs(peer, path.join(dir, `refused-${chain}.sqlite`), source(server), [], chain), {
      LNSYNC_LOG_FORMAT: "line",
      NO_COLOR: "1",
      ...env
    })
    return { run, server }
  }).pipe(Effect.scoped)

describe("lnsync sync --chain-source (issue 15)", () => {
  it.live(
    "bitcoind refusing our credentials fails the run at start: exit 2, one line naming the source, no password",
    () =>
      Effect.gen(function* () {
        const cases: ReadonlyArray<{
          readonly source: (s: ChainServer.ChainServer) => string
          readonly env: Record<string, string>
          readonly secret: string
          readonly shown: (s: ChainServer.ChainServer) => string
        }> = [
          // the password from the environment
          {
            source: (s) => `bitcoind:${s.rpcUrl}`,
            env: { LNSYNC_BITCOIND_USER: "lnsync", LNSYNC_BITCOIND_PASSWORD: "env-pw-not-this-one" },
            secret: "env-pw-not-this-one",
            shown: (s) => `bitcoind:${s.rpcUrl}`
          },
          // the password in the URL: masked where the source is named
          {
            source: (s) => `bitcoind:${s.rpcUrl.replace("http://", "http://lnsync:url-pw-not-this-one@")}`,
            env: {},
            secret: "url-pw-not-this-one",
            shown: (s) => `bitcoind:${s.rpcUrl.replace("http://", "http://lnsync:***@")}`
          }
        ]
        for (const c of cases) {
          const { run, server } = yield* syncRefused(c.source, c.env)
          const shown = c.shown(server)
          const output = `exit ${run.code}\n${run.stdout}\n${run.stderr}`
          expect(run.code, output).toBe(ExitCode.usage)
          const failures = run.stderr.split("\n").filter((l) => l.startsWith("lnsync: "))
          expect(failures, output).toEqual([
            `lnsync: chain source ${shown} unusable (getblockcount): RPC credentials refused (HTTP 401)`
          ])
          // refused before the sync began: nothing synced, nothing claimed
          expect(run.stdout).not.toContain("synced:")
          expect(run.stderr).not.toContain("syncing regtest gossip")
          expect(output).not.toContain(c.secret)
        }
      }),
    120_000
  )

  it.live(
    "--chain mainnet against a regtest chain source fails the run at start: exit 2, one line naming both networks",
    () =>
      Effect.gen(function* () {
        const { run, server } = yield* syncRefused((s) => `esplora:${s.esploraUrl}`, {}, "mainnet")
        const output = `exit ${run.code}\n${run.stdout}\n${run.stderr}`
        expect(run.code, output).toBe(ExitCode.usage)
        expect(run.stderr.split("\n").filter((l) => l.startsWith("lnsync: ")), output).toEqual([
          `lnsync: chain source esplora:${server.esploraUrl} unusable (network): on regtest, the node syncs mainnet`
        ])
        expect(run.stdout).not.toContain("synced:")
        expect(run.stderr).not.toContain("syncing mainnet gossip")
      }),
    120_000
  )

  it.live(
    "esplora: the channel without a funding output is rejected, the others stored with their capacity",
    () => syncAgainstChain("esplora", (server) => `esplora:${server.esploraUrl}`, {}, "txs"),
    120_000
  )

  it.live(
    "bitcoind named by the flag takes its credentials from LNSYNC_BITCOIND_USER/PASSWORD (the RPC refuses without)",
    () =>
      syncAgainstChain("bitcoind", (server) => `bitcoind:${server.rpcUrl}`, {
        LNSYNC_BITCOIND_USER: "lnsync",
        LNSYNC_BITCOIND_PASSWORD: "secret"
      }, "gettxout"),
    120_000
  )
})
