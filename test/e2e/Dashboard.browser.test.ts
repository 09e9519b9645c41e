/**
 * Issue 16, "Done when": the dashboard in a real browser. Debian's chromium (`apt-get install chromium`; browsers do
 * not come from npm here) driven by playwright-core opens `/` of a server over a small generated graph in SQLite,
 * and checks what a user sees: the counts, the plot growing as gossip arrives, the fee and capacity histograms, the
 * per-peer table and a node found by alias prefix. It saves `docs/dashboard.png` (the README's screenshot).
 *
 * Runs in `npm run test:e2e` (vitest.e2e.config.ts), not in `npm test`. Without chromium it fails, never skips: CI
 * installs it (`.ci/run`).
 *
 * The browser's server is built in-process the way `lnsync serve` builds it (GraphQuery, GraphHistory sampling
 * every 300 ms instead of 10 s, GraphDistributions), with a ServeStatus reporting two peers as `lnsync sync --http`
 * would. The last test spawns the real `lnsync serve` and checks it mounts the same page and endpoints.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { chromium } from "playwright-core"
import type { Browser, BrowserContext, Page } from "playwright-core"
import { BITCOIN_MAINNET } from "../../src/domain/Chain.js"
import { toHex } from "../../src/domain/Hex.js"
import * as GraphDistributionsSql from "../../src/layers/graph/GraphDistributionsSql.js"
import * as GraphQuerySqlite from "../../src/layers/graph/GraphQuerySqlite.js"
import * as HttpServer from "../../src/layers/http/HttpServer.js"
import { ServeStatus } from "../../src/layers/http/ServeStatus.js"
import { GraphDistributions } from "../../src/services/GraphDistributions.js"
import * as GraphHistory from "../../src/services/GraphHistory.js"
import { GraphStore } from "../../src/services/GraphStore.js"
import type { GraphBatch } from "../../src/services/GraphStore.js"
import { generateGraph } from "../../src/testing/GraphGenerator.js"

const CHROMIUM = "/usr/bin/chromium"
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
const screenshot = path.join(root, "docs/dashboard.png")
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-dashboard-e2e-"))
const filename = path.join(dir, "graph.db")

const NOW = Math.floor(Date.now() / 1000)
const graph = generateGraph({ seed: 16, channels: 300, chainHash: BITCOIN_MAINNET, now: NOW })
const aliasOf = (a: Uint8Array) => Buffer.from(a).toString("utf8").replace(/\0+$/, "")

/** Capacities as a chain source gives them (a spread from 50 ksat to ~2 BTC), for every channel. */
const capacities = new Map(
  graph.channelAnnouncements.map((c, i) => [c.shortChannelId, BigInt(Math.round(50_000 * 1.5 ** (i % 18)))] as const)
)

/** The graph arrives in two parts, so the plot has something to show over time. */
const FIRST = 200
const part = (from: number, to: number): GraphBatch => {
  const channels = graph.channelAnnouncements.slice(from, to)
  const ids = new Set(channels.map((c) => c.shortChannelId))
  const ends = new Set(channels.flatMap((c) => [toHex(c.nodeId1), toHex(c.nodeId2)]))
  return {
    channels,
    updates: graph.channelUpdates.filter((u) => ids.has(u.shortChannelId)),
    nodes: graph.nodeAnnouncements.filter((n) => ends.has(toHex(n.nodeId))),
    capacities: new Map([...capacities].filter(([scid]) => ids.has(scid)))
  }
}

const write = (batch: GraphBatch) =>
  Effect.runPromise(
    Effect.flatMap(GraphStore, (store) => store.applyBatch(batch)).pipe(
      Effect.provide(GraphQuerySqlite.layerWithStore({ filename }))
    )
  )

