#!/usr/bin/env node
/**
 * The `lnsync` command line (@effect/cli):
 *   lnsync demo   — a simulated network on loopback synced into a SQLite file (what `npm start` runs)
 *   lnsync sync   — sync the public graph from real peers into a SQLite file
 *   lnsync stats  — what a stored graph holds and how fresh it is
 *   lnsync vectors — decode and verify the shared BOLT vectors
 *   lnsync rgs    — a Rapid Gossip Sync snapshot (LDK's format) of a stored graph (`rgs.ts`)
 *   lnsync serve  — the HTTP JSON API over a stored graph (`serve.ts`; `sync --http` serves while syncing)
 *   lnsync export — a stored graph as lnd describegraph JSON or JSON lines (`export.ts`)
 * `sync` and `stats` read the node's configuration (`Node.NodeConfig`: `LNSYNC_*`, defaults documented there), so the
 * same settings work from a unit file; a flag overrides its variable.
 *
 * The terminal (issue 16): logs go to stderr, one line per event (`--log-format`/`LNSYNC_LOG_FORMAT`: line, logfmt,
 * json, pretty; `--log-level`/`LNSYNC_LOG_LEVEL`); results go to stdout. A failed command prints one line,
 * `lnsync: <reason>`, and exits 2 for a user's mistake (bad flag, bad `LNSYNC_*` value, missing database, wrong
 * chain, a chain source that refuses our credentials or is not the API its kind says), 1 when the work itself
 * failed (no peer completed a sync, the store failed), 130 when interrupted, 70 for a bug (then with the whole
 * cause).
 *
 * Startup (issue 18): a command's heavy modules (the HTTP API, PostgreSQL, the demo, the vectors check) load when
 * that command runs (`lazy.ts`), so `--help` and `sync` into SQLite never load them. The shipped command is this file
 * bundled (`npm run build`, scripts/build.mjs: one file and a few shared chunks instead of ~850 modules for node to
 * resolve and load); each lazily loaded module stays a chunk of its own.
 */
import "./heap.js" // first: the heap policy applies from the start
import { Command, Options, ValidationError } from "@effect/cli"
// the modules, not @effect/platform-node's index: that loads its HTTP server, cluster and RPC too (issue 18)
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Config, ConfigError, Console, Data, Effect, Either, Exit, LogLevel, Option } from "effect"
import * as fs from "node:fs"
import { GraphStore } from "../services/GraphStore.js"
import * as Node from "../layers/Node.js"
import * as Chain from "../domain/Chain.js"
import * as ChainSourceConfig from "../layers/chain/ChainSourceConfig.js"
import { trustModel } from "../services/ChainSource.js"
import { rgsCommand } from "./rgs.js"
import { exportCommand } from "./export.js"
import { graphStorePg, load } from "./lazy.js"
import { serveCommand, withHttp } from "./serve.js"
import { logIdentity, runSync, summaryLine } from "./run.js"
import type { LogFormat } from "./terminal.js"
import {
  causeLine,
  CliTerminal,
  CommandFailed,
  ExitCode,
  logFormats,
  makeTerminal,
  parseDuration,
  withLogger
} from "./terminal.js"

class CliError extends Data.TaggedError("CliError")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

const fromEither = <A>(e: Either.Either<A, string>): Effect.Effect<A, CliError> =>
  Either.match(e, { onLeft: (reason) => Effect.fail(new CliError({ reason })), onRight: Effect.succeed })

/** The status line lives on stderr with the logs: a bar when that is a terminal, a progress line now and then if not. */
const progressMode = (): "tty" | "lines" => (process.stderr.isTTY ? "tty" : "lines")

const duration = (flag: string) => (text: string) =>
  fromEither(Either.mapLeft(parseDuration(text), (reason) => `--${flag}: ${reason}`))

/** `--log-format` (over `LNSYNC_LOG_FORMAT`, applied to the whole run in `main`). */
const logFormatOption = Options.choice("log-format", logFormats).pipe(
  Options.optional,
  Options.withDescription("how log lines look on stderr: line (default), logfmt, json, pretty (env LNSYNC_LOG_FORMAT)")
)

