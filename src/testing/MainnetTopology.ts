/**
 * Loads the real mainnet shape kept in the repository's `data/mainnet-2026-02-03` (17,324 nodes, 50,808 channels;
 * source in its README). Returns undefined when the files are not there, so a caller that can do without the real
 * shape may fall back to the synthetic one; the demo and the benches require it.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as zlib from "node:zlib"
import { parseChannelsCsv, type Topology } from "./Topology.js"

const here = path.dirname(fileURLToPath(import.meta.url))

/** The first `data/mainnet-2026-02-03` above this module: the same from `src/testing` (tsx) and `dist/...` (compiled). */
const findUp = (from: string, rel: string): string => {
  for (let dir = from;; dir = path.dirname(dir)) {
    const candidate = path.join(dir, rel)
    if (fs.existsSync(candidate)) return candidate
    if (path.dirname(dir) === dir) return path.join(from, rel)
  }
}

export const defaultMainnetDir = findUp(here, path.join("data", "mainnet-2026-02-03"))

export const loadMainnetTopology = (dir: string = defaultMainnetDir): Topology | undefined => {
  const channelsFile = path.join(dir, "channels.csv.gz")
  const nodesFile = path.join(dir, "nodes.csv.gz")
  if (!fs.existsSync(channelsFile) || !fs.existsSync(nodesFile)) return undefined
  const nodeLines = zlib.gunzipSync(fs.readFileSync(nodesFile)).toString("utf8").split("\n")
  const nodeCount = nodeLines.filter((l, i) => i > 0 && l.length > 0).length
  const text = zlib.gunzipSync(fs.readFileSync(channelsFile)).toString("utf8")
  return parseChannelsCsv(text, nodeCount, "mainnet-2026-02-03")
}
