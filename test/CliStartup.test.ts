/**
 * The CLI's startup cost (issue 18): `lnsync --help` and `lnsync sync` load only what they use. The HTTP API (the
 * `@effect/platform` index, with its swagger and scalar UI bundles), the `@effect/platform-node` index, PostgreSQL,
 * the demo, the vectors check and the chain backends (Esplora, bitcoind) load when a command needs them — and every
 * command still works with them loaded so.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"
import { load } from "../src/bin/lazy.js"
import { ExitCode } from "../src/bin/terminal.js"
import { BITCOIN_REGTEST } from "../src/domain/Chain.js"
import { toHex } from "../src/domain/Hex.js"
import * as ChainSourceConfig from "../src/layers/chain/ChainSourceConfig.js"
import * as Node from "../src/layers/Node.js"
import { ChainSource } from "../src/services/ChainSource.js"
import { GraphStore } from "../src/services/GraphStore.js"
import * as ChainServer from "../src/testing/chain/ChainServer.js"
import { SyntheticChain } from "../src/testing/chain/SyntheticChain.js"
import { GENERATED_TIP, generateGraph } from "../src/testing/GraphGenerator.js"
import { servingPeer, splitGraph } from "../src/testing/SimulatedNetwork.js"
import { type CliRun, runCli } from "./support/cli.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-cli-startup-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

/**
 * What loading `entry` loads: the source files and the packages its static, non-type imports reach (dynamic
 * `import()` is what a command loads when it runs, so the walk stops there).
 */
const staticImports = (entry: string) => {
  const files = new Set<string>()
  const packages = new Set<string>()
  const visit = (file: string) => {
    if (files.has(file)) return
    files.add(file)
    const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.ES2022)
    for (const statement of source.statements) {
      const specifier = ts.isImportDeclaration(statement) && statement.importClause?.isTypeOnly !== true
        ? statement.moduleSpecifier
        : ts.isExportDeclaration(statement) && !statement.isTypeOnly
        ? statement.moduleSpecifier
        : undefined
      if (specifier === undefined || !ts.isStringLiteral(specifier)) continue
      const name = specifier.text
      if (name.startsWith(".")) visit(path.resolve(path.dirname(file), name.replace(/\.js$/, ".ts")))
      else packages.add(name)
    }
  }
  visit(entry)
  return { files: [...files].map((f) => path.relative(root, f)), packages: [...packages] }
}

const showRun = (label: string, run: CliRun) => `${label}: exit ${run.code}\n${run.stdout}\n${run.stderr}`

