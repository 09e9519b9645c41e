/**
 * The package's front door, checked without a build (the build itself is `npm run test:build`): package.json's
 * entry points are the compiled forms of sources that exist, the CLI is bundled from a source that starts with a
 * shebang so `dist/bin/lnsync.js` runs as a command, and the build (`scripts/build.mjs`) copies every non-TypeScript
 * file `src/` loads at run time (the signature worker, the dashboard's page) beside the library's modules and beside
 * the bundle.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const buildScript = fs.readFileSync(path.join(repo, "scripts/build.mjs"), "utf8")
const pkg = JSON.parse(fs.readFileSync(path.join(repo, "package.json"), "utf8")) as {
  readonly name: string
  readonly types: string
  readonly bin: Record<string, string>
  readonly exports: Record<string, { readonly types: string; readonly default: string } | string | null>
  readonly scripts: Record<string, string>
  readonly dependencies: Record<string, string>
  readonly files: ReadonlyArray<string>
}

/** `./dist/x/y.js` (or `.d.ts`) -> `src/x/y.ts`. */
const sourceOf = (built: string) => built.replace(/^\.\/dist\//, "src/").replace(/(\.d)?\.ts$|\.js$/, ".ts")

const filesUnder = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? filesUnder(path.join(dir, d.name)) : [path.join(dir, d.name)]
  )

describe("package layout", () => {
  it("`lnsync` and `lnsync/testing` are the built src/index.ts and src/testing/index.ts; internals are closed", () => {
    expect(pkg.name).toBe("lnsync")
    const main = pkg.exports["."]
    const testing = pkg.exports["./testing"]
    if (typeof main !== "object" || main === null || typeof testing !== "object" || testing === null) {
      throw new Error("exports must map . and ./testing to { types, default }")
    }
    expect([main.default, main.types, pkg.types].map(sourceOf)).toEqual([
      "src/index.ts",
      "src/index.ts",
      "src/index.ts"
    ])
    expect([testing.default, testing.types].map(sourceOf)).toEqual(["src/testing/index.ts", "src/testing/index.ts"])
    expect(pkg.exports["./internal/*"]).toBeNull()
    for (const file of ["src/index.ts", "src/testing/index.ts"]) expect(fs.existsSync(path.join(repo, file))).toBe(true)
  })

  it("the lnsync command is the CLI bundled from src/bin/lnsync.ts, whose source starts with a shebang", () => {
    expect(sourceOf(pkg.bin["lnsync"]!)).toBe("src/bin/lnsync.ts")
    expect(fs.readFileSync(path.join(repo, "src/bin/lnsync.ts"), "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true)
    // tsc builds the library (dist/, .d.ts), then scripts/build.mjs bundles the CLI over dist/bin/, which ships
    expect(pkg.scripts["build"]).toBe("tsc -p tsconfig.build.json && node scripts/build.mjs")
    expect(buildScript).toContain(`entryPoints: { lnsync: "src/bin/lnsync.ts" }`)
    expect(buildScript).toContain(`const bin = path.join(dist, "bin")`)
    expect(pkg.files).toContain("dist")
    for (const script of ["start", "test:build"]) expect(pkg.scripts[script]).toContain("node dist/bin/lnsync.js")
    // nothing runs TypeScript or bundles at run time
    expect(pkg.dependencies["tsx"]).toBeUndefined()
    expect(pkg.dependencies["esbuild"]).toBeUndefined()
  })

  it("the build copies every non-TypeScript file under src/ into dist/ and beside the bundle", () => {
    const assets = filesUnder(path.join(repo, "src"))
      .filter((f) => !f.endsWith(".ts"))
      .map((f) => path.relative(repo, f).split(path.sep).join("/"))
    expect(assets.sort()).toEqual([
      "src/layers/http/dashboard/dashboard.css",
      "src/layers/http/dashboard/dashboard.js",
      "src/layers/http/dashboard/index.html",
      "src/layers/verify/verify-worker.mjs"
    ])
    // scripts/build.mjs's ASSETS: [the folder of the module that finds the file via import.meta.url, the file
    // relative to it]; dist/<folder>/<file> for the library, dist/bin/<file> for the bundle's chunks
    const listed = Array.from(buildScript.matchAll(/^ {2}\["([^"]+)", "([^"]+)"\],?$/gm), (m) => `src/${m[1]}/${m[2]}`)
    expect(listed.sort()).toEqual(assets)
    expect(buildScript).toContain("fs.cpSync(path.join(root, \"src\", dir, file), path.join(dist, dir, file))")
    expect(buildScript).toContain("fs.cpSync(path.join(root, \"src\", dir, file), path.join(staging, file))")
  })
})