/** Two peers as `lnsync sync --http` reports them: one active and synced, one passive that failed once. */
const peers = [graph.nodes[1], graph.nodes[2]].map((n) => toHex(n.nodeId))
const status = Layer.succeed(ServeStatus, {
  mode: "sync",
  graphSynced: Effect.succeed(true),
  peers: Effect.succeed([
    {
      nodeId: peers[0],
      syncType: "ActiveSync",
      state: "chansSynced",
      completedSyncs: 2,
      failures: 0,
      lastFailure: null,
      completedInitial: true,
      syncing: false
    },
    {
      nodeId: peers[1],
      syncType: "PassiveSync",
      state: "chansSynced",
      completedSyncs: 1,
      failures: 1,
      lastFailure: "timeout waiting for reply_channel_range",
      completedInitial: false,
      syncing: false
    }
  ])
})

const served = Layer.unwrapScoped(
  Effect.gen(function* () {
    const context = yield* Layer.build(
      Layer.merge(
        GraphHistory.layer({ interval: "300 millis" }),
        GraphDistributionsSql.layerSqlite({ filename })
      ).pipe(Layer.provideMerge(GraphQuerySqlite.layerWithStore({ filename })))
    )
    const dashboard = {
      history: Context.get(context, GraphHistory.GraphHistory),
      distributions: Context.get(context, GraphDistributions)
    }
    return HttpServer.layer({ host: "127.0.0.1", port: 0, dashboard }).pipe(
      Layer.provide(Layer.succeedContext(context)),
      Layer.provide(status)
    )
  })
)

let scope: Scope.CloseableScope | undefined
let browser: BrowserContext | Browser | undefined
let page: Page
let base = ""
/** Script errors and console errors (CSP refusals among them) of the page, over all the tests. */
const errors: Array<string> = []

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); CI's .ci/run does`
    )
  }
  await write(part(0, FIRST))
  scope = await Effect.runPromise(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(served, scope))
  base = await Effect.runPromise(Effect.provide(HttpServer.baseUrl, context))
  const context2 = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(dir, "profile-")), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ],
    viewport: { width: 1280, height: 900 }
  })
  browser = context2
  page = context2.pages()[0] ?? (await context2.newPage())
})

afterAll(async () => {
  await browser?.close()
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  fs.rmSync(dir, { recursive: true, force: true })
})

const text = (testId: string) => page.getByTestId(testId).innerText()

