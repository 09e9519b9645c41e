/**
 * GraphStore over `@effect/sql`'s SqlClient, in portable SQL: SQLite (`GraphStoreSqlite.layer` wires the file,
 * PRAGMAs and the client) and PostgreSQL (`GraphStorePg.layer`, `@effect/sql-pg`). Where PG differs is named in
 * `// PG:` comments and switched on `sql.onDialectOrElse`: column types in the migrations (`columnTypes`), casts on
 * two VALUES lists, and one writer at a time (`lockWriters`); the statements themselves (row-value keyset
 * comparisons, `ON CONFLICT ... DO UPDATE`, `excluded.`) run on both.
 *
 * Design:
 * - Tables: `channels` (scid primary key, endpoints, raw announcement), `channel_endpoints` (the nodes with a
 *   held channel), `channel_updates` (latest update per (scid, direction) with its timestamp and checksum),
 *   `nodes` (latest announcement per node), `zombies`. Every message's raw signed bytes are stored and served as
 *   they are.
 * - Range queries walk the scid primary key; horizon queries walk `channel_updates (timestamp, scid, direction)`
 *   and `nodes (timestamp, node_id)` with keyset pagination, a page at a time, so a stream never holds more
 *   than a page of rows (SQLite: those two indexes are built by the first horizon walk, migration 7).
 * - `applyBatch` states GraphStoreRules' rules as conditional writes (the in-memory store runs the planner; the
 *   shared contract suite holds both to the same outcomes) in one transaction: all or nothing.
 * - Integers are read as bigint (`SafeIntegers`): scids above 2^53 (every mainnet scid) round-trip exactly.
 *   PG: `@effect/sql-pg` returns BIGINT as strings by default; `toBig`/`toNum` below take either form.
 * - Node ids in lookups are read as `hex(...)` text, not blobs (see `bytesFromHex`); PG has no `hex(bytea)`, so
 *   migration 1 defines one (SQLite's: upper-case), and every query reads the same on both.
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { Connection } from "@effect/sql/SqlConnection"
import type { Fragment, Statement } from "@effect/sql/Statement"
import { Chunk, Clock, Effect, Either, Layer, Option, Stream } from "effect"
import { sameChain } from "../../domain/Chain.js"
import { channelUpdateChecksum } from "../../domain/Checksum.js"
import { decodeChannelAnnouncement, decodeChannelUpdate, decodeNodeAnnouncement } from "../../domain/Codec.js"
import { toHex } from "../../domain/Hex.js"
import type {
  ChainHash,
  ChannelAnnouncement,
  ChannelUpdate,
  NodeAnnouncement,
  PublicKey
} from "../../domain/Messages.js"
import type { ShortChannelId } from "../../domain/ShortChannelId.js"
import type {
  BatchOutcome,
  ChannelState,
  GraphBatch,
  GraphCounts,
  GraphStoreService,
  NodeState,
  StoredGossip
} from "../../services/GraphStore.js"
import { channelColumns, nodeColumns, updateColumns } from "../../services/GraphQuery.js"
import {
  blockRangeToScids,
  chunksOf,
  GraphStore,
  GraphStoreChainMismatch,
  GraphStoreError,
  isStorableScid,
  unstorableAnnouncement,
  updateDirection
} from "../../services/GraphStore.js"

/** Rows (channels or nodes) per stream page and ids per `IN` list. */
const PAGE = 256
/** Rows per multi-row write at most (11 columns at most: well under SQLite's 32766 bound parameters). */
const ROWS = 256
/** Parameters per channel_updates row written (5 + migration 4's decoded columns). */
const UPDATE_COLUMNS = 11
/** Parameters per nodes row written (3 + migration 4's decoded columns). */
const NODE_COLUMNS = 7

/** Integers as drivers return them: bigint (SQLite with SafeIntegers), number, or string (PG: BIGINT as text). */
export type SqlInt = bigint | number | string

export const toBig = (v: SqlInt): bigint => (typeof v === "bigint" ? v : BigInt(v))
export const toNum = (v: SqlInt | null): number => (v === null ? 0 : Number(v))

/** What the graph holds, in one statement: the store's `counts` and the read side's `stats` both map it. */
export const graphTotals = (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql<{
      readonly channels: SqlInt
      readonly updates: SqlInt
      readonly nodes: SqlInt
      readonly endpoints: SqlInt
      readonly zombies: SqlInt
      readonly newest_update: SqlInt | null
      readonly newest_node: SqlInt | null
    }>`SELECT
      (SELECT COUNT(*) FROM channels) AS channels,
      (SELECT COUNT(*) FROM channel_updates) AS updates,
      (SELECT COUNT(*) FROM nodes) AS nodes,
      (SELECT COUNT(*) FROM channel_endpoints) AS endpoints,
      (SELECT COUNT(*) FROM zombies) AS zombies,
      (SELECT MAX(timestamp) FROM channel_updates) AS newest_update,
      (SELECT MAX(timestamp) FROM nodes) AS newest_node`,
    ([r]) => ({
      channels: toNum(r.channels),
      updates: toNum(r.updates),
      nodes: toNum(r.nodes),
      endpoints: toNum(r.endpoints),
      zombies: toNum(r.zombies),
      newestUpdate: toNum(r.newest_update),
      newestNode: toNum(r.newest_node)
    })
  )
/** Drivers hand back Buffers (better-sqlite3, pg); a plain view keeps the bytes without copying. */
const toBytes = (v: Uint8Array): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength)

// ---------------------------------------------------------------------------------------------------------------
// Schema

/**
 * Column types as each dialect spells them; the SQLite texts are exactly those the migrations always had. PG:
 * INTEGER is 32-bit signed there (u32 timestamps and CRCs, and every scid, overflow it), so every integer column is
 * BIGINT; BLOB is BYTEA; a table is a heap with its primary-key index (no WITHOUT ROWID).
 */
export const columnTypes = (sql: SqlClient.SqlClient) =>
  sql.onDialectOrElse({
    pg: () => ({ INTEGER: sql.literal("BIGINT"), BLOB: sql.literal("BYTEA"), pg: true }),
    orElse: () => ({ INTEGER: sql.literal("INTEGER"), BLOB: sql.literal("BLOB"), pg: false })
  })

/**
 * Migration 1: the graph. PG differences (`columnTypes`): INTEGER columns holding scids, timestamps and
 * checksums become BIGINT, BLOB becomes BYTEA, and `scid INTEGER PRIMARY KEY` (a SQLite rowid alias: range scans
 * read the table b-tree directly) becomes `scid BIGINT PRIMARY KEY`; and PG gains SQLite's `hex(blob)`.
 */
const migration1 = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const { BLOB, INTEGER, pg } = columnTypes(sql)
  if (pg) {
    yield* sql`CREATE OR REPLACE FUNCTION hex(bytea) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
      AS $$ SELECT upper(encode($1, 'hex')) $$`
  }
  yield* sql`CREATE TABLE channels (
    scid ${INTEGER} PRIMARY KEY NOT NULL,
    node_id1 ${BLOB} NOT NULL,
    node_id2 ${BLOB} NOT NULL,
    raw ${BLOB} NOT NULL
  )`
  // "does this node still have a channel" (node announcement rule, pruning) and per-node lookups
  yield* sql`CREATE INDEX channels_node_id1 ON channels (node_id1)`
  yield* sql`CREATE INDEX channels_node_id2 ON channels (node_id2)`
  yield* sql`CREATE TABLE channel_updates (
    scid ${INTEGER} NOT NULL,
    direction ${INTEGER} NOT NULL,
    timestamp ${INTEGER} NOT NULL,
    checksum ${INTEGER} NOT NULL,
    raw ${BLOB} NOT NULL,
    PRIMARY KEY (scid, direction)
  )`
  // GS-44: horizon walk in (timestamp, scid, direction) order
  yield* sql`CREATE INDEX channel_updates_time ON channel_updates (timestamp, scid, direction)`
  yield* sql`CREATE TABLE nodes (
    node_id ${BLOB} PRIMARY KEY NOT NULL,
    timestamp ${INTEGER} NOT NULL,
    raw ${BLOB} NOT NULL
  )`
  yield* sql`CREATE INDEX nodes_time ON nodes (timestamp, node_id)`
  yield* sql`CREATE TABLE zombies (
    scid ${INTEGER} PRIMARY KEY NOT NULL,
    node_id1 ${BLOB} NOT NULL,
    node_id2 ${BLOB} NOT NULL
  )`
})

