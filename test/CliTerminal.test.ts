/**
 * The terminal side of the CLI (issue 16): a user's mistake is one line and exit code 2, never Effect runtime frames;
 * log events are one line each in every format; the status line exists on a TTY only and log lines never tear it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Either, Logger, LogLevel } from "effect"
import { countingEvery, etaText, peerLine, progressText } from "../src/bin/run.js"
import type { LogFormat, TerminalStream } from "../src/bin/terminal.js"
import { causeLine, makeTerminal, parseDuration, withLogger } from "../src/bin/terminal.js"
import { PeerOutcome } from "../src/services/Reconciler.js"
import { runCli } from "./support/cli.js"

/** A stream that records what is written to it. */
const recorder = (isTTY: boolean) => {
  const writes: Array<string> = []
  const stream: TerminalStream = { isTTY, columns: 80, write: (t) => writes.push(t) }
  return { stream, writes }
}

describe("lnsync: a user's mistake is one line and exit code 2", () => {
  const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>, Record<string, string>, string]> = [
    [
      "sync --peer nonsense",
      ["sync", "--peer", "nonsense"],
      {},
      "lnsync: a peer must be <node_id>@<host>:<port>, got nonsense"
    ],
    [
      "stats --db missing.sqlite",
      ["stats", "--db", "missing.sqlite"],
      {},
      "lnsync: no graph database at missing.sqlite"
    ],
    [
      "sync --sync-deadline soon",
      ["sync", "--sync-deadline", "soon", "--peer", `02${"a".repeat(64)}@127.0.0.1:9`],
      {},
      "lnsync: --sync-deadline: expected a duration such as 90s, 30m or 2h, got soon"
    ],
    ["sync with LNSYNC_PEERS=nonsense", ["sync"], { LNSYNC_PEERS: "nonsense" }, "lnsync: configuration: "]
  ]
  for (const [label, args, env, expected] of cases) {
    it.live(label, () =>
      Effect.gen(function* () {
        const run = yield* runCli(args, env)
        expect(run.code).toBe(2)
        expect(run.stdout).toBe("")
        const lines = run.stderr.trimEnd().split("\n")
        expect(lines).toHaveLength(1)
        expect(lines[0]!.startsWith(expected)).toBe(true)
      }))
  }

  it.live("an invalid choice: @effect/cli's own message, exit 2, no runtime frames", () =>
    Effect.gen(function* () {
      const run = yield* runCli(["sync", "--chain", "moon"])
      expect(run.code).toBe(2)
      expect(run.stderr + run.stdout).toContain(
        "Expected one of the following cases: mainnet, testnet3, regtest, signet"
      )
      expect(run.stderr + run.stdout).not.toMatch(/\n\s+at |_tag/)
    }))
})

describe("log lines", () => {
  const logEvents = Effect.gen(function* () {
    yield* Effect.logInfo("two\nlines").pipe(Effect.annotateLogs({ peer: "02ab", detail: { a: 1 } }))
    yield* Effect.logWarning("failed", Cause.fail(new Error("store\nbroken")))
    yield* Effect.logDebug("hidden at info")
  })

  for (const format of ["line", "logfmt", "json"] as ReadonlyArray<LogFormat>) {
    it.effect(`${format}: one line per event, whatever the message, annotations or cause hold`, () =>
      Effect.gen(function* () {
        const { stream, writes } = recorder(false)
        yield* logEvents.pipe(withLogger(format, makeTerminal(stream), LogLevel.Info))
        expect(writes).toHaveLength(2)
        for (const w of writes) expect(w.slice(0, -1)).not.toContain("\n")
        expect(writes.every((w) => w.endsWith("\n"))).toBe(true)
        if (format === "json") {
          expect(JSON.parse(writes[0]!)).toMatchObject({ message: "two\nlines", annotations: { peer: "02ab" } })
        }
      }))
  }

  it.effect("line: time, level, message, annotations, then the cause's message without its stack", () =>
    Effect.gen(function* () {
      const { stream, writes } = recorder(false)
      yield* logEvents.pipe(withLogger("line", makeTerminal(stream), LogLevel.Info))
      expect(writes[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}two ⏎ lines peer=02ab detail=\{"a":1\}\n$/)
      expect(writes[1]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}failed cause="store ⏎ broken"\n$/)
    }))

  it.effect("the run's minimum level comes from withLogger; a nested --log-level lowers it", () =>
    Effect.gen(function* () {
      const { stream, writes } = recorder(false)
      yield* Effect.logDebug("shown").pipe(
        Logger.withMinimumLogLevel(LogLevel.Debug),
        withLogger("line", makeTerminal(stream), LogLevel.Info)
      )
      expect(writes.join("")).toContain("DEBUG shown")
    }))

  it("causeLine: failures and defects by message, interruption named", () => {
    expect(causeLine(Cause.sequential(Cause.fail(new Error("a")), Cause.die(new Error("b\nc"))))).toBe("a; b ⏎ c")
    expect(causeLine(Cause.interrupt("#1" as never))).toBe("interrupted")
  })
})