/** Runs a command's work with its `--log-format`, when given. */
const withLogFormat = (format: Option.Option<LogFormat>) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Option.isNone(format) ? effect : Effect.flatMap(CliTerminal, (terminal) => withLogger(format.value, terminal)(effect))

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
      Options.withDescription(
        described("a peer to sync from, <node_id>@<host>:<port>; repeat for more", "PEERS, comma-separated")
      )
    ),
    db: Options.text("db").pipe(
      Options.optional,
      Options.withDescription(described("SQLite file for the graph", "DB", defaults.db))
    ),
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
      Options.withDescription(
        described("node id of a peer always synced actively; repeat for more", "PINNED, comma-separated")
      )
    ),
    keyFile: Options.text("key-file").pipe(
      Options.optional,
      Options.withDescription(
        described("our node key (created with mode 0600 on first run)", "KEY_FILE", defaults.keyFile)
      )
    ),
    chain: Options.choice("chain", ["mainnet", "testnet3", "regtest", "signet"]).pipe(
      Options.optional,
      Options.withDescription(described("which chain's gossip to sync", "CHAIN", defaults.chain))
    ),
    exitWhenSynced: Options.boolean("exit-when-synced").pipe(
      Options.withDescription(
        described(
          "exit once every connected peer completed or failed its sync (or none is left, or --sync-deadline passed), printing one line per peer; 0 if a complete sync reached the database",
          "EXIT_WHEN_SYNCED"
        )
      )
    ),
    syncDeadline: Options.text("sync-deadline").pipe(
      Options.optional,
      Options.withDescription(
        described("with --exit-when-synced, exit by then whatever the peers do (90s, 30m, 2h)", "SYNC_DEADLINE", "30m")
      )
    ),
    chainSource: Options.text("chain-source").pipe(
      Options.optional,
      Options.withDescription(
        described(
          "who checks funding outputs: none (signatures only), esplora:<url> or bitcoind:<url>",
          "CHAIN_SOURCE",
          "none"
        )
      )
    ),
    replyTimeout: Options.text("reply-timeout").pipe(
      Options.optional,
      Options.withDescription(
        described("a peer's sync fails after this long without a reply or progress", "REPLY_TIMEOUT", "2m")
      )
    ),
    http: Options.text("http").pipe(
      Options.optional,
      Options.withDescription("also serve the HTTP JSON API on <host>:<port> while syncing (see lnsync serve)")
    ),
    logFormat: logFormatOption
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
        exitWhenSynced: o.exitWhenSynced || env.exitWhenSynced,
        chainSource: Option.isSome(o.chainSource)
          ? ChainSourceConfig.withCredentials(
            yield* fromEither(ChainSourceConfig.parseChainSource(o.chainSource.value)),
            yield* Config.nested(ChainSourceConfig.credentials, "LNSYNC")
          )
          : env.chainSource,
        syncDeadline: Option.isSome(o.syncDeadline)
          ? yield* duration("sync-deadline")(o.syncDeadline.value)
          : env.syncDeadline,
        replyTimeout: Option.isSome(o.replyTimeout)
          ? yield* duration("reply-timeout")(o.replyTimeout.value)
          : env.replyTimeout
      }
      if (config.peers.length === 0 && config.listen === undefined) {
        return yield* new CliError({ reason: "nothing to sync from: give at least one --peer (or --listen)" })
      }
      const nodePrivateKey = yield* Node.loadNodeKey(config.keyFile)
      const node = Node.layer(Node.settingsFromConfig(config, nodePrivateKey))
      yield* Effect.gen(function* () {
        yield* logIdentity
        yield* Effect.logInfo(`syncing ${config.chain} gossip from ${config.peers.length} peer(s) into ${config.db}`)
        const report = yield* runSync(config.peers, {
          untilSynced: config.exitWhenSynced,
          progress: progressMode(),
          deadline: config.syncDeadline,
          terminal: yield* CliTerminal
        })
        for (const line of report.peerLines) yield* Console.log(line)
        if (report.reason !== undefined) {
          return yield* new CommandFailed({ reason: `not synced: ${report.reason}`, code: ExitCode.failed })
        }
        yield* Console.log(summaryLine(report))
      }).pipe(withHttp(o.http, config.db, Chain.fromName(config.chain)), Effect.provide(node))
    }).pipe(withLogFormat(o.logFormat))
).pipe(Command.withDescription("sync the public channel graph from real peers into a SQLite file"))

