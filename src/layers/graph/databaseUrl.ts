/**
 * What `--db` (`LNSYNC_DB`) names, decided without loading a store: the composition root (`Node.ts`) and the CLI
 * choose between SQLite and PostgreSQL before node-postgres loads, which only a postgres:// database pays for (issue
 * 18: the CLI's startup cost).
 */
import { maskedUrl } from "../loading.js"

/** Whether `db` names a PostgreSQL database (`postgres://` or `postgresql://`) rather than a SQLite file. */
export const isPostgresUrl = (db: string): boolean => /^postgres(ql)?:\/\//i.test(db)

/** The URL without its password, to name the database in messages and logs. */
export const displayUrl = (url: string): string => maskedUrl(url) ?? "the PostgreSQL database"
