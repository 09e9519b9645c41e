// Lint: typescript-eslint's recommended rules (syntactic only: no type information, so a full run stays a few
// seconds on 2 cores) plus the layering of src/ (ARCHITECTURE.md, issue 12). Formatting is dprint's job
// (dprint.json), so no stylistic rules here.
import js from "@eslint/js"
import globals from "globals"
import { readdirSync } from "node:fs"
import tseslint from "typescript-eslint"

// Relative imports only: the folders are found by name anywhere in the specifier, so the rules hold at any depth.
const into = (folders) => `^\\.{1,2}/(?:.*/)?(?:${folders.join("|")})(?:/|\\.js$)`

const forbid = (folders, why) => ({ regex: into(folders), caseSensitive: true, message: why })

const domainRule = forbid(
  ["services", "layers", "testing", "bin"],
  "src/domain holds pure values and codecs: it may not depend on services, layers, testing or the CLI."
)
const servicesRule = forbid(
  ["layers", "testing", "bin"],
  "src/services may not depend on layers (outside-world bindings), testing helpers or the CLI."
)
const layersRule = forbid(
  ["testing", "bin"],
  "src/layers (and the composition root Node.ts) may not depend on testing helpers or the CLI."
)
const internalRule = forbid(
  ["internal"],
  "services/internal/<service>/ is the machinery of one service: only that service's module and folder import it."
)

/** Machinery folders of today's tree (src/services/internal/<service>/), read at lint time. */
const internals = readdirSync(new URL("./src/services/internal/", import.meta.url), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)

/** `gossipSyncer` -> `GossipSyncer.ts`, the service module that owns the folder. */
const ownerModule = (folder) => `src/services/${folder[0].toUpperCase()}${folder.slice(1)}.ts`

const restrict = (files, patterns) => ({
  files,
  rules: { "no-restricted-imports": ["error", { patterns }] }
})

/** A service (its module and its folder) may import its own machinery, never another service's. */
const otherInternals = (own) => {
  const others = internals.filter((name) => name !== own)
  return others.length === 0 ? [] : [{
    // `./internal/x/` from the service module, `../x/` from inside its folder
    regex: `^\\.{1,2}/(?:.*/)?(?:${others.join("|")})/`,
    caseSensitive: true,
    message: `services/internal/${own}/ belongs to one service: go through the other service's module instead.`
  }]
}

export default tseslint.config(
  {
    ignores: ["node_modules/", "dist/", "data/", "test/vectors/", "tmp/"]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", {
        args: "after-used",
        argsIgnorePattern: "^_",
        varsIgnorePattern: "^_",
        caughtErrors: "none",
        ignoreRestSiblings: true
      }],
      "@typescript-eslint/ban-ts-comment": ["error", { "ts-expect-error": "allow-with-description" }],
      // `Data.TaggedError("X")<{}>` is Effect's idiom for an error without fields
      "@typescript-eslint/no-empty-object-type": ["error", { allowObjectTypes: "always" }]
    }
  },
  // Layering of src/. Later blocks replace earlier ones for the same rule, so each block lists every pattern
  // that applies to its files.
  restrict(["src/domain/**"], [domainRule]),
  restrict(["src/services/*.ts"], [servicesRule, internalRule]),
  ...internals.map((name) =>
    restrict([ownerModule(name), `src/services/internal/${name}/**`], [servicesRule, ...otherInternals(name)])
  ),
  restrict(["src/layers/**"], [layersRule, internalRule]),
  restrict(["src/testing/**", "src/bin/**", "examples/**"], [internalRule])
)