// ---------------------------------------------------------------------------------------------------------------
// lnsync stats

const statsCommand = Command.make(
  "stats",
  {
    db: Options.text("db").pipe(
      Options.optional,
      Options.withDescription(described("SQLite file of the graph", "DB", defaults.db))
    ),
    json: Options.boolean("json").pipe(Options.withDescription("print JSON for scripts"))
  },
  (options) =>
    Effect.gen(function* () {
      const env = yield* Node.config
      const o = { ...options, db: Option.isSome(options.db) ? options.db.value : env.db }
      const GraphStorePg = yield* graphStorePg
      if (!GraphStorePg.isPostgresUrl(o.db) && !fs.existsSync(o.db)) {
        return yield* new CliError({ reason: `no graph database at ${o.db}` })
      }
      const counts = yield* Effect.flatMap(GraphStore, (s) => s.counts).pipe(
        Effect.provide(GraphStorePg.layerFor({ db: o.db }))
      )
      const nowSeconds = Math.floor(Date.now() / 1000)
      const newest = counts.newestTimestamp
      const stats = {
        db: GraphStorePg.isPostgresUrl(o.db) ? GraphStorePg.displayUrl(o.db) : o.db,
        channels: counts.channels,
        updates: counts.updates,
        nodes: counts.nodes,
        zombies: counts.zombies,
        newestTimestamp: newest,
        newest: newest > 0 ? new Date(newest * 1000).toISOString() : null,
        ageSeconds: newest > 0 ? nowSeconds - newest : null,
        trust: trustModel(env.chainSource.kind)
      }
      if (o.json) return yield* Console.log(JSON.stringify(stats))
      yield* Console.log(
        `${stats.db}: ${stats.channels} channels, ${stats.updates} updates, ${stats.nodes} nodes, ${stats.zombies} zombies`
      )
      yield* Console.log(
        stats.newest === null
          ? "freshness: empty graph"
          : `freshness: newest gossip ${stats.newest} (${Math.round((stats.ageSeconds ?? 0) / 60)} min ago)`
      )
      yield* Console.log(`trust: ${stats.trust}`)
    })
).pipe(Command.withDescription("counts and freshness of a stored graph"))

// ---------------------------------------------------------------------------------------------------------------
// lnsync demo

const demoCommand = Command.make(
  "demo",
  {
    channels: Options.integer("channels").pipe(
      Options.withDefault(3000),
      Options.withDescription("channels in the generated graph")
    ),
    peers: Options.integer("peers").pipe(
      Options.withDefault(3),
      Options.withDescription("simulated peers on loopback")
    ),
    db: Options.text("db").pipe(
      Options.withDefault("./lnsync-demo.sqlite"),
      Options.withDescription("SQLite file (recreated)")
    ),
    seed: Options.integer("seed").pipe(Options.withDefault(1), Options.withDescription("graph seed")),
    logFormat: logFormatOption
  },
  ({ logFormat, ...o }) =>
    Effect.gen(function* () {
      if (o.channels < 1 || o.peers < 1) {
        return yield* new CliError({ reason: "--channels and --peers must be positive" })
      }
      const { runDemo } = yield* load("the demo (bin/demo)", () => import("./demo.js"))
      const result = yield* runDemo({ ...o, progress: progressMode(), terminal: yield* CliTerminal })
      yield* Console.log(result.lines.join("\n"))
      if (!result.complete) {
        return yield* new CommandFailed({
          reason: "the synced graph is not the union of the peers' graphs",
          code: ExitCode.failed
        })
      }
    }).pipe(withLogFormat(logFormat))
).pipe(Command.withDescription("simulated peers on loopback, synced into a SQLite file"))

