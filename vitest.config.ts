import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = (file: string) => fileURLToPath(new URL(`./src/${file}`, import.meta.url))

export default defineConfig({
  resolve: {
    // `import ... from "lnsync"` in tests and examples runs the sources (as tsconfig.json's `paths` type-checks them)
    alias: [
      { find: /^lnsync$/, replacement: src("index.ts") },
      { find: /^lnsync\/testing$/, replacement: src("testing/index.ts") }
    ]
  },
  test: {
    include: ["test/**/*.test.ts"],
    // real-browser tests run apart, in `npm run test:e2e` (vitest.e2e.config.ts)
    exclude: ["**/node_modules/**", "test/e2e/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // native addons (secp256k1, better-sqlite3) are safest in forked processes
    pool: "forks"
  }
})
