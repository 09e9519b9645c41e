// House style (dprint.json) through dprint's wasm formatter: `node scripts/format.mjs` checks, `--write` rewrites;
// file arguments limit either to those files (`node scripts/format.mjs --write src/a.ts`).
// The dprint CLI's npm package fetches a per-platform binary package that this project's registry does not carry,
// so `npm ci` could not install it everywhere; the wasm plugin (in @dprint/typescript) runs wherever node does.
import { createFromBuffer } from "@dprint/formatter"
import fs from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const config = JSON.parse(fs.readFileSync(path.join(root, "dprint.json"), "utf8").replace(/^\s*\/\/.*$/gm, ""))
const { plugins, includes: _includes, excludes, typescript, ...global } = config
const formatter = createFromBuffer(fs.readFileSync(path.join(root, plugins[0])))
formatter.setConfig(global, typescript)

const skip = new Set(excludes.map((e) => e.replace(/^\*\*\//, "")))
const walk = (dir) =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const rel = path.relative(root, path.join(dir, e.name))
    if (skip.has(e.name) || skip.has(rel) || e.name.startsWith(".")) return []
    if (e.isDirectory()) return walk(path.join(dir, e.name))
    return /\.(ts|mts|js|mjs)$/.test(e.name) ? [path.join(dir, e.name)] : []
  })

const write = process.argv.includes("--write")
const named = process.argv.slice(2).filter((a) => !a.startsWith("--")).map((f) => path.resolve(f))
const unformatted = []
for (const file of named.length > 0 ? named : walk(root)) {
  const text = fs.readFileSync(file, "utf8")
  const formatted = formatter.formatText({ filePath: file, fileText: text })
  if (formatted === text) continue
  unformatted.push(path.relative(root, file))
  if (write) fs.writeFileSync(file, formatted)
}
if (write) console.log(`formatted ${unformatted.length} file(s)`)
else if (unformatted.length > 0) {
  console.error(`not formatted (run npm run format): ${unformatted.join(", ")}`)
  process.exit(1)
} else console.log("format: ok")
