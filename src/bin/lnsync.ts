/**
 * The `lnsync` command line (@effect/cli):
 *   lnsync demo   — a simulated network on loopback synced into a SQLite file (what `npm start` runs)
 *   lnsync sync   — sync the public graph from real peers into a SQLite file
 *   lnsync stats  — what a stored graph holds and how fresh it is
 *   lnsync vectors — decode and verify the shared BOLT vectors
 * Every flag also reads an environment variable (`LNSYNC_<FLAG>`), so the same settings work from a unit file.
 */
import { Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Config, Console, Data, Effect, Layer, Option } from "effect"
import * as fs from "node:fs"
import { randomBytes } from "node:crypto"
import * as Chain from "../domain/Chain.js"
import { fromHex } from "../domain/Hex.js"
import type { ChainName } from "../domain/Chain.js"
import type { PeerAddress } from "../services/PeerConnector.js"
import * as Reconciler from "../services/Reconciler.js"
import { GraphStore } from "../services/GraphStore.js"
import * as GraphStoreSqlite from "../layers/graph/GraphStoreSqlite.js"
import * as Node from "../layers/Node.js"
import { runDemo } from "./demo.js"
import { logIdentity, runSync, summaryLine } from "./run.js"
import { vectorsProgram } from "./vectors.js"

class CliError extends Data.TaggedError("CliError")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

const env = (name: string) => `LNSYNC_${name}`

const parsePeer = (text: string): Effect.Effect<PeerAddress, CliError> => {
  const m = /^([0-9a-fA-F]{66})@(.+):(\d{1,5})$/.exec(text.trim())
  if (m === null) return Effect.fail(new CliError({ reason: `--peer must be <node_id>@<host>:<port>, got ${text}` }))
  const host = m[2]!.replace(/^\[(.*)\]$/, "$1")
  return Effect.succeed({ nodeId: fromHex(m[1]!), host, port: Number(m[3]) })
}

const parseHostPort = (text: string): Effect.Effect<{ host: string; port: number }, CliError> => {
  const m = /^(.+):(\d{1,5})$/.exec(text.trim())
  return m === null
    ? Effect.fail(new CliError({ reason: `expected <host>:<port>, got ${text}` }))
    : Effect.succeed({ host: m[1]!.replace(/^\[(.*)\]$/, "$1"), port: Number(m[2]) })
}

/** Our node key: read from `file`, or created there (0600) on first run so our node id stays stable. */
const loadNodeKey = (file: string): Effect.Effect<Uint8Array, CliError> =>
  Effect.try({
    try: () => {
      if (!fs.existsSync(file)) {
        fs.writeFileSync(file, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600, flag: "wx" })
      }
      const key = fromHex(fs.readFileSync(file, "utf8").trim())
      if (key.length !== 32) throw new Error("key file must hold 32 bytes in hex")
      return key
    },
    catch: (e) => new CliError({ reason: `node key ${file}: ${e instanceof Error ? e.message : String(e)}` })
  })

const progressMode = (): "tty" | "lines" => (process.stdout.isTTY ? "tty" : "lines")

// ---------------------------------------------------------------------------------------------------------------
// lnsync sync

const chainOption = Options.choice("chain", ["mainnet", "testnet3", "regtest", "signet"]).pipe(
  Options.withFallbackConfig(Config.literal("mainnet", "testnet3", "regtest", "signet")(env("CHAIN"))),
  Options.withDefault("mainnet" as ChainName),
  Options.withDescription("which chain's gossip to sync")
)

