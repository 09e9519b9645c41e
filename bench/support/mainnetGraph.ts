/**
 * The mainnet-size signed graph the benches share (17k nodes, 54k channels, 108k updates, 17k node
 * announcements), generated once a day into bench/out and read back as raw wire messages.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { BITCOIN_MAINNET } from "../../src/domain/Chain.js"
import { generateGraph } from "../../src/testing/GraphGenerator.js"
import { readGraphFile, writeGraphFile } from "../../src/testing/GraphFile.js"
import { loadMainnetTopology } from "../../src/testing/MainnetTopology.js"

const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "out")

export interface RawGraph {
  /** Channel announcements, then channel updates, then node announcements (the order a syncer receives them in). */
  readonly messages: ReadonlyArray<Uint8Array>
  readonly now: number
  readonly generatedSeconds: number
}

export const mainnetGraph = (channels = 54_000, seed = 2026): RawGraph => {
  const day = Math.floor(Date.now() / 86_400_000)
  const now = day * 86_400
  const file = path.join(outDir, `graph-${seed}-${channels}-${day}.bin`)
  if (fs.existsSync(file)) return { messages: readGraphFile(file), now, generatedSeconds: 0 }
  const started = performance.now()
  const graph = generateGraph({ seed, channels, chainHash: BITCOIN_MAINNET, now, topology: loadMainnetTopology() })
  const messages = [
    ...graph.channelAnnouncements.map((m) => m.raw),
    ...graph.channelUpdates.map((m) => m.raw),
    ...graph.nodeAnnouncements.map((m) => m.raw)
  ]
  fs.mkdirSync(outDir, { recursive: true })
  writeGraphFile(file, messages)
  return { messages, now, generatedSeconds: (performance.now() - started) / 1000 }
}
