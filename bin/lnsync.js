#!/usr/bin/env node
// The installed `lnsync` command: run the TypeScript entrypoint through tsx's loader (a dependency).
import { register } from "tsx/esm/api"

register()
await import("../src/bin/lnsync.ts")