describe("lnsync loads a command's modules when the command runs (issue 18)", () => {
  it("lnsync --help and lnsync sync reach no HTTP API, PostgreSQL, demo, vectors or testing module", () => {
    const { files, packages } = staticImports(path.join(root, "src/bin/lnsync.ts"))
    // the walk is real: what sync needs is there
    expect(files).toContain("src/layers/Node.ts")
    expect(files).toContain("src/bin/run.ts")
    expect(files).toContain("src/layers/graph/GraphStoreSqlite.ts")
    for (
      const heavy of [
        "src/layers/http/HttpServer.ts",
        "src/layers/http/HttpApi.ts",
        "src/layers/http/GraphJson.ts",
        "src/layers/graph/GraphStorePg.ts",
        "src/layers/graph/GraphQueryPg.ts",
        "src/bin/demo.ts",
        "src/bin/vectors.ts",
        // the chain backends and @effect/platform's HTTP client: only for --chain-source esplora/bitcoind
        "src/layers/chain/Esplora.ts",
        "src/layers/chain/Bitcoind.ts",
        "src/layers/chain/http.ts"
      ]
    ) expect(files).not.toContain(heavy)
    // choosing the store (SQLite or PostgreSQL) loads no node-postgres
    expect(files).toContain("src/layers/graph/databaseUrl.ts")
    expect(files.filter((f) => f.startsWith("src/testing/"))).toEqual([])
    // the package indexes load every module of the package; PostgreSQL only for a postgres:// --db
    expect(packages).not.toContain("@effect/platform")
    expect(packages.filter((p) => p.startsWith("@effect/platform/"))).toEqual([])
    expect(packages).not.toContain("@effect/platform-node")
    expect(packages.filter((p) => p.startsWith("@effect/sql-pg") || p === "pg" || p === "postgres")).toEqual([])
  })

  it.effect("a module that cannot load is a CommandFailed naming it, exit 70 (a broken install), not swallowed", () =>
    Effect.gen(function* () {
      const missing = "./no-such-module.js"
      const result = yield* Effect.either(load<unknown>("the missing part (bin/missing)", () => import(missing)))
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left._tag).toBe("CommandFailed")
        expect(result.left.code).toBe(ExitCode.software)
        expect(result.left.reason).toMatch(/^cannot load the missing part \(bin\/missing\): .*no-such-module/)
      }
    }))

  it.live("a postgres:// --db loads the PostgreSQL store when the node starts: unreachable is GraphStoreError open", () =>
    Effect.gen(function* () {
      const key = new Uint8Array(32).fill(1)
      for (const db of ["postgres://u:secret@127.0.0.1:1/graph", "PostgreSQL://u@127.0.0.1:1/graph"]) {
        const settings = Node.settingsFromConfig({ ...Node.NodeConfigDefaults, db }, key)
        const opened = yield* Effect.either(Effect.scoped(Effect.provide(GraphStore, settings.store)))
        expect(Either.isLeft(opened) && opened.left._tag === "GraphStoreError" && opened.left.operation).toBe("open")
      }
      // anything else is a SQLite file, even with "postgres" in its name
      const file = path.join(dir, "postgres-graph.sqlite")
      const settings = Node.settingsFromConfig({ ...Node.NodeConfigDefaults, db: file, chain: "regtest" }, key)
      const counts = yield* Effect.scoped(
        Effect.flatMap(GraphStore, (s) => s.counts).pipe(Effect.provide(settings.store))
      )
      expect(counts.channels).toBe(0)
      expect(fs.existsSync(file)).toBe(true)
    }))

  it.scoped("--chain-source esplora:/bitcoind: loads its backend when the layer is built, and it answers", () =>
    Effect.gen(function* () {
      const graph = generateGraph({ seed: 18, channels: 3, chainHash: BITCOIN_REGTEST, now: 1_750_000_000 })
      const [unfunded, ...funded] = graph.channelAnnouncements
      const server = yield* ChainServer.make(SyntheticChain.forAnnouncements(funded, GENERATED_TIP))
      const bitcoind = yield* ChainSourceConfig.parseChainSource(`bitcoind:${server.rpcUrl}`)
      for (
        const spec of [
          yield* ChainSourceConfig.parseChainSource(`esplora:${server.esploraUrl}`),
          { ...bitcoind, user: ChainServer.RPC_USER, password: ChainServer.RPC_PASSWORD }
        ]
      ) {
        const [kind, results] = yield* Effect.flatMap(
          ChainSource,
          (source) => Effect.map(source.checkFunding([unfunded, ...funded]), (r) => [source.kind, r] as const)
        ).pipe(Effect.provide(ChainSourceConfig.layer(spec, BITCOIN_REGTEST)))
        expect(kind).toBe(spec.kind)
        expect(results.map((r) => r._tag)).toEqual(["Invalid", "Valid", "Valid"])
      }
    }))

  it.live(
    "demo, stats, rgs, export, vectors and serve run with their modules loaded on demand",
    () =>
      Effect.gen(function* () {
        const db = path.join(dir, "demo.sqlite")
        const demo = yield* runCli(["demo", "--channels", "20", "--peers", "1", "--db", db], { NO_COLOR: "1" })
        expect(demo.code, showRun("demo", demo)).toBe(0)
        expect(demo.stdout).toMatch(/synced: 20 channels, 40 updates, \d+ nodes from 1 peer/)

        const stats = yield* runCli(["stats", "--db", db, "--json"])
        expect(stats.code, showRun("stats", stats)).toBe(0)
        expect(JSON.parse(stats.stdout)).toMatchObject({ channels: 20, updates: 40 })

        const snapshot = path.join(dir, "snapshot.bin")
        const rgs = yield* runCli(["rgs", "--db", db, "--out", snapshot, "--chain", "regtest"])
        expect(rgs.code, showRun("rgs", rgs)).toBe(0)
        expect(rgs.stdout).toContain("v1 full snapshot, 20 channels, 40 updates")
        expect(fs.statSync(snapshot).size).toBeGreaterThan(0)

        const exported = path.join(dir, "graph.jsonl")
        const exportRun = yield* runCli(["export", "--db", db, "--format", "jsonl", "--out", exported])
        expect(exportRun.code, showRun("export", exportRun)).toBe(0)
        const lines = fs.readFileSync(exported, "utf8").trimEnd().split("\n")
        expect(lines.filter((l) => l.includes(`"kind":"channel"`))).toHaveLength(20)

        const vectors = yield* runCli(["vectors"])
        expect(vectors.code, showRun("vectors", vectors)).toBe(0)
        expect(vectors.stdout).toContain("gossip signatures verified")

        // serve runs until stopped: it is up once it says where it listens
        const served = yield* serveUntilListening(["serve", "--db", db, "--http", "127.0.0.1:0"])
        expect(served).toMatch(/serving the graph API on http:\/\/127\.0\.0\.1:\d+\/api\/v1/)

        // a missing database is still the user's mistake, found after the store's modules load
        for (const command of ["stats", "rgs", "export", "serve"]) {
          const args = command === "rgs"
            ? [command, "--db", path.join(dir, "missing.sqlite"), "--out", snapshot]
            : [command, "--db", path.join(dir, "missing.sqlite")]
          const run = yield* runCli(args)
          expect(run.code, showRun(command, run)).toBe(ExitCode.usage)
          expect(run.stderr.trim()).toBe(`lnsync: no graph database at ${path.join(dir, "missing.sqlite")}`)
        }
      }),
    600_000
  )

  it.live(
    "sync --http serves the API beside the sync (the HTTP modules load when asked for)",
    () =>
      Effect.gen(function* () {
        const graph = generateGraph({
          seed: 7,
          channels: 30,
          chainHash: BITCOIN_REGTEST,
          now: Math.floor(Date.now() / 1000)
        })
        const peer = yield* servingPeer(splitGraph(graph, 1)[0]!, { chain: BITCOIN_REGTEST, name: "cli-startup/http" })
        const run = yield* runCli([
          "sync",
          "--peer",
          `${toHex(peer.address.nodeId)}@${peer.address.host}:${peer.address.port}`,
          "--db",
          path.join(dir, "sync-http.sqlite"),
          "--key-file",
          path.join(dir, "sync-http.key"),
          "--chain",
          "regtest",
          "--exit-when-synced",
          "--sync-deadline",
          "60s",
          "--http",
          "127.0.0.1:0"
        ], { LNSYNC_LOG_FORMAT: "line", NO_COLOR: "1" })
        expect(run.code, showRun("sync --http", run)).toBe(0)
        expect(run.stderr).toMatch(/serving the graph API on http:\/\/127\.0\.0\.1:\d+\/api\/v1/)
        expect(run.stdout).toContain("synced: 30 channels")
      }).pipe(Effect.scoped),
    300_000
  )
})

/** Runs a command that serves until stopped; returns its stderr once it logs where it listens, then stops it. */
const serveUntilListening = (args: ReadonlyArray<string>): Effect.Effect<string> =>
  Effect.async<string>((resume) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/bin/lnsync.ts", ...args], {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", LNSYNC_LOG_FORMAT: "line" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    let done = false
    const finish = (text: string) => {
      if (done) return
      done = true
      resume(Effect.succeed(text))
    }
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString()
      if (stderr.includes("serving the graph API on")) {
        child.kill("SIGINT")
        finish(stderr)
      }
    })
    child.on("close", (code) => finish(`${stderr}\n(exited ${code} before serving)`))
    return Effect.sync(() => child.kill("SIGKILL"))
  })