/**
 * Migration 2: cheaper writes (a sync inserts the whole graph, one batch per transaction, and every page a
 * transaction dirties is written to the WAL at commit and again at checkpoint).
 * - "Which nodes have a channel" becomes the table `channel_endpoints` (one row per node, ~17k) instead of two
 *   indices on `channels` (one entry per channel end, ~108k): a batch of announcements dirties a few hundred
 *   narrow pages instead of most pages of two wide indices (mainnet-size, raw SQLite: announcement writes cost ~3x the
 *   table insert alone with the indices, ~1.5x with the set). Pruning rebuilds the set from the channels left.
 * - `channel_updates` and `nodes` become WITHOUT ROWID tables clustered on their primary key: one b-tree less per
 *   row written (the rowid table plus a separate primary-key index before). PG: there is no WITHOUT ROWID (a
 *   heap table with its primary-key index): there, the two table rebuilds are skipped.
 */
const migration2 = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const { BLOB, pg } = columnTypes(sql)
  yield* sql`CREATE TABLE channel_endpoints (node_id ${BLOB} PRIMARY KEY NOT NULL)${
    pg ? sql.literal("") : sql.literal(" WITHOUT ROWID")
  }`
  yield* sql`INSERT INTO channel_endpoints (node_id) SELECT node_id1 FROM channels UNION SELECT node_id2 FROM channels`
  yield* sql`DROP INDEX channels_node_id1`
  yield* sql`DROP INDEX channels_node_id2`
  if (pg) return
  yield* sql`CREATE TABLE channel_updates_v2 (
    scid INTEGER NOT NULL,
    direction INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    checksum INTEGER NOT NULL,
    raw BLOB NOT NULL,
    PRIMARY KEY (scid, direction)
  ) WITHOUT ROWID`
  yield* sql`INSERT INTO channel_updates_v2 (scid, direction, timestamp, checksum, raw)
    SELECT scid, direction, timestamp, checksum, raw FROM channel_updates`
  yield* sql`DROP TABLE channel_updates`
  yield* sql`ALTER TABLE channel_updates_v2 RENAME TO channel_updates`
  yield* sql`CREATE INDEX channel_updates_time ON channel_updates (timestamp, scid, direction)`
  yield* sql`CREATE TABLE nodes_v2 (
    node_id BLOB PRIMARY KEY NOT NULL,
    timestamp INTEGER NOT NULL,
    raw BLOB NOT NULL
  ) WITHOUT ROWID`
  yield* sql`INSERT INTO nodes_v2 (node_id, timestamp, raw) SELECT node_id, timestamp, raw FROM nodes`
  yield* sql`DROP TABLE nodes`
  yield* sql`ALTER TABLE nodes_v2 RENAME TO nodes`
  yield* sql`CREATE INDEX nodes_time ON nodes (timestamp, node_id)`
})

/**
 * Migration 3: what the database is for. `graph_meta` is a small key/value table; today it holds `chain_hash`
 * (the 32-byte BOLT 7 chain hash of the gossip stored), written on the first open that names a chain and checked on
 * every later one (see `checkChain`). A file made before this migration has no row and adopts the chain it is next
 * opened for, so existing files keep working.
 */
const migration3 = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const { BLOB } = columnTypes(sql)
  yield* sql`CREATE TABLE graph_meta (key TEXT PRIMARY KEY NOT NULL, value ${BLOB} NOT NULL)`
})

/**
 * Migration 4: the graph as people read it (issue 16). Decoded columns beside each raw message, written by
 * `applyBatch` in the same statement as the message (so they can never disagree with it) from fields the codec
 * already decoded (`GraphQuery.nodeColumns`/`channelColumns`/`updateColumns`):
 * - `nodes`: alias (UTF-8, zero padding trimmed), rgb_color (`#rrggbb`), features (hex), addresses (JSON array of
 *   `{type, address, port}`); `timestamp` is the last update.
 * - `channels`: features (hex), capacity_sat (NULL until a chain source gives it).
 * - `channel_updates` (one row per direction): fee_base_msat, fee_proportional_millionths, cltv_expiry_delta,
 *   htlc_minimum_msat, htlc_maximum_msat (NULL when absent), disabled (0/1).
 * Plain nullable columns, no index (write cost: see the README's bench:graph figures). Rows already stored are
 * backfilled here by decoding their raw bytes with the same codec, a page at a time. PG: BIGINT (`columnTypes`).
 */
const migration4 = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const { INTEGER } = columnTypes(sql)
  yield* sql`ALTER TABLE nodes ADD COLUMN alias TEXT`
  yield* sql`ALTER TABLE nodes ADD COLUMN rgb_color TEXT`
  yield* sql`ALTER TABLE nodes ADD COLUMN features TEXT`
  yield* sql`ALTER TABLE nodes ADD COLUMN addresses TEXT`
  yield* sql`ALTER TABLE channels ADD COLUMN features TEXT`
  yield* sql`ALTER TABLE channels ADD COLUMN capacity_sat ${INTEGER}`
  yield* sql`ALTER TABLE channel_updates ADD COLUMN fee_base_msat ${INTEGER}`
  yield* sql`ALTER TABLE channel_updates ADD COLUMN fee_proportional_millionths ${INTEGER}`
  yield* sql`ALTER TABLE channel_updates ADD COLUMN cltv_expiry_delta ${INTEGER}`
  yield* sql`ALTER TABLE channel_updates ADD COLUMN htlc_minimum_msat ${INTEGER}`
  yield* sql`ALTER TABLE channel_updates ADD COLUMN htlc_maximum_msat ${INTEGER}`
  yield* sql`ALTER TABLE channel_updates ADD COLUMN disabled ${INTEGER}`
  yield* Effect.provideService(backfillDecodedColumns, SqlClient.SafeIntegers, true)
})

interface UpdateRawRow {
  readonly scid: SqlInt
  readonly direction: SqlInt
  readonly raw: Uint8Array
}

/**
 * Fills migration 4's columns for rows stored before it (keyset pages of PAGE rows). A row whose raw bytes no
 * longer decode (none should: only decoded messages are stored) keeps NULLs rather than failing the upgrade.
 */
