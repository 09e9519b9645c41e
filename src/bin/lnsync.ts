#!/usr/bin/env node
/**
 * The `lnsync` command line (@effect/cli):
 *   lnsync demo   — a simulated network on loopback synced into a SQLite file (what `npm start` runs)
 *   lnsync sync   — sync the public graph from real peers into a SQLite file
 *   lnsync stats  — what a stored graph holds and how fresh it is
 *   lnsync vectors — decode and verify the shared BOLT vectors
 * `sync` and `stats` read the node's configuration (`Node.NodeConfig`: `LNSYNC_*`, defaults documented there), so the
 * same settings work from a unit file; a flag overrides its variable.
 */
import { Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Data, Effect, Either, Option } from "effect"
import * as fs from "node:fs"
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

const fromEither = <A>(e: Either.Either<A, string>): Effect.Effect<A, CliError> =>
  Either.match(e, { onLeft: (reason) => Effect.fail(new CliError({ reason })), onRight: Effect.succeed })

const progressMode = (): "tty" | "lines" => (process.stdout.isTTY ? "tty" : "lines")

/** Help text: what the flag sets, its environment variable and its default (all from Node.NodeConfig). */
const described = (what: string, env: string, fallback?: string) =>
  `${what} (env LNSYNC_${env}${fallback === undefined ? "" : `; default ${fallback}`})`

const defaults = Node.NodeConfigDefaults

// ---------------------------------------------------------------------------------------------------------------
// lnsync sync
//
// Flags override Node.NodeConfig, which reads LNSYNC_* with the defaults documented there; --peer and --pin add to
// LNSYNC_PEERS and LNSYNC_PINNED.

const syncCommand = Command.make(
  "sync",
  {
    peers: Options.text("peer").pipe(
      Options.repeated,
      Options.withDescription(described("a peer to sync from, <node_id>@<host>:<port>; repeat for more", "PEERS, comma-separated"))
    ),
    db: Options.text("db").pipe(Options.optional, Options.withDescription(described("SQLite file for the graph", "DB", defaults.db))),
    listen: Options.text("listen").pipe(
      Options.optional,
      Options.withDescription(described("accept inbound peers on <host>:<port>", "LISTEN"))
    ),
    active: Options.integer("active").pipe(
      Options.optional,
      Options.withDescription(
        described("how many peers send us live gossip (lnd's numgraphsyncpeers)", "ACTIVE", String(defaults.active))
      )
    ),
    pinned: Options.text("pin").pipe(
      Options.repeated,
      Options.withDescription(described("node id of a peer always synced actively; repeat for more", "PINNED, comma-separated"))
    ),
    keyFile: Options.text("key-file").pipe(
      Options.optional,
      Options.withDescription(described("our node key (created with mode 0600 on first run)", "KEY_FILE", defaults.keyFile))
    ),
    chain: Options.choice("chain", ["mainnet", "testnet3", "regtest", "signet"]).pipe(
      Options.optional,
      Options.withDescription(described("which chain's gossip to sync", "CHAIN", defaults.chain))
    ),
    exitWhenSynced: Options.boolean("exit-when-synced").pipe(
      Options.withDescription(described("exit 0 once the initial sync is complete and written", "EXIT_WHEN_SYNCED"))
    )
  },
  (o) =>
    Effect.gen(function* () {
      const env = yield* Node.config
      const config: Node.NodeConfig = {
        ...env,
        peers: [...(yield* Effect.forEach(o.peers, (p) => fromEither(Node.parsePeerAddress(p)))), ...env.peers],
        pinned: [...o.pinned.map((p) => p.toLowerCase()), ...env.pinned],
        db: Option.getOrElse(o.db, () => env.db),
        listen: Option.isSome(o.listen) ? yield* fromEither(Node.parseHostPort(o.listen.value)) : env.listen,
        active: Option.getOrElse(o.active, () => env.active),
        keyFile: Option.getOrElse(o.keyFile, () => env.keyFile),
        chain: Option.getOrElse(o.chain, () => env.chain),
        exitWhenSynced: o.exitWhenSynced || env.exitWhenSynced
      }
      if (config.peers.length === 0 && config.listen === undefined) {
        return yield* new CliError({ reason: "nothing to sync from: give at least one --peer (or --listen)" })
      }
      const nodePrivateKey = yield* Node.loadNodeKey(config.keyFile)
      const node = Node.layer(Node.settingsFromConfig(config, nodePrivateKey))
      yield* Effect.gen(function* () {
        yield* logIdentity
        yield* Effect.logInfo(`syncing ${config.chain} gossip from ${config.peers.length} peer(s) into ${config.db}`)
        const report = yield* runSync(config.peers, { untilSynced: config.exitWhenSynced, progress: progressMode() })
        yield* Console.log(summaryLine(report))
      }).pipe(Effect.provide(node))
    })
).pipe(Command.withDescription("sync the public channel graph from real peers into a SQLite file"))

// ---------------------------------------------------------------------------------------------------------------
// lnsync stats

const statsCommand = Command.make(
  "stats",
  {
    db: Options.text("db").pipe(Options.optional, Options.withDescription(described("SQLite file of the graph", "DB", defaults.db))),
    json: Options.boolean("json").pipe(Options.withDescription("print JSON for scripts"))
  },
  (options) =>
    Effect.gen(function* () {
      const o = { ...options, db: Option.isSome(options.db) ? options.db.value : (yield* Node.config).db }
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

