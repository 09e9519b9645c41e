/**
 * The README's "use it as a Layer" example is `examples/syncOnce.ts`, verbatim: this test checks the README still
 * shows exactly that file (so the documented code is the compiled code) and runs it against a loopback peer.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { BITCOIN_MAINNET } from "../src/domain/Chain.js"
import { deriveKey, generateGraph } from "../src/testing/GraphGenerator.js"
import { servingPeer, splitGraph } from "../src/testing/SimulatedNetwork.js"
import { syncOnce } from "../examples/syncOnce.js"

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-readme-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

describe("README example", () => {
  it("the README shows examples/syncOnce.ts verbatim", () => {
    const readme = fs.readFileSync(path.join(repo, "README.md"), "utf8")
    const example = fs.readFileSync(path.join(repo, "examples", "syncOnce.ts"), "utf8")
    expect(readme).toContain("```ts\n" + example + "```")
  })

  it.live("syncOnce syncs a loopback peer's graph into SQLite", () =>
    Effect.gen(function* () {
      const graph = generateGraph({
        seed: 5,
        channels: 200,
        chainHash: BITCOIN_MAINNET,
        now: Math.floor(Date.now() / 1000)
      })
      const [part] = splitGraph(graph, 1)
      const peer = yield* servingPeer(part!, { chain: BITCOIN_MAINNET, name: "readme" })
      const counts = yield* syncOnce([peer.address], path.join(dir, "graph.sqlite"), deriveKey("lnsync/readme/node"))
      expect(counts.channels).toBe(200)
      expect(counts.updates).toBe(400)
      expect(counts.nodes).toBe(graph.nodeAnnouncements.length)
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning)))
})
