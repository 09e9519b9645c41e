/**
 * The terminal side of the CLI (issue 16): one line per log event in the chosen format, a status line (the progress
 * bar) that log lines never tear, and how a failed command ends — one line and an exit code, not a stack trace.
 *
 * Logs go to stderr, results (summaries, the per-peer account, `stats`) to stdout, so scripts can read stdout.
 */
import type { LogLevel } from "effect"
import { Cause, Context, Data, Duration, Effect, Either, FiberRef, HashSet, Inspectable, Logger, Option } from "effect"

export type LogFormat = "line" | "logfmt" | "json" | "pretty"

export const logFormats: ReadonlyArray<LogFormat> = ["line", "logfmt", "json", "pretty"]

/** Where log lines and the status line go: a stream that may be a TTY. */
export interface TerminalStream {
  readonly isTTY?: boolean | undefined
  readonly columns?: number | undefined
  readonly write: (text: string) => unknown
}

/**
 * One status line at the bottom of a TTY (the progress bar) with log lines above it: a log line first clears the
 * status line, then redraws it under itself. Not a TTY: no status line at all, log lines only.
 */
export interface Terminal {
  readonly tty: boolean
  /** Writes one log line (newlines inside it are already escaped by the logger). */
  readonly line: (text: string) => void
  /** Shows `text` as the status line (TTY only; cut to the terminal's width). */
  readonly status: (text: string) => void
  /** Removes the status line for good (until the next `status`). */
  readonly clearStatus: () => void
}

/** A terminal over `stream`; its only state (the status line shown) lives in this closure, one per command run. */
export const makeTerminal = (stream: TerminalStream): Terminal => {
  const tty = stream.isTTY === true
  let shown = ""
  // a pty without a size reports 0 columns
  const fit = (text: string) =>
    text.slice(0, (stream.columns !== undefined && stream.columns > 10 ? stream.columns : 160) - 1)
  return {
    tty,
    line: (text) => {
      stream.write(tty && shown !== "" ? `\r\x1b[2K${text}\n${shown}` : `${text}\n`)
    },
    status: (text) => {
      if (!tty) return
      shown = fit(text)
      stream.write(`\r\x1b[2K${shown}`)
    },
    clearStatus: () => {
      if (!tty || shown === "") return
      shown = ""
      stream.write("\r\x1b[2K")
    }
  }
}

/** Anything logged, on one line: strings as they are, errors by their message, other values as compact JSON. */
export const oneLine = (value: unknown): string => {
  const text = typeof value === "string"
    ? value
    : value instanceof Error
    ? value.message
    : Inspectable.stringifyCircular(Inspectable.toJSON(value))
  return text.replace(/\r?\n\s*/g, " ⏎ ")
}

/** A cause as one line: its failures' and defects' messages, not their stacks (`--log-format pretty` has those). */
export const causeLine = (cause: Cause.Cause<unknown>): string => {
  const failures = [...Cause.failures(cause), ...Cause.defects(cause)].map(oneLine)
  if (failures.length > 0) return failures.join("; ")
  return Cause.isInterruptedOnly(cause) ? "interrupted" : oneLine(Cause.pretty(cause))
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0")
const clock = (d: Date) =>
  `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
const levelColour: Record<string, string> = {
  ERROR: "31",
  FATAL: "31",
  WARN: "33",
  INFO: "32",
  DEBUG: "90",
  TRACE: "90"
}

/** `12:34:56.789 INFO  message key=value …`, one line whatever the message or cause holds. */
export const lineLogger = (colour: boolean): Logger.Logger<unknown, string> =>
  Logger.make(({ annotations, cause, date, logLevel, message }) => {
    const messages = Array.isArray(message) ? message : [message]
    const level = logLevel.label === "WARN" ? "WARN " : logLevel.label.padEnd(5)
    const shownLevel = colour ? `\x1b[${levelColour[logLevel.label] ?? "0"}m${level}\x1b[0m` : level
    const parts = [clock(date), shownLevel, messages.map(oneLine).join(" ")]
    for (const [key, value] of annotations) parts.push(`${key}=${oneLine(value)}`)
    if (!Cause.isEmpty(cause)) parts.push(`cause=${JSON.stringify(causeLine(cause))}`)
    return parts.join(" ")
  })

/** The logger for `format`, writing through `terminal` (so the status line is kept below it). */
export const loggerFor = (format: LogFormat, terminal: Terminal): Logger.Logger<unknown, void> => {
  switch (format) {
    case "line":
      return Logger.map(lineLogger(terminal.tty), terminal.line)
    case "logfmt":
      return Logger.map(Logger.logfmtLogger, terminal.line)
    case "json":
      return Logger.map(Logger.jsonLogger, terminal.line)
    case "pretty":
      // Effect's multi-line logger, with stacks: for debugging, not for scripts
      return Logger.prettyLogger({ stderr: true, colors: terminal.tty ? "auto" : false })
  }
}

/** Runs `effect` with only our logger (the tracer's span events kept), at least at `level` when given. */
export const withLogger =
  (format: LogFormat, terminal: Terminal, level?: LogLevel.LogLevel) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const logged = Effect.locally(
      effect,
      FiberRef.currentLoggers,
      HashSet.make(loggerFor(format, terminal), Logger.tracerLogger)
    )
    return level === undefined ? logged : Logger.withMinimumLogLevel(logged, level)
  }

/** The terminal of this command run, provided once at the top (`lnsync.ts`) for the commands' status lines. */
export class CliTerminal extends Context.Tag("lnsync/bin/CliTerminal")<CliTerminal, Terminal>() {}

/**
 * A duration as an operator types it: `1500ms`, `2s`, `30m`, `1h`, `2d`, a bare number of seconds, or Effect's own
 * form (`30 minutes`, as the `LNSYNC_*` variables take).
 */
export const parseDuration = (text: string): Either.Either<Duration.Duration, string> => {
  const t = text.trim()
  const short = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(t)
  if (short !== null) {
    const n = Number(short[1])
    const unit = short[2] ?? "s"
    const millis = unit === "ms"
      ? n
      : unit === "s"
      ? n * 1000
      : unit === "m"
      ? n * 60_000
      : unit === "h"
      ? n * 3_600_000
      : n * 86_400_000
    return Either.right(Duration.millis(millis))
  }
  const long = Duration.decodeUnknown(t)
  return Option.isSome(long)
    ? Either.right(long.value)
    : Either.left(`expected a duration such as 90s, 30m or 2h, got ${text}`)
}

/** Exit codes: sysexits-style usage error for a user's mistake; 1 for a sync that did not succeed. */
export const ExitCode = { ok: 0, failed: 1, usage: 2, software: 70, interrupted: 130 } as const

/** A command failed in a way already explained in one line: exit with `code`. */
export class CommandFailed
  extends Data.TaggedError("CommandFailed")<{ readonly reason: string; readonly code: number }>
{
  override get message() {
    return this.reason
  }
}
