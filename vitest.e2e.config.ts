/**
 * `npm run test:e2e`: the tests that drive a real browser (Debian's chromium through playwright-core), apart from
 * `npm test` (vitest.config.ts excludes test/e2e/). Same module aliases and process pool as the main suite.
 */
import { defineConfig } from "vitest/config"
import base from "./vitest.config.js"

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ["test/e2e/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