const syncCommand = Command.make(
  "sync",
  {
    peers: Options.text("peer").pipe(
      Options.repeated,
      Options.withDescription("a peer to sync from, <node_id>@<host>:<port> (repeat for more; env LNSYNC_PEERS, comma-separated)")
    ),
    db: Options.text("db").pipe(
      Options.withFallbackConfig(Config.string(env("DB"))),
      Options.withDefault("./lnsync.sqlite"),
      Options.withDescription("SQLite file for the graph")
    ),
    listen: Options.text("listen").pipe(
      Options.withFallbackConfig(Config.string(env("LISTEN"))),
      Options.optional,
      Options.withDescription("accept inbound peers on <host>:<port>")
    ),
    active: Options.integer("active").pipe(
      Options.withFallbackConfig(Config.integer(env("ACTIVE"))),
      Options.withDefault(3),
      Options.withDescription("how many peers send us live gossip (lnd's numgraphsyncpeers)")
    ),
    pinned: Options.text("pin").pipe(
      Options.repeated,
      Options.withDescription("node id of a peer always synced actively (repeat; env LNSYNC_PINNED, comma-separated)")
    ),
    keyFile: Options.text("key-file").pipe(
      Options.withFallbackConfig(Config.string(env("KEY_FILE"))),
      Options.withDefault("./lnsync-node.key"),
      Options.withDescription("our node key (created with mode 0600 on first run)")
    ),
    chain: chainOption,
    exitWhenSynced: Options.boolean("exit-when-synced").pipe(
      Options.withFallbackConfig(Config.boolean(env("EXIT_WHEN_SYNCED"))),
      Options.withDescription("exit 0 once the initial sync is complete and written")
    )
  },
  (o) =>
    Effect.gen(function* () {
      const list = (name: string) =>
        Config.string(env(name)).pipe(
          Config.withDefault(""),
          Config.map((v) => v.split(",").map((p) => p.trim()).filter((p) => p.length > 0))
        )
      const texts = [...o.peers, ...(yield* list("PEERS"))]
      const pinned = [...o.pinned, ...(yield* list("PINNED"))].map((p) => p.toLowerCase())
      if (texts.length === 0 && Option.isNone(o.listen)) {
        return yield* new CliError({ reason: "nothing to sync from: give at least one --peer (or --listen)" })
      }
      const peers = yield* Effect.forEach(texts, parsePeer)
      const listen = Option.isSome(o.listen) ? yield* parseHostPort(o.listen.value) : undefined
      const nodePrivateKey = yield* loadNodeKey(o.keyFile)
      const chain = Chain.fromName(o.chain)
      const node = Node.layer({
        chain,
        nodePrivateKey,
        listen,
        store: GraphStoreSqlite.layer({ filename: o.db }),
        bestHeight: Effect.sync(() => Node.estimateMainnetHeight(Date.now())),
        syncManager: { numActiveSyncers: o.active, pinnedPeers: pinned }
      })
      const app = Layer.provideMerge(Reconciler.layer, node)
      yield* Effect.gen(function* () {
        yield* logIdentity
        yield* Effect.logInfo(`syncing ${o.chain} gossip from ${peers.length} peer(s) into ${o.db}`)
        const report = yield* runSync(peers, { untilSynced: o.exitWhenSynced, progress: progressMode() })
        yield* Console.log(summaryLine(report))
      }).pipe(Effect.provide(app))
    })
).pipe(Command.withDescription("sync the public channel graph from real peers into a SQLite file"))

// ---------------------------------------------------------------------------------------------------------------
// lnsync stats

const statsCommand = Command.make(
  "stats",
  {
    db: Options.text("db").pipe(Options.withFallbackConfig(Config.string(env("DB"))), Options.withDefault("./lnsync.sqlite")),
    json: Options.boolean("json").pipe(Options.withDescription("print JSON for scripts"))
  },
  (o) =>
    Effect.gen(function* () {
      if (!fs.existsSync(o.db)) return yield* new CliError({ reason: `no graph database at ${o.db}` })
      const counts = yield* Effect.flatMap(GraphStore, (s) => s.counts).pipe(Effect.provide(GraphStoreSqlite.layer({ filename: o.db })))
      const nowSeconds = Math.floor(Date.now() / 1000)
      const newest = counts.newestTimestamp
      const stats = {
        db: o.db,
        channels: counts.channels,
        updates: counts.updates,
        nodes: counts.nodes,
        zombies: counts.zombies,
        newestTimestamp: newest,
        newest: newest > 0 ? new Date(newest * 1000).toISOString() : null,
        ageSeconds: newest > 0 ? nowSeconds - newest : null
      }
      if (o.json) return yield* Console.log(JSON.stringify(stats))
      yield* Console.log(`${o.db}: ${stats.channels} channels, ${stats.updates} updates, ${stats.nodes} nodes, ${stats.zombies} zombies`)
      yield* Console.log(
        stats.newest === null
          ? "freshness: empty graph"
          : `freshness: newest gossip ${stats.newest} (${Math.round((stats.ageSeconds ?? 0) / 60)} min ago)`
      )
    })
).pipe(Command.withDescription("counts and freshness of a stored graph"))

// ---------------------------------------------------------------------------------------------------------------
// lnsync demo

const demoCommand = Command.make(
  "demo",
  {
    channels: Options.integer("channels").pipe(Options.withDefault(3000), Options.withDescription("channels in the generated graph")),
    peers: Options.integer("peers").pipe(Options.withDefault(3), Options.withDescription("simulated peers on loopback")),
    db: Options.text("db").pipe(Options.withDefault("./lnsync-demo.sqlite"), Options.withDescription("SQLite file (recreated)")),
    seed: Options.integer("seed").pipe(Options.withDefault(1), Options.withDescription("graph seed"))
  },
  (o) =>
    Effect.gen(function* () {
      if (o.channels < 1 || o.peers < 1) return yield* new CliError({ reason: "--channels and --peers must be positive" })
      const result = yield* runDemo({ ...o, progress: progressMode() })
      yield* Console.log(result.lines.join("\n"))
      if (!result.complete) return yield* new CliError({ reason: "the synced graph is not the union of the peers' graphs" })
    })
).pipe(Command.withDescription("simulated peers on loopback, synced into a SQLite file"))

const vectorsCommand = Command.make("vectors", {}, () => vectorsProgram).pipe(
  Command.withDescription("decode and verify the shared BOLT vectors")
)

const root = Command.make("lnsync").pipe(
  Command.withDescription("Lightning Network gossip synchronizer"),
  Command.withSubcommands([demoCommand, syncCommand, statsCommand, vectorsCommand])
)

const cli = Command.run(root, { name: "lnsync", version: "0.1.0" })

cli(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain)

