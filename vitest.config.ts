import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // native addons (secp256k1, better-sqlite3) are safest in forked processes
    pool: "forks"
  }
})