const backfillDecodedColumns = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  let scid: SqlInt = -1n
  for (;;) {
    const rows: ReadonlyArray<{ readonly scid: SqlInt; readonly raw: Uint8Array }> = yield* sql<
      { readonly scid: SqlInt; readonly raw: Uint8Array }
    >`
      SELECT scid, raw FROM channels WHERE scid > ${scid} ORDER BY scid LIMIT ${PAGE}`
    for (const r of rows) {
      const decoded = decodeChannelAnnouncement(toBytes(r.raw))
      if (Either.isLeft(decoded)) continue
      const [features] = channelColumns(decoded.right)
      yield* sql`UPDATE channels SET features = ${features} WHERE scid = ${r.scid}`
    }
    if (rows.length < PAGE) break
    scid = rows[rows.length - 1].scid
  }
  let update: readonly [SqlInt, SqlInt] = [-1n, -1n]
  for (;;) {
    const rows: ReadonlyArray<UpdateRawRow> = yield* sql<UpdateRawRow>`
      SELECT scid, direction, raw FROM channel_updates WHERE (scid, direction) > (${update[0]}, ${update[1]})
      ORDER BY scid, direction LIMIT ${PAGE}`
    for (const r of rows) {
      const decoded = decodeChannelUpdate(toBytes(r.raw))
      if (Either.isLeft(decoded)) continue
      const [feeBase, feePpm, cltv, htlcMin, htlcMax, disabled] = updateColumns(decoded.right)
      yield* sql`UPDATE channel_updates SET fee_base_msat = ${feeBase}, fee_proportional_millionths = ${feePpm},
        cltv_expiry_delta = ${cltv}, htlc_minimum_msat = ${htlcMin}, htlc_maximum_msat = ${htlcMax},
        disabled = ${disabled}
        WHERE scid = ${r.scid} AND direction = ${r.direction}`
    }
    if (rows.length < PAGE) break
    const last: UpdateRawRow = rows[rows.length - 1]
    update = [last.scid, last.direction]
  }
  let nodeId: Uint8Array = new Uint8Array(0)
  for (;;) {
    const rows: ReadonlyArray<{ readonly node_id: Uint8Array; readonly raw: Uint8Array }> = yield* sql<
      { readonly node_id: Uint8Array; readonly raw: Uint8Array }
    >`
      SELECT node_id, raw FROM nodes WHERE node_id > ${nodeId} ORDER BY node_id LIMIT ${PAGE}`
    for (const r of rows) {
      const decoded = decodeNodeAnnouncement(toBytes(r.raw))
      if (Either.isLeft(decoded)) continue
      const [alias, color, features, addresses] = nodeColumns(decoded.right)
      yield* sql`UPDATE nodes SET alias = ${alias}, rgb_color = ${color}, features = ${features},
        addresses = ${addresses} WHERE node_id = ${r.node_id}`
    }
    if (rows.length < PAGE) break
    nodeId = Uint8Array.from(rows[rows.length - 1].node_id)
  }
})

/** The schema's migrations, in order (exported so tests can build a file as an older version left it). */
export const migrations = {
  "1_graph": migration1,
  "2_cheaper_writes": migration2,
  "3_graph_meta": migration3,
  "4_decoded_columns": migration4,
  "5_spent_channels": Effect.suspend(() => migration5),
  "6_channel_received_at": Effect.suspend(() => migration6),
  "7_horizon_indexes_on_first_use": Effect.suspend(() => migration7),
  "8_nodes_in_arrival_order": Effect.suspend(() => migration8)
} as const

/** In-code loader (no glob/dynamic import), so it runs the same under tsx, vitest and a bundle. */
const migrate = Migrator.make({})({
  loader: Migrator.fromRecord(migrations),
  table: "lnsync_migrations"
})

/**
 * PG: the key of the transaction-level advisory lock that stores sharing one database take around schema changes
 * and writes (`lockWriters`). Any constant: "lnsync" in ASCII.
 */
const PG_LOCK_KEY = "0x6c6e73796e63"

/**
 * The migrations. PG: several nodes may open one empty database at once, and the Migrator creates its table
 * unlocked (two `CREATE TABLE`s race: one fails); so the table is created first, under the writers' lock, as the
 * Migrator would create it. From then on the Migrator locks that table itself while it migrates.
 */
const runMigrations = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql.onDialectOrElse({
    pg: () =>
      Effect.zipRight(
        sql.withTransaction(Effect.zipRight(
          sql`SELECT pg_advisory_xact_lock(${sql.literal(PG_LOCK_KEY)})`,
          sql`CREATE TABLE IF NOT EXISTS lnsync_migrations (
            migration_id integer primary key,
            created_at timestamp with time zone not null default now(),
            name text not null
          )`
        )),
        migrate
      ),
    orElse: () => migrate
  }))

/**
 * Records `chain` in a database that has none yet (a new file, or one from before migration 3), else fails with
 * GraphStoreChainMismatch if it holds another chain's gossip. Insert-if-absent then read back, so of two first
 * opens at once the same chain wins for both.
 */
const checkChain = (
  chain: ChainHash,
  database: string
): Effect.Effect<void, GraphStoreError | GraphStoreChainMismatch, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`INSERT INTO graph_meta (key, value) VALUES ('chain_hash', ${chain}) ON CONFLICT (key) DO NOTHING`
    const [row] = yield* sql<{ readonly value: Uint8Array }>`SELECT value FROM graph_meta WHERE key = 'chain_hash'`
    if (row === undefined) return yield* new GraphStoreError({ operation: "chain", cause: "chain_hash not recorded" })
    const stored = Uint8Array.from(row.value)
    if (!sameChain(stored, chain)) {
      return yield* new GraphStoreChainMismatch({ database, stored, configured: Uint8Array.from(chain) })
    }
  }).pipe(
    Effect.catchTag("SqlError", (cause) => new GraphStoreError({ operation: "chain", cause }))
  )

/**
 * Migration 5: spent channels (issue 15). `channels.funding_txid` (hex, set when a chain source checked the
 * funding output; the output index is the scid's) lets the spent-output watcher find the channels a block closes,
 * through its index; `channels.spent_height` (NULL while unspent) marks a channel whose output is spent: it is no
 * longer served and is forgotten 72 blocks later (BOLT 7). Portable SQL: TEXT, a 32-bit INTEGER height, an index.
 */