describe("the status line", () => {
  const counts = { channels: 10, updates: 20, nodes: 5 }
  const states = ["02abcdef:Passive/waitingQueryChanReply"]

  it("issue 16: during an initial sync, fetched of wanted channels, percent, msg/s and the ETA from the channels' pace", () => {
    const fetched = { received: 1_200, wanted: 54_000 }
    expect(progressText({ counts, msgPerSecond: 849.6, fetched, channelsPerSecond: 300, states })).toBe(
      "fetched 1200/54000 channels (2%), 850 msg/s, ETA 2:56 | 1 peer 02abcdef:Passive/waitingQueryChanReply"
    )
    // no pace yet: no ETA; everything fetched: 100% and nothing left
    expect(progressText({ counts, msgPerSecond: 0, fetched, channelsPerSecond: 0, states })).toContain(
      "(2%), 0 msg/s, ETA --:--"
    )
    expect(progressText({ counts, msgPerSecond: 5, fetched: { received: 7, wanted: 7 }, channelsPerSecond: 0, states }))
      .toContain("fetched 7/7 channels (100%), 5 msg/s, ETA 0:00")
    expect(progressText({ counts, msgPerSecond: 5, fetched: { received: 0, wanted: 0 }, channelsPerSecond: 0, states }))
      .toContain("fetched 0/0 channels (100%)")
  })

  it("issue 16: without a sync that knows what it wants, what is stored and its rate, as before", () => {
    expect(progressText({ counts, msgPerSecond: 12.4, fetched: undefined, channelsPerSecond: 0, states: [] })).toBe(
      "35 messages stored (10 channels, 20 updates, 5 nodes), 12 msg/s | 0 peers "
    )
  })

  it.effect("issue 18: the status line counts the graph every 2 s at most, reusing the last counts between", () =>
    Effect.gen(function* () {
      let calls = 0
      const at = yield* countingEvery(Effect.sync(() => ++calls), 2000)
      expect(yield* at(0)).toEqual({ counts: 1, fresh: true })
      expect(yield* at(250)).toEqual({ counts: 1, fresh: false })
      expect(yield* at(1999)).toEqual({ counts: 1, fresh: false })
      expect(yield* at(2000)).toEqual({ counts: 2, fresh: true })
      expect(yield* at(2250)).toEqual({ counts: 2, fresh: false })
      expect(calls).toBe(2)
      // a failed count is not remembered: the next draw counts again
      const failing = yield* countingEvery(Effect.fail("store down"), 2000)
      expect(yield* Effect.either(failing(0))).toEqual(Either.left("store down"))
      expect(yield* Effect.either(failing(1))).toEqual(Either.left("store down"))
    }))

  it("etaText: m:ss, minutes past 59, dashes when unknown", () => {
    expect(etaText(0)).toBe("0:00")
    expect(etaText(59.2)).toBe("1:00")
    expect(etaText(4_503)).toBe("75:03")
    expect(etaText(Number.NaN)).toBe("--:--")
    expect(etaText(Number.POSITIVE_INFINITY)).toBe("--:--")
  })

  it("not a TTY: no status line at all, log lines only", () => {
    const { stream, writes } = recorder(false)
    const t = makeTerminal(stream)
    t.status("syncing")
    t.line("an event")
    t.clearStatus()
    expect(writes).toEqual(["an event\n"])
  })

  it("a TTY: a log line clears the status line, then redraws it below itself", () => {
    const { stream, writes } = recorder(true)
    const t = makeTerminal(stream)
    t.status("x".repeat(200))
    expect(writes[0]).toBe(`\r\x1b[2K${"x".repeat(79)}`)
    t.line("an event")
    expect(writes[1]).toBe(`\r\x1b[2Kan event\n${"x".repeat(79)}`)
    t.clearStatus()
    t.line("after")
    expect(writes.slice(2)).toEqual(["\r\x1b[2K", "after\n"])
  })
})

describe("flag values and the per-peer account", () => {
  it("durations: short units, bare seconds and Effect's own form; anything else is refused with the reason", () => {
    const ms = (t: string) => Either.map(parseDuration(t), Duration.toMillis)
    expect([ms("1500ms"), ms("2s"), ms("30m"), ms("2h"), ms("90"), ms("30 minutes")]).toEqual(
      [1500, 2000, 1_800_000, 7_200_000, 90_000, 1_800_000].map(Either.right)
    )
    expect(Either.isLeft(parseDuration("soon"))).toBe(true)
  })

  it("one line per peer: completed with what it sent, or the reason it did not", () => {
    const id = `02${"b".repeat(64)}`
    const peers = [{ nodeId: new Uint8Array(Buffer.from(id, "hex")), host: "127.0.0.1", port: 9735 }]
    expect(
      peerLine(PeerOutcome.Completed({ nodeIdHex: id, sync: "initial" }), { channels: 2, updates: 1, nodes: 0 }, peers)
    ).toBe(
      `peer ${id}@127.0.0.1:9735: completed (initial sync), accepted 2 channels, 1 update, 0 nodes`
    )
    expect(peerLine(PeerOutcome.Failed({ nodeIdHex: id, reason: "no reply_channel_range within 2s" }), undefined)).toBe(
      `peer ${id}: failed: no reply_channel_range within 2s`
    )
    expect(peerLine(PeerOutcome.Skipped({ nodeIdHex: id, reason: "busy for 2m" }), undefined)).toBe(
      `peer ${id}: skipped: busy for 2m`
    )
  })
})