const vectorsCommand = Command.make(
  "vectors",
  {},
  () => Effect.flatMap(load("the vectors check (bin/vectors)", () => import("./vectors.js")), (m) => m.vectorsProgram)
).pipe(
  Command.withDescription("decode and verify the shared BOLT vectors")
)

const root = Command.make("lnsync").pipe(
  Command.withDescription("Lightning Network gossip synchronizer"),
  Command.withSubcommands([
    demoCommand,
    syncCommand,
    statsCommand,
    vectorsCommand,
    rgsCommand,
    serveCommand,
    exportCommand
  ])
)

const cli = Command.run(root, { name: "lnsync", version: "0.1.0" })

/** A user's mistake (exit 2) rather than a failure of the work (exit 1). */
const isUsageError = (e: unknown): boolean => {
  if (ValidationError.isValidationError(e) || ConfigError.isConfigError(e)) return true
  const tag = typeof e === "object" && e !== null && "_tag" in e ? e._tag : undefined
  return tag === "CliError" || tag === "GraphStoreChainMismatch" || tag === "ChainSourceStartupError"
}

/** An error's one-line reason: its message, else its `reason`, else its tag. */
const reasonOf = (e: unknown): string => {
  if (ConfigError.isConfigError(e)) return `configuration: ${String(e)}`
  if (e instanceof Error && e.message !== "") return e.message
  if (typeof e === "object" && e !== null) {
    if ("reason" in e && typeof e.reason === "string") return e.reason
    if ("_tag" in e && typeof e._tag === "string") return e._tag
  }
  return causeLine(Cause.fail(e))
}

/** One line on stderr and the exit code; @effect/cli already printed its own validation errors. */
const report = (cause: Cause.Cause<unknown>): Effect.Effect<number> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.succeed(ExitCode.interrupted)
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) {
    // a defect is a bug in lnsync: keep the whole cause for the report
    return Console.error(`lnsync: internal error: ${causeLine(cause)}\n${Cause.pretty(cause)}`).pipe(
      Effect.as(ExitCode.software)
    )
  }
  const e = failure.value
  if (ValidationError.isValidationError(e)) return Effect.succeed(ExitCode.usage)
  const code = e instanceof CommandFailed ? e.code : isUsageError(e) ? ExitCode.usage : ExitCode.failed
  return Console.error(`lnsync: ${reasonOf(e)}`).pipe(Effect.as(code))
}

const logConfig = Config.all({
  format: Config.literal(...logFormats)("LNSYNC_LOG_FORMAT").pipe(Config.withDefault<LogFormat>("line")),
  level: Config.logLevel("LNSYNC_LOG_LEVEL").pipe(Config.withDefault(LogLevel.Info))
})

/** The whole run: the logger from `LNSYNC_LOG_*` (flags override it inside), then the command, then its exit code. */
const main = Effect.gen(function* () {
  const terminal = makeTerminal(process.stderr)
  const log = yield* Effect.either(logConfig)
  if (Either.isLeft(log)) return yield* report(Cause.fail(log.left))
  return yield* cli(process.argv).pipe(
    Effect.provideService(CliTerminal, terminal),
    Effect.provide(NodeContext.layer),
    withLogger(log.right.format, terminal, log.right.level),
    Effect.as(ExitCode.ok),
    Effect.catchAllCause(report)
  )
})

NodeRuntime.runMain(main, {
  disableErrorReporting: true,
  disablePrettyLogger: true,
  teardown: (exit, onExit) =>
    onExit(
      Exit.isSuccess(exit)
        ? typeof exit.value === "number" ? exit.value : ExitCode.ok
        : Cause.isInterruptedOnly(exit.cause)
        ? ExitCode.interrupted
        : ExitCode.software
    )
})