const migration5 = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE channels ADD COLUMN funding_txid TEXT`
  yield* sql`ALTER TABLE channels ADD COLUMN spent_height INTEGER`
  yield* sql`CREATE INDEX channels_funding_txid ON channels (funding_txid)`
})

/**
 * Migration 6: when each channel announcement was stored (unix seconds), for BOLT 7's rule that a channel with no
 * update is pruned two weeks after its announcement was received, not at the first prune while its updates are
 * still on their way (issue 18: a parallel initial sync runs past the first prune). Channels stored before hold 0:
 * as long ago as can be, so they prune as they did.
 */
const migration6 = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const { INTEGER } = columnTypes(sql)
  yield* sql`ALTER TABLE channels ADD COLUMN received_at ${INTEGER} NOT NULL DEFAULT 0`
})

/**
 * Migration 7: the horizon indexes (`channel_updates_time`, `nodes_time`: GS-44's walks in timestamp order) are no
 * longer kept from the start; the first horizon walk builds them (`ensureHorizonIndexes`), and from then on
 * every write keeps them. An initial sync inserts every update and node announcement at a random place in timestamp
 * order, so each 2048-message batch dirtied most pages of both indexes (WAL writes at commit, again at checkpoint),
 * for no reader until the graph is there (issue 18, bench/graphSync.ts: store CPU of a mainnet sync ~20% lower).
 * A count builds none: without them it scans the updates (~17 ms on a mainnet graph), which costs less while a
 * sync loads than keeping both indexes in order (the CLI's status line counts every 2 s at most).
 * Ranges and lookups walk primary keys, `prune` reads an update's time by its (scid, direction) key. PG: kept (a
 * heap with separate indexes; not what the SQLite figures measure).
 */
const migration7 = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  if (columnTypes(sql).pg) return
  yield* sql`DROP INDEX IF EXISTS channel_updates_time`
  yield* sql`DROP INDEX IF EXISTS nodes_time`
})

/**
 * Migration 8: `nodes` becomes a rowid table again (rows in arrival order) with its primary key as a separate
 * index, undoing migration 2's WITHOUT ROWID for it. Clustered on node_id, each node announcement of a sync landed at
 * a random place among ~250-byte rows, and a batch's ~200 dirtied as many pages of the table; now they are appended,
 * and the random inserts go to the narrow key index (~40-byte entries: a few times fewer pages). bench/graphSync.ts
 * (horizon indexes already lazy), interleaved, applyBatch CPU 0.96/1.11/1.00/0.97 s -> 0.88/0.83/0.86/0.81 s.
 * `channel_updates` stays clustered: its rows arrive in key order (scid order, per peer). PG: a heap already.
 */
const migration8 = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  if (columnTypes(sql).pg) return
  yield* sql`CREATE TABLE nodes_v3 (
    node_id BLOB PRIMARY KEY NOT NULL,
    timestamp INTEGER NOT NULL,
    raw BLOB NOT NULL,
    alias TEXT,
    rgb_color TEXT,
    features TEXT,
    addresses TEXT
  )`
  yield* sql`INSERT INTO nodes_v3 (node_id, timestamp, raw, alias, rgb_color, features, addresses)
    SELECT node_id, timestamp, raw, alias, rgb_color, features, addresses FROM nodes`
  yield* sql`DROP TABLE nodes`
  yield* sql`ALTER TABLE nodes_v3 RENAME TO nodes`
})

// ---------------------------------------------------------------------------------------------------------------
// Rows

interface ChannelStateRow {
  readonly scid: SqlInt
  readonly node1_hex: string
  readonly node2_hex: string
  readonly timestamp1: SqlInt | null
  readonly checksum1: SqlInt | null
  readonly timestamp2: SqlInt | null
  readonly checksum2: SqlInt | null
  readonly spent_height?: SqlInt | null
}

interface ChannelRawRow {
  readonly scid: SqlInt
  readonly node_id1: Uint8Array
  readonly node_id2: Uint8Array
  readonly raw: Uint8Array
}

interface UpdateRow {
  readonly scid: SqlInt
  readonly direction: SqlInt
  readonly timestamp: SqlInt
  readonly raw: Uint8Array
}

interface NodeRow {
  readonly node_id: Uint8Array
  readonly timestamp: SqlInt
  readonly raw: Uint8Array
}

interface HorizonRow {
  readonly scid: SqlInt
  readonly direction: SqlInt
  readonly timestamp: SqlInt
  readonly ann_raw: Uint8Array
  readonly raw: Uint8Array
  readonly other_timestamp: SqlInt | null
  readonly other_raw: Uint8Array | null
}

/** Value of each ASCII hex digit (either case); 0 elsewhere (the input is always SQL `hex()` output). */
const HEX_DIGITS = (() => {
  const table = new Uint8Array(128)
  for (let i = 0; i < 10; i++) table[0x30 + i] = i
  for (let i = 0; i < 6; i++) table[0x41 + i] = table[0x61 + i] = 10 + i
  return table
})()

/**
 * Bytes from SQL `hex()` text. Node ids are read as hex rather than as blobs: the driver hands each blob back as a
 * Buffer with its own off-heap allocation, and the two per channel row of a range or lookup weigh on every
 * scavenge; a 33-byte Uint8Array made here lives in the JS heap (bench: `channelRange` ~-20%).
 */
const bytesFromHex = (hex: string): Uint8Array => {
  const out = new Uint8Array(hex.length >>> 1)
  for (let i = 0, j = 0; i < out.length; i++, j += 2) {
    out[i] = (HEX_DIGITS[hex.charCodeAt(j)] << 4) | HEX_DIGITS[hex.charCodeAt(j + 1)]
  }
  return out
}

const channelState = (row: ChannelStateRow): ChannelState => ({
  shortChannelId: toBig(row.scid),
  nodeId1: bytesFromHex(row.node1_hex),
  nodeId2: bytesFromHex(row.node2_hex),
  timestamp1: toNum(row.timestamp1),
  timestamp2: toNum(row.timestamp2),
  checksum1: toNum(row.checksum1),
  checksum2: toNum(row.checksum2),
  ...(row.spent_height === null || row.spent_height === undefined ? {} : { spent: true })
})

/**
 * Pads an `IN` list to a power-of-two length by repeating its last item, so that a handful of statement texts
 * (and prepared statements) serve every list length.
 */
const padded = <A>(items: ReadonlyArray<A>): ReadonlyArray<A> => {
  let size = 1
  while (size < items.length) size *= 2
  if (size === items.length) return items
  const out = items.slice()
  while (out.length < size) out.push(items[items.length - 1])
  return out
}

/**
 * Rows a write changed, from the driver's raw result: better-sqlite3's `changes` (PG: node-postgres's `rowCount`);
 * undefined for a driver that reports neither.
 */
const changedRows = (result: unknown): number | undefined => {
  if (typeof result !== "object" || result === null) return undefined
  const count = "changes" in result ? result.changes : "rowCount" in result ? result.rowCount : undefined
  return typeof count === "number" ? count : typeof count === "bigint" ? Number(count) : undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Service

export interface GraphStoreSqlOptions {
  /**
   * The chain this store serves: recorded on first open, and opening a database that holds another chain's gossip
   * fails with GraphStoreChainMismatch. Without it nothing is checked or recorded (tools that only read a file).
   */
  readonly chain?: ChainHash | undefined
  /** How to name the database in messages (the file name); default "the database". */
  readonly database?: string | undefined
}

/** Builds the store over the ambient SqlClient, creating or upgrading the schema first (no chain check: `makeFor`). */
export const make: Effect.Effect<GraphStoreService, GraphStoreError, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  /** Every statement reads integers as bigint and fails with GraphStoreError. */
  const run = <A, E extends SqlError | GraphStoreError, R>(operation: string, effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.provideService(SqlClient.SafeIntegers, true),
      Effect.mapError((cause) => cause instanceof GraphStoreError ? cause : new GraphStoreError({ operation, cause }))
    )

  yield* Effect.mapError(runMigrations, (cause) => new GraphStoreError({ operation: "migrate", cause }))

  const storable = (ids: ReadonlyArray<ShortChannelId>) => ids.filter(isStorableScid)

  /**
   * Statement texts by row (or `IN` list) count, compiled once for the client's dialect: the writes' multi-row
   * statements, and the lookups by key, which run as `sql.unsafe` on the cached text (issue 18: compiling a
   * 256-parameter `IN` list per call was ~half of each lookup's CPU, ~170 -> ~90 µs; the precheck makes several
   * per batch). Sizes are powers of two (`padded`, ROWS), so a handful of texts and prepared statements serve all.
   */
  const statementTexts = (build: (rows: number) => Statement<unknown>) => {
    const texts = new Map<number, string>()
    return (rows: number) => {
      let text = texts.get(rows)
      if (text === undefined) {
        text = build(rows).compile()[0].replace(/\s+/g, " ").trim()
        texts.set(rows, text)
      }
      return text
    }
  }
  /** `(?, ?, ...)`: an `IN` list of `rows` parameters. */
  const list = (rows: number) => sql`(${sql.csv(Array.from({ length: rows }, () => sql`${0}`))})`

  /**
   * Migration 7: the horizon indexes, built by the first horizon walk (a mainnet graph's: ~180 ms, once;
   * bench:graph prints it). `IF NOT EXISTS`: another store on the file may have built them. Remembered per store
   * (its closure, not the module) once built; PG keeps them always.
   */
  let horizonIndexed = columnTypes(sql).pg
  const ensureHorizonIndexes: Effect.Effect<void, SqlError> = Effect.suspend((): Effect.Effect<void, SqlError> =>
    horizonIndexed ? Effect.void : Effect.zipRight(
      sql`CREATE INDEX IF NOT EXISTS channel_updates_time ON channel_updates (timestamp, scid, direction)`,
      sql`CREATE INDEX IF NOT EXISTS nodes_time ON nodes (timestamp, node_id)`
    ).pipe(Effect.andThen(() => {
      horizonIndexed = true
    }))
  )

  const selectChannelStates = (where: Fragment) =>
    sql<ChannelStateRow>`
    SELECT c.scid, hex(c.node_id1) AS node1_hex, hex(c.node_id2) AS node2_hex,
      u1.timestamp AS timestamp1, u1.checksum AS checksum1,
      u2.timestamp AS timestamp2, u2.checksum AS checksum2, c.spent_height
    FROM channels c
    LEFT JOIN channel_updates u1 ON u1.scid = c.scid AND u1.direction = 0
    LEFT JOIN channel_updates u2 ON u2.scid = c.scid AND u2.direction = 1
    WHERE ${where}
    ORDER BY c.scid`

  const highestChannelId = run(
    "highestChannelId",
    Effect.map(
      sql<{ readonly scid: SqlInt | null }>`SELECT MAX(scid) AS scid FROM channels`,
      (rows) => Option.map(Option.fromNullable(rows[0]?.scid ?? null), toBig)
    )
  )

  // GS-33: one walk of the scid primary key.
  const channelRange = (firstBlock: number, lastBlock: number) => {
    const range = blockRangeToScids(firstBlock, lastBlock)
    if (range === undefined) return Effect.succeed([] as ReadonlyArray<ChannelState>)
    return run(
      "channelRange",
      Effect.map(
        // issue 15: a spent channel is not served (BOLT 7: no longer relayed)
        selectChannelStates(sql`c.scid BETWEEN ${range.low} AND ${range.high} AND c.spent_height IS NULL`),
        (rows): ReadonlyArray<ChannelState> => rows.map(channelState)
      )
    )
  }

  const channelStatesIn = statementTexts((rows) => selectChannelStates(sql`c.scid IN ${list(rows)}`))
  const channels = (ids: ReadonlyArray<ShortChannelId>) =>
    run(
      "channels",
      Effect.gen(function* () {
        const out = new Map<ShortChannelId, ChannelState>()
        for (const page of chunksOf(storable(ids), PAGE)) {
          const params = padded(page)
          const rows = yield* sql.unsafe<ChannelStateRow>(channelStatesIn(params.length), params)
          for (const row of rows) {
            const state = channelState(row)
            out.set(state.shortChannelId, state)
          }
        }
        return out as ReadonlyMap<ShortChannelId, ChannelState>
      })
    )

  const zombiesIn = statementTexts((rows) => sql`SELECT scid FROM zombies WHERE scid IN ${list(rows)}`)
  const zombies = (ids: ReadonlyArray<ShortChannelId>) =>
    run(
      "zombies",
      Effect.gen(function* () {
        const out = new Set<ShortChannelId>()
        for (const page of chunksOf(storable(ids), PAGE)) {
          const params = padded(page)
          const rows = yield* sql.unsafe<{ readonly scid: SqlInt }>(zombiesIn(params.length), params)
          for (const row of rows) out.add(toBig(row.scid))
        }
        return out as ReadonlySet<ShortChannelId>
      })
    )

  // Node ids come back as lower-case hex, the key callers use (no blob Buffer per row; see bytesFromHex).
  /**
   * Per node of one page, in one statement: its announcement's timestamp (a `nodes` row) and whether it is an
   * endpoint of a held channel (a `channel_endpoints` row, timestamp NULL); the page's ids are bound twice.
   */
  const nodeStatesIn = statementTexts((rows) =>
    sql`
    SELECT lower(hex(node_id)) AS node_hex, timestamp FROM nodes WHERE node_id IN ${list(rows)}
    UNION ALL SELECT lower(hex(node_id)) AS node_hex, NULL AS timestamp FROM channel_endpoints
    WHERE node_id IN ${list(rows)}`
  )

  const nodeRows = (nodeIds: ReadonlyArray<PublicKey>) =>
    sql<NodeRow>`SELECT node_id, timestamp, raw FROM nodes WHERE node_id IN ${sql.in(padded(nodeIds))}`

  const nodes = (nodeIds: ReadonlyArray<PublicKey>) =>
    run(
      "nodes",
      Effect.gen(function* () {
        const out = new Map<string, NodeState>()
        for (const page of chunksOf(nodeIds, PAGE)) {
          const ids = padded(page)
          const rows = yield* sql.unsafe<{ readonly node_hex: string; readonly timestamp: SqlInt | null }>(
            nodeStatesIn(ids.length),
            [...ids, ...ids]
          )
          const announced = new Map<string, number>()
          const withChannel = new Set<string>()
          for (const r of rows) {
            if (r.timestamp === null) withChannel.add(r.node_hex)
            else announced.set(r.node_hex, toNum(r.timestamp))
          }
          for (const nodeId of page) {
            const hex = toHex(nodeId)
            const timestamp = announced.get(hex)
            const hasChannel = withChannel.has(hex)
            if (timestamp !== undefined || hasChannel) out.set(hex, { nodeId, timestamp: timestamp ?? 0, hasChannel })
          }
        }
        return out as ReadonlyMap<string, NodeState>
      })
    )

  // GS-40: per held channel in `ids` order: announcement, updates (direction 0, 1), endpoints' node
  // announcements once per call; one page of ids (three indexed lookups) per step.
  const gossipForChannels = (ids: ReadonlyArray<ShortChannelId>) =>
    Stream.suspend(() => {
      const sentNodes = new Set<string>()
      const page = (scids: ReadonlyArray<ShortChannelId>) =>
        run(
          "gossipForChannels",
          Effect.gen(function* () {
            const wanted = storable(scids)
            if (wanted.length === 0) return Chunk.empty<StoredGossip>()
            const channelRows = yield* sql<ChannelRawRow>`
              SELECT scid, node_id1, node_id2, raw FROM channels
              WHERE scid IN ${sql.in(padded(wanted))} AND spent_height IS NULL`
            if (channelRows.length === 0) return Chunk.empty<StoredGossip>()
            const held = new Map(channelRows.map((r) => [toBig(r.scid), r] as const))
            const updateRows = yield* sql<UpdateRow>`
              SELECT scid, direction, timestamp, raw FROM channel_updates
              WHERE scid IN ${sql.in(padded([...held.keys()]))}`
            const updates = new Map<ShortChannelId, [UpdateRow | undefined, UpdateRow | undefined]>()
            for (const r of updateRows) {
              const scid = toBig(r.scid)
              const pair = updates.get(scid) ?? [undefined, undefined]
              pair[toNum(r.direction) === 0 ? 0 : 1] = r
              updates.set(scid, pair)
            }
            const endpoints = new Map<string, PublicKey>()
            for (const r of channelRows) {
              for (const nodeId of [r.node_id1, r.node_id2]) {
                const hex = toHex(nodeId)
                if (!sentNodes.has(hex)) endpoints.set(hex, nodeId)
              }
            }
            const announced = new Map<string, NodeRow>()
            for (const nodePage of chunksOf([...endpoints.values()], PAGE)) {
              for (const r of yield* nodeRows(nodePage)) announced.set(toHex(r.node_id), r)
            }
            const out: Array<StoredGossip> = []
            for (const scid of scids) {
              const channel = held.get(scid)
              if (channel === undefined) continue
              const pair = updates.get(scid) ?? [undefined, undefined]
              out.push({
                kind: "ChannelAnnouncement",
                timestamp: Math.max(toNum(pair[0]?.timestamp ?? null), toNum(pair[1]?.timestamp ?? null)),
                raw: toBytes(channel.raw)
              })
              for (const u of pair) {
                if (u !== undefined) {
                  out.push({ kind: "ChannelUpdate", timestamp: toNum(u.timestamp), raw: toBytes(u.raw) })
                }
              }
              for (const nodeId of [channel.node_id1, channel.node_id2]) {
                const hex = toHex(nodeId)
                const node = announced.get(hex)
                if (node !== undefined && !sentNodes.has(hex)) {
                  sentNodes.add(hex)
                  out.push({ kind: "NodeAnnouncement", timestamp: toNum(node.timestamp), raw: toBytes(node.raw) })
                }
              }
            }
            return Chunk.unsafeFromArray(out)
          })
        )
      return Stream.fromIterable(chunksOf(ids, PAGE)).pipe(Stream.mapConcatChunkEffect(page))
    })

  // GS-44/45: keyset walk of channel_updates by (timestamp, scid, direction) over [start, end). A channel is
  // emitted at its earliest in-window update (the WHERE drops the row when the other direction's update is in
  // the window and comes first), so every channel appears once without a per-stream set of sent ids:
  // announcement, then its in-window updates, oldest first. Then node announcements by (timestamp, node_id).
  // Pages are separate reads (no transaction held across a slow peer), so a write landing mid-stream may show
  // up or not; what is read is always whole rows.
  const gossipInHorizon = (start: number, end: number) => {
    type UpdateCursor = readonly [timestamp: number, scid: bigint, direction: number]
    const channelPage = (cursor: UpdateCursor) =>
      run(
        "gossipInHorizon",
        Effect.map(
          sql<HorizonRow>`
            SELECT u.scid, u.direction, u.timestamp, c.raw AS ann_raw, u.raw,
              o.timestamp AS other_timestamp, o.raw AS other_raw
            FROM channel_updates u
            JOIN channels c ON c.scid = u.scid AND c.spent_height IS NULL
            LEFT JOIN channel_updates o ON o.scid = u.scid AND o.direction = 1 - u.direction
            WHERE (u.timestamp, u.scid, u.direction) > (${cursor[0]}, ${cursor[1]}, ${cursor[2]})
              AND u.timestamp < ${end}
              AND NOT (o.timestamp IS NOT NULL AND o.timestamp >= ${start} AND o.timestamp < ${end}
                AND (o.timestamp < u.timestamp OR (o.timestamp = u.timestamp AND o.direction < u.direction)))
            ORDER BY u.timestamp, u.scid, u.direction
            LIMIT ${PAGE}`,
          (rows) => {
            const out: Array<StoredGossip> = []
            for (const r of rows) {
              const timestamp = toNum(r.timestamp)
              const other = r.other_timestamp === null ? undefined : toNum(r.other_timestamp)
              out.push(
                { kind: "ChannelAnnouncement", timestamp: Math.max(timestamp, other ?? 0), raw: toBytes(r.ann_raw) },
                { kind: "ChannelUpdate", timestamp, raw: toBytes(r.raw) }
              )
              if (other !== undefined && other >= start && other < end && r.other_raw !== null) {
                out.push({ kind: "ChannelUpdate", timestamp: other, raw: toBytes(r.other_raw) })
              }
            }
            const last = rows[rows.length - 1]
            const next: Option.Option<UpdateCursor> = rows.length < PAGE || last === undefined
              ? Option.none()
              : Option.some([toNum(last.timestamp), toBig(last.scid), toNum(last.direction)] as const)
            return [Chunk.unsafeFromArray(out), next] as const
          }
        )
      )
    type NodeCursor = readonly [timestamp: number, nodeId: Uint8Array]
    const nodePage = (cursor: NodeCursor) =>
      run(
        "gossipInHorizon",
        Effect.map(
          sql<NodeRow>`
            SELECT node_id, timestamp, raw FROM nodes
            WHERE (timestamp, node_id) > (${cursor[0]}, ${cursor[1]}) AND timestamp < ${end}
            ORDER BY timestamp, node_id
            LIMIT ${PAGE}`,
          (rows) => {
            const out = rows.map((r): StoredGossip => ({
              kind: "NodeAnnouncement",
              timestamp: toNum(r.timestamp),
              raw: toBytes(r.raw)
            }))
            const last = rows[rows.length - 1]
            const next: Option.Option<NodeCursor> = rows.length < PAGE || last === undefined
              ? Option.none()
              : Option.some([toNum(last.timestamp), toBytes(last.node_id)] as const)
            return [Chunk.unsafeFromArray(out), next] as const
          }
        )
      )
    if (!(end > start)) return Stream.empty
    // (start, -1, -1) sorts before every row at `start`; so does the empty blob before every node id.
    return Stream.unwrap(Effect.as(
      run("gossipInHorizon", ensureHorizonIndexes),
      Stream.concat(
        Stream.paginateChunkEffect([start, -1n, -1] as UpdateCursor, channelPage),
        Stream.paginateChunkEffect([start, new Uint8Array(0)] as NodeCursor, nodePage)
      )
    ))
  }

  // applyBatch: a few multi-row statements per message kind and batch, on the transaction's connection.
  // The rules (GraphStoreRules' header) are stated in SQL, so nothing is read before writing:
  // - new announcements are inserted (`DO NOTHING` on a held scid: counted known) with their endpoints, and
  //   clear their zombie marks (a held channel is never a zombie, so clearing every announced scid is the same);
  // - an update is inserted only if its channel is held (announcements of this batch were written first), and
  //   replaces the stored one for its direction only if strictly newer (BOLT 7); likewise a node announcement,
  //   only for an endpoint of a held channel.
  // A row changes exactly when its message is applied, so the driver's change count per statement makes the
  // outcome's counts exact. No statement carries the same key twice (a repeat starts the next statement), so
  // messages for one key apply in batch order whatever order a statement visits its rows in (and PG's rule that
  // an upsert may not touch a row twice holds). Statement sizes are powers of two up to ROWS: a few texts per kind,
  // compiled once for the client's dialect (`statementTexts`) and prepared once by the driver, run through
  // `Connection.executeRaw` directly (no per-statement compilation or tracing span).
  const { pg } = columnTypes(sql)
  /**
   * `(?, ?), (?, ?), ...`: `rows` tuples of `columns` parameters. PG: a VALUES list that is not an INSERT's own
   * has no column types to take, so its parameters would be text: `pgTypes` (one per column) casts the first row,
   * which types the list.
   */
  const tuples = (rows: number, columns: number, pgTypes?: ReadonlyArray<string>) => {
    const tuple = sql`(${sql.csv(Array.from({ length: columns }, () => sql`${0}`))})`
    const first = pg && pgTypes !== undefined
      ? sql`(${sql.csv(pgTypes.map((type) => sql`${0}::${sql.literal(type)}`))})`
      : tuple
    return sql.csv(Array.from({ length: rows }, (_, i) => (i === 0 ? first : tuple)))
  }
  const insertChannels = statementTexts((rows) =>
    sql`
    INSERT INTO channels (scid, node_id1, node_id2, raw, features, received_at) VALUES ${tuples(rows, 6)}
    ON CONFLICT (scid) DO NOTHING`
  )
  // Every end of a held channel is in channel_endpoints (migration 2). The ends are read back from the stored
  // channels: an announcement counted known may name other nodes than the one held.
  const insertEndpoints = statementTexts((rows) =>
    sql`
    INSERT INTO channel_endpoints (node_id)
    SELECT node_id1 FROM channels WHERE scid IN ${list(rows)}
    UNION ALL SELECT node_id2 FROM channels WHERE scid IN ${list(rows)}
    ON CONFLICT (node_id) DO NOTHING`
  )
  const clearZombies = statementTexts((rows) => sql`DELETE FROM zombies WHERE scid IN ${list(rows)}`)
  // issue 15: the funding output's value a chain source reported, as the channel's capacity (only with a source)
  const setCapacity = sql`UPDATE channels SET capacity_sat = ${0} WHERE scid = ${0}`.compile()[0]
  const setFundingTxid = sql`UPDATE channels SET funding_txid = ${""} WHERE scid = ${0}`.compile()[0]
  const upsertUpdates = statementTexts((rows) =>
    sql`
    INSERT INTO channel_updates (scid, direction, timestamp, checksum, raw, fee_base_msat, fee_proportional_millionths,
      cltv_expiry_delta, htlc_minimum_msat, htlc_maximum_msat, disabled)
    SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, v.column9,
      v.column10, v.column11
    FROM (VALUES ${
      tuples(rows, UPDATE_COLUMNS, ["bigint", "bigint", "bigint", "bigint", "bytea", ...Array(6).fill("bigint")])
    }) AS v
    WHERE EXISTS (SELECT 1 FROM channels c WHERE c.scid = v.column1)
    ON CONFLICT (scid, direction) DO UPDATE
    SET timestamp = excluded.timestamp, checksum = excluded.checksum, raw = excluded.raw,
      fee_base_msat = excluded.fee_base_msat, fee_proportional_millionths = excluded.fee_proportional_millionths,
      cltv_expiry_delta = excluded.cltv_expiry_delta, htlc_minimum_msat = excluded.htlc_minimum_msat,
      htlc_maximum_msat = excluded.htlc_maximum_msat, disabled = excluded.disabled
    WHERE excluded.timestamp > channel_updates.timestamp`
  )
  const upsertNodes = statementTexts((rows) =>
    sql`
    INSERT INTO nodes (node_id, timestamp, raw, alias, rgb_color, features, addresses)
    SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7
    FROM (VALUES ${tuples(rows, NODE_COLUMNS, ["bytea", "bigint", "bytea", "text", "text", "text", "text"])}) AS v
    WHERE EXISTS (SELECT 1 FROM channel_endpoints e WHERE e.node_id = v.column1)
    ON CONFLICT (node_id) DO UPDATE
    SET timestamp = excluded.timestamp, raw = excluded.raw, alias = excluded.alias, rgb_color = excluded.rgb_color,
      features = excluded.features, addresses = excluded.addresses
    WHERE excluded.timestamp > nodes.timestamp`
  )

  /**
   * Writes `items` with `texts(size)` statements of power-of-two sizes, `columns` parameters per item, which `put`
   * writes into the statement's parameter array at `at`; each statement binds its items `repeat` times. Returns the
   * rows changed. Each statement's parameter array is built once, at its final size (no per-item tuples, slices or
   * concatenations: issue 18, the store's parameter building was ~106 MB of garbage over a mainnet sync).
   */
  const writeRows = <A>(
    conn: Connection,
    texts: (rows: number) => string,
    columns: number,
    items: ReadonlyArray<A>,
    put: (params: Array<unknown>, at: number, item: A) => void,
    repeat = 1
  ) =>
    Effect.gen(function* () {
      let changed = 0
      let at = 0
      while (at < items.length) {
        let rows = ROWS
        while (rows > items.length - at) rows >>>= 1
        const width = rows * columns
        const params = new Array<unknown>(width * repeat)
        for (let r = 0; r < rows; r++) put(params, r * columns, items[at + r])
        for (let k = 1; k < repeat; k++) for (let j = 0; j < width; j++) params[k * width + j] = params[j]
        const result = yield* conn.executeRaw(texts(rows), params)
        const n = changedRows(result)
        if (n === undefined) {
          return yield* new GraphStoreError({
            operation: "applyBatch",
            cause: new Error("no change count from the driver")
          })
        }
        changed += n
        at += rows
      }
      return changed
    })

  const putChannel = (receivedAt: number) => (params: Array<unknown>, at: number, c: ChannelAnnouncement) => {
    params[at] = c.shortChannelId
    params[at + 1] = c.nodeId1
    params[at + 2] = c.nodeId2
    params[at + 3] = c.raw
    params[at + 4] = channelColumns(c)[0]
    params[at + 5] = receivedAt
  }
  const putScid = (params: Array<unknown>, at: number, c: ChannelAnnouncement) => {
    params[at] = c.shortChannelId
  }
  const putUpdate = (params: Array<unknown>, at: number, u: ChannelUpdate) => {
    const [feeBase, feePpm, cltv, htlcMin, htlcMax, disabled] = updateColumns(u)
    params[at] = u.shortChannelId
    params[at + 1] = updateDirection(u)
    params[at + 2] = u.timestamp
    params[at + 3] = channelUpdateChecksum(u.raw)
    params[at + 4] = u.raw
    params[at + 5] = feeBase
    params[at + 6] = feePpm
    params[at + 7] = cltv
    params[at + 8] = htlcMin
    params[at + 9] = htlcMax
    params[at + 10] = disabled
  }
  const putNode = (params: Array<unknown>, at: number, n: NodeAnnouncement) => {
    const [alias, color, features, addresses] = nodeColumns(n)
    params[at] = n.nodeId
    params[at + 1] = n.timestamp
    params[at + 2] = n.raw
    params[at + 3] = alias
    params[at + 4] = color
    params[at + 5] = features
    params[at + 6] = addresses
  }

  /**
   * Groups a batch's messages into runs holding each key at most once, in batch order: a message whose key is
   * already in the current run starts the next one.
   */
  const runsOf = <A, K>(items: ReadonlyArray<A>, key: (a: A) => K): Array<Array<A>> => {
    const runs: Array<Array<A>> = []
    let run: Array<A> = []
    const seen = new Set<K>()
    for (const item of items) {
      const k = key(item)
      if (seen.has(k)) {
        runs.push(run)
        run = []
        seen.clear()
      }
      seen.add(k)
      run.push(item)
    }
    if (run.length > 0) runs.push(run)
    return runs
  }

  /**
   * PG: writers (applyBatch, prune) take turns across every store on the database, as SQLite's single writer does.
   * The rules read other tables (an update applies only if its channel is held, a node announcement only if it is an
   * endpoint; prune rebuilds the endpoint set), and under READ COMMITTED one batch would not see another's
   * uncommitted announcements (its updates dropped) while a prune could delete a node a concurrent batch just gave a
   * channel; two batches locking rows in opposite orders would deadlock. With turns, each batch sees every batch
   * committed before it, so newest-wins holds per key with nothing lost or duplicated. Readers never wait (MVCC).
   * The lock is the transaction's: it goes with COMMIT or ROLLBACK.
   */
  const lockWriters = `SELECT pg_advisory_xact_lock(${PG_LOCK_KEY})`

  const writeBatch = (conn: Connection, batch: GraphBatch) =>
    Effect.gen(function* () {
      if (pg) yield* conn.executeRaw(lockWriters, [])
      let channelsAdded = 0
      const receivedAt = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const putChannelNow = putChannel(receivedAt)
      for (const run of runsOf(batch.channels, (c) => c.shortChannelId)) {
        channelsAdded += yield* writeRows(conn, insertChannels, 6, run, putChannelNow)
        yield* writeRows(conn, insertEndpoints, 1, run, putScid, 2)
        yield* writeRows(conn, clearZombies, 1, run, putScid)
      }
      for (const [scid, sat] of batch.capacities ?? []) yield* conn.executeRaw(setCapacity, [sat, scid])
      for (const [scid, txid] of batch.fundingTxids ?? []) yield* conn.executeRaw(setFundingTxid, [txid, scid])
      let updatesApplied = 0
      const storable = batch.updates.filter((u) => isStorableScid(u.shortChannelId)) // others are never held: ignored
      // key: scid << 1 | direction, with literals (one BigInt made per update, not three)
      const key = (u: ChannelUpdate) =>
        updateDirection(u) === 0 ? u.shortChannelId << 1n : (u.shortChannelId << 1n) | 1n
      for (const run of runsOf(storable, key)) {
        updatesApplied += yield* writeRows(conn, upsertUpdates, UPDATE_COLUMNS, run, putUpdate)
      }
      let nodesApplied = 0
      for (const run of runsOf(batch.nodes, (n) => toHex(n.nodeId))) {
        nodesApplied += yield* writeRows(conn, upsertNodes, NODE_COLUMNS, run, putNode)
      }
      return {
        channelsAdded,
        channelsKnown: batch.channels.length - channelsAdded,
        updatesApplied,
        updatesIgnored: batch.updates.length - updatesApplied,
        nodesApplied,
        nodesIgnored: batch.nodes.length - nodesApplied
      } satisfies BatchOutcome
    })

  const applyBatch = (batch: GraphBatch) => {
    const unstorable = unstorableAnnouncement(batch)
    if (unstorable !== undefined) return Effect.fail(unstorable)
    return run(
      "applyBatch",
      sql.withTransaction(
        Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (tx) =>
          Option.isSome(tx)
            ? writeBatch(tx.value[0], batch)
            : Effect.fail(
              new GraphStoreError({ operation: "applyBatch", cause: new Error("no transaction connection") })
            ))
      )
    )
  }

  // BOLT 7: a channel whose newest update is older than `olderThan` is pruned and remembered as a zombie (lnd's
  // zombie index: policies gone stale); one with no update at all is pruned once its announcement was received
  // before `olderThan` (BOLT 7: two weeks from receipt; before that its updates may just be on their way, mid-sync or
  // a moment behind a new announcement, issue 18), but NOT as a zombie: a zombie is never asked for again (GS-20),
  // so the next range reply listing it must fetch it afresh (issue 13/15). Node
  // announcements of nodes left without a channel go too. Relies on the invariant "no zombie is a held channel" (an
  // announcement clears the mark), so the zombie table names exactly the stale channels to delete.
  const prune = (olderThan: number) =>
    run(
      "prune",
      sql.withTransaction(
        Effect.gen(function* () {
          if (pg) yield* sql.unsafe(lockWriters)
          const newest = sql`(SELECT MAX(u.timestamp) FROM channel_updates u WHERE u.scid = c.scid)`
          const [row] = yield* sql<{ readonly n: SqlInt }>`SELECT COUNT(*) AS n FROM channels c
            WHERE ${newest} < ${olderThan} OR (${newest} IS NULL AND c.received_at < ${olderThan})`
          const channelsPruned = toNum(row?.n ?? 0)
          if (channelsPruned === 0) return { channelsPruned }
          // MAX over no rows is NULL, never `<`: the update-less are left out of the zombies
          yield* sql`INSERT INTO zombies (scid, node_id1, node_id2)
            SELECT c.scid, c.node_id1, c.node_id2 FROM channels c WHERE ${newest} < ${olderThan}
            ON CONFLICT (scid) DO NOTHING`
          yield* sql`DELETE FROM channel_updates WHERE scid IN (SELECT scid FROM zombies)`
          // now the stale and the update-less are exactly the channels without an update; of those, the ones
          // received since `olderThan` stay (their first update may be on its way)
          yield* sql`DELETE FROM channels
            WHERE NOT EXISTS (SELECT 1 FROM channel_updates u WHERE u.scid = channels.scid)
            AND received_at < ${olderThan}`
          // the endpoint set, rebuilt from the channels left (without per-node indices on channels, finding which
          // ends of the pruned channels still have another channel is a scan anyway)
          yield* sql`DELETE FROM channel_endpoints`
          yield* sql`INSERT INTO channel_endpoints (node_id)
            SELECT node_id1 FROM channels UNION SELECT node_id2 FROM channels`
          yield* sql`DELETE FROM nodes WHERE node_id NOT IN (SELECT node_id FROM channel_endpoints)`
          return { channelsPruned }
        })
      )
    )

  // Migration 7: a count builds no horizon index. Without them it scans the updates (COUNT and MAX: ~17 ms CPU on a
  // mainnet graph, against ~0.04 ms through the index); a sync's progress counts every 2 s at most (src/bin/run.ts)
  // and /metrics on each scrape, which costs less than keeping both indexes in order through the load (issue 18).
  const counts = run(
    "counts",
    Effect.map(graphTotals(sql), (t): GraphCounts => ({
      channels: t.channels,
      updates: t.updates,
      nodes: t.nodes,
      zombies: t.zombies,
      newestTimestamp: Math.max(t.newestUpdate, t.newestNode)
    }))
  )

  // issue 15: the funding outpoints a block spends, matched through channels_funding_txid (the output index is the
  // scid's low 16 bits); those channels are marked, not deleted, until 72 blocks later (`forgetSpent`).
  const markSpent = (outpoints: ReadonlyArray<string>, height: number) =>
    run(
      "markSpent",
      Effect.gen(function* () {
        const byTxid = new Map<string, Set<number>>()
        for (const o of outpoints) {
          const at = o.lastIndexOf(":")
          const vouts = byTxid.get(o.slice(0, at)) ?? new Set<number>()
          vouts.add(Number(o.slice(at + 1)))
          byTxid.set(o.slice(0, at), vouts)
        }
        const marked: Array<ShortChannelId> = []
        for (const page of chunksOf([...byTxid.keys()], PAGE)) {
          const rows = yield* sql<{ readonly scid: SqlInt; readonly funding_txid: string }>`
            SELECT scid, funding_txid FROM channels WHERE funding_txid IN ${sql.in(page)} AND spent_height IS NULL`
          for (const r of rows) {
            const scid = toBig(r.scid)
            if (byTxid.get(r.funding_txid)?.has(Number(scid & 0xffffn)) === true) marked.push(scid)
          }
        }
        for (const page of chunksOf(marked, PAGE)) {
          yield* sql`UPDATE channels SET spent_height = ${height} WHERE scid IN ${sql.in(page)}`
        }
        return marked as ReadonlyArray<ShortChannelId>
      })
    )

  // BOLT 7: forget a spent channel 72 blocks after the spend; its scid becomes a zombie so that a range reply
  // listing it does not bring it back (its output is spent: a re-announcement would fail the funding check anyway).
  const forgetSpent = (height: number) =>
    run(
      "forgetSpent",
      sql.withTransaction(
        Effect.gen(function* () {
          const gone = sql`spent_height IS NOT NULL AND spent_height <= ${height}`
          const [row] = yield* sql<{ readonly n: SqlInt }>`SELECT COUNT(*) AS n FROM channels WHERE ${gone}`
          const channelsForgotten = toNum(row?.n ?? 0)
          if (channelsForgotten === 0) return { channelsForgotten }
          yield* sql`INSERT INTO zombies (scid, node_id1, node_id2)
            SELECT scid, node_id1, node_id2 FROM channels WHERE ${gone}
            ON CONFLICT (scid) DO NOTHING`
          yield* sql`DELETE FROM channel_updates WHERE scid IN (SELECT scid FROM channels WHERE ${gone})`
          yield* sql`DELETE FROM channels WHERE ${gone}`
          yield* sql`DELETE FROM channel_endpoints`
          yield* sql`INSERT INTO channel_endpoints (node_id)
            SELECT node_id1 FROM channels UNION SELECT node_id2 FROM channels`
          yield* sql`DELETE FROM nodes WHERE node_id NOT IN (SELECT node_id FROM channel_endpoints)`
          return { channelsForgotten }
        })
      )
    )

  return {
    highestChannelId,
    channelRange,
    channels,
    zombies,
    nodes,
    gossipForChannels,
    gossipInHorizon,
    applyBatch,
    prune,
    counts,
    markSpent,
    forgetSpent
  } satisfies GraphStoreService
})

/** `make`, then the chain recorded or checked (see `GraphStoreSqlOptions.chain`). */
export const makeFor = (
  options: GraphStoreSqlOptions
): Effect.Effect<GraphStoreService, GraphStoreError | GraphStoreChainMismatch, SqlClient.SqlClient> => {
  const { chain, database = "the database" } = options
  return chain === undefined ? make : Effect.tap(make, () => checkChain(chain, database))
}

/** GraphStore over the ambient SqlClient (schema migrated and the chain checked on build). */
export const layer = (
  options: GraphStoreSqlOptions = {}
): Layer.Layer<GraphStore, GraphStoreError | GraphStoreChainMismatch, SqlClient.SqlClient> =>
  Layer.effect(GraphStore, makeFor(options))
