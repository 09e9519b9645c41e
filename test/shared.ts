import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** `../shared` beside the repository: BOLT vectors, real gossip, mainnet topology. */
export const sharedDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "shared")
export const vectorsDir = path.join(sharedDir, "vectors")
