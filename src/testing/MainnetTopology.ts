/**
 * Loads the real mainnet shape from shared/data (2026-02-03, 17,324 nodes, 50,808 channels). Returns undefined
 * when the data is not beside the repository (e.g. an installed package), so callers can fall back to the
 * synthetic shape.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as zlib from "node:zlib"
import { parseChannelsCsv, type Topology } from "./Topology.js"

const here = path.dirname(fileURLToPath(import.meta.url))

/** `../shared/data/mainnet-2026-02-03` beside the repository root (src/layers → repo → its parent). */
export const defaultMainnetDir = path.resolve(here, "..", "..", "..", "shared", "data", "mainnet-2026-02-03")

export const loadMainnetTopology = (dir: string = defaultMainnetDir): Topology | undefined => {
  const channelsFile = path.join(dir, "channels.csv.gz")
  const nodesFile = path.join(dir, "nodes.csv.gz")
  if (!fs.existsSync(channelsFile) || !fs.existsSync(nodesFile)) return undefined
  const nodeLines = zlib.gunzipSync(fs.readFileSync(nodesFile)).toString("utf8").split("\n")
  const nodeCount = nodeLines.filter((l, i) => i > 0 && l.length > 0).length
  const text = zlib.gunzipSync(fs.readFileSync(channelsFile)).toString("utf8")
  return parseChannelsCsv(text, nodeCount, "mainnet-2026-02-03")
}
