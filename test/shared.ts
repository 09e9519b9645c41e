import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The BOLT vectors and real gossip, kept in the repository (test/vectors, see its README). */
export const vectorsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "vectors")
