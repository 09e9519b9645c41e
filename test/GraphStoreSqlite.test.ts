import { afterAll } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { layerSqlite } from "../src/layers/GraphStoreSqlite.js"
import { graphStoreContract } from "./GraphStore.contract.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lnsync-graph-"))
let n = 0
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

// a fresh database file per test
graphStoreContract("sqlite", () => layerSqlite({ filename: path.join(dir, `graph-${n++}.db`) }))
