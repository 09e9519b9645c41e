/**
 * `lnsync rgs`: writes a Rapid Gossip Sync snapshot of a stored graph — full, or with `--since` incremental — in the
 * format LDK's `lightning-rapid-gossip-sync` reads (v1, or v2 with node features and addresses). What goes in is
 * described in `services/RapidGossipSync.ts`. The file is written beside `--out` and renamed over it, so a reader
 * (a web server serving the directory) never sees half a snapshot.
 */
import { Command, Options } from "@effect/cli"
import { Clock, Console, Effect, Option } from "effect"
import * as fs from "node:fs"
import * as Chain from "../domain/Chain.js"
import * as Node from "../layers/Node.js"
import { GraphStore } from "../services/GraphStore.js"
import * as RapidGossipSync from "../services/RapidGossipSync.js"
import { graphStorePg } from "./lazy.js"
import { CommandFailed, ExitCode } from "./terminal.js"

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString()

/** The one-line account printed after writing. */
export const summaryLine = (
  out: string,
  s: RapidGossipSync.Snapshot,
  format: RapidGossipSync.SnapshotFormat
): string => {
  const kind = s.since === 0 ? "full" : `incremental since ${s.since} (${iso(s.since)})`
  const nodes = format === "v2" ? `, ${s.nodes} node details` : ""
  const ratio = s.rawBytes === 0
    ? ""
    : ` (${((100 * s.bytes.length) / s.rawBytes).toFixed(1)}% of ${s.rawBytes} bytes of signed gossip)`
  return `${out}: ${format} ${kind} snapshot, ${s.channels} channels, ${s.updates} updates${nodes}, ${s.bytes.length} bytes${ratio}; ` +
    `latest_seen ${s.latestSeen} (${iso(s.latestSeen)})`
}

export const rgsCommand = Command.make(
  "rgs",
  {
    db: Options.text("db").pipe(Options.optional, Options.withDescription("SQLite file of the graph (env LNSYNC_DB)")),
    out: Options.text("out").pipe(Options.withDescription("file to write the snapshot to")),
    since: Options.integer("since").pipe(
      Options.optional,
      Options.withDescription(
        "unix seconds: an incremental snapshot of what changed since then (a client's last latest_seen)"
      )
    ),
    format: Options.choice("format", ["v1", "v2"]).pipe(
      Options.withDefault("v1" as const),
      Options.withDescription("v1, or v2 with node features and addresses (LDK 0.1 and later read both)")
    ),
    chain: Options.choice("chain", ["mainnet", "testnet3", "regtest", "signet"]).pipe(
      Options.optional,
      Options.withDescription("the graph's chain, written into the snapshot (env LNSYNC_CHAIN; default mainnet)")
    )
  },
  (o) =>
    Effect.gen(function* () {
      const env = yield* Node.config
      const db = Option.getOrElse(o.db, () => env.db)
      const GraphStorePg = yield* graphStorePg
      const chain = Chain.fromName(Option.getOrElse(o.chain, () => env.chain))
      const since = Option.getOrElse(o.since, () => 0)
      if (since < 0) {
        return yield* new CommandFailed({ reason: "--since must be unix seconds (0 or more)", code: ExitCode.usage })
      }
      if (!GraphStorePg.isPostgresUrl(db) && !fs.existsSync(db)) {
        return yield* new CommandFailed({ reason: `no graph database at ${db}`, code: ExitCode.usage })
      }
      const snapshot = yield* Effect.gen(function* () {
        const store = yield* GraphStore
        const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
        return yield* RapidGossipSync.buildSnapshot(store, { format: o.format, since, chainHash: chain, now })
      }).pipe(Effect.provide(GraphStorePg.layerFor({ db, chain })))
      const partial = `${o.out}.partial`
      yield* Effect.try({
        try: () => {
          fs.writeFileSync(partial, snapshot.bytes)
          fs.renameSync(partial, o.out)
        },
        catch: (cause) =>
          new CommandFailed({ reason: `cannot write ${o.out}: ${String(cause)}`, code: ExitCode.failed })
      })
      yield* Console.log(summaryLine(o.out, snapshot, o.format))
    })
).pipe(Command.withDescription("write a Rapid Gossip Sync snapshot (LDK's format) of a stored graph"))