describe("dashboard in chromium", () => {
  it("shows the graph's counts, and the plot follows gossip as it arrives", async () => {
    const outside: Array<string> = []
    page.on("request", (request) => {
      if (!request.url().startsWith(base)) outside.push(request.url())
    })
    page.on("pageerror", (error) => errors.push(error.message))
    // a Content-Security-Policy refusal (an inline style, a foreign script) is a console error
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text())
    })
    await page.goto(`${base}/`)
    const first = part(0, FIRST)
    await expect.poll(() => text("count-channels")).toBe(String(first.channels.length))
    expect(await text("count-updates")).toBe(String(first.updates.length))
    expect(await text("count-nodes")).toBe(String(first.nodes.length))
    expect(await text("status")).toBe("synced")

    // the rest of the graph arrives; the next samples (every 300 ms) carry the plot up to it
    await write(part(FIRST, graph.channelAnnouncements.length))
    const line = page.locator("[data-testid=history-plot] polyline[data-series=channels]")
    await expect.poll(() => text("count-channels"), { timeout: 20_000 }).toBe(
      graph.channelAnnouncements.length.toLocaleString("en-US")
    )
    await expect.poll(async () => {
      const points = ((await line.getAttribute("points")) ?? "").split(" ").filter((p) => p !== "")
      // y of the first and the last point: higher up (smaller y) once the second part is in
      const ys = points.map((p) => Number(p.split(",")[1]))
      return ys.length >= 2 && ys[ys.length - 1] < ys[0]
    }, { timeout: 20_000 }).toBe(true)
    expect(await text("history-plot")).toContain(`channels ${graph.channelAnnouncements.length}`)
    expect(outside).toEqual([]) // nothing loaded from elsewhere
  })

  it("draws the fee and capacity histograms the server computed", async () => {
    const d = (await (await fetch(`${base}/api/v1/distributions`)).json()) as {
      readonly fee_ppm: { readonly total: number }
      readonly capacity_sat: { readonly total: number }
    }
    expect(d.capacity_sat.total).toBe(graph.channelAnnouncements.length)
    await page.reload()
    for (
      const [testId, total] of [["dist-fee-ppm", d.fee_ppm.total], ["dist-capacity", d.capacity_sat.total]] as const
    ) {
      const chart = page.getByTestId(testId)
      await expect.poll(() => chart.getAttribute("data-total")).toBe(String(total))
      const bars = chart.locator("rect.bar")
      const counts = await bars.evaluateAll((rects) => rects.map((r) => Number(r.getAttribute("data-count"))))
      expect(counts.reduce((a, b) => a + b, 0)).toBe(total)
      expect(counts.filter((c) => c > 0).length).toBeGreaterThan(2)
    }
    await expect.poll(() => page.getByTestId("dist-htlc-max").locator("rect.bar").count()).toBeGreaterThan(2)
    await expect.poll(() => page.getByTestId("dist-fee-base").locator("rect.bar").count()).toBeGreaterThan(0)
  })

  it("lists each peer's sync status", async () => {
    const rows = page.getByTestId("peers").locator("tbody tr")
    await expect.poll(() => rows.count()).toBe(2)
    const first = await rows.nth(0).innerText()
    expect(first).toContain("ActiveSync")
    expect(first).toContain("chansSynced")
    expect(await rows.nth(0).getAttribute("data-node-id")).toBe(peers[0])
    const second = await rows.nth(1).innerText()
    expect(second).toContain("PassiveSync")
    expect(second).toContain("timeout waiting for reply_channel_range")
  })

  it("finds a node by alias prefix, then saves the screenshot", async () => {
    const target = graph.nodeAnnouncements[7]
    const alias = aliasOf(target.alias)
    // typed as a user would, then Enter; a generated alias (`lnsync-gen-N`) is also a prefix of others' (`…-N0`)
    await page.getByTestId("search").fill(alias.toUpperCase())
    await page.getByTestId("search").press("Enter")
    const hit = page.locator(`[data-testid=search-results] li[data-node-id="${toHex(target.nodeId)}"]`)
    await hit.waitFor({ timeout: 10_000 })
    expect(await hit.innerText()).toContain(alias)
    // every match starts with the prefix (case-insensitively), and there is more than the exact alias
    const aliases = await page.locator("[data-testid=search-results] li strong").allInnerTexts()
    expect(aliases.length).toBeGreaterThan(1)
    for (const a of aliases) expect(a.startsWith(alias)).toBe(true)

    expect(errors).toEqual([])

    fs.mkdirSync(path.dirname(screenshot), { recursive: true })
    await page.screenshot({ path: screenshot, fullPage: true })
    expect(fs.statSync(screenshot).size).toBeGreaterThan(10_000)
  })

  it("`lnsync serve` mounts the same page, history and distributions", async () => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "src/bin/lnsync.ts", "serve", "--db", filename, "--http", "127.0.0.1:0"],
      {
        cwd: root,
        env: { ...process.env, LNSYNC_LOG_FORMAT: "line", NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"]
      }
    )
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let log = ""
        const seen = (b: Buffer) => {
          log += b.toString()
          const m = /serving the graph API on (http:\/\/[^\s/]+)/.exec(log)
          if (m !== null) resolve(m[1])
        }
        child.stdout.on("data", seen)
        child.stderr.on("data", seen)
        child.on("close", (code) => reject(new Error(`lnsync serve exited (${code}) before serving:\n${log}`)))
      })
      const cliPage = await (browser as BrowserContext).newPage()
      await cliPage.goto(`${url}/`)
      await expect.poll(() => cliPage.getByTestId("count-channels").innerText()).toBe(
        graph.channelAnnouncements.length.toLocaleString("en-US")
      )
      await expect.poll(() => cliPage.getByTestId("dist-capacity").getAttribute("data-total")).toBe(
        String(graph.channelAnnouncements.length)
      )
      expect(await cliPage.getByTestId("history-note").innerText()).toContain("one every 10 s")
      expect(await cliPage.getByTestId("peers").innerText()).toContain("no peers")
      await cliPage.close()
    } finally {
      child.kill("SIGTERM")
    }
  })
})
