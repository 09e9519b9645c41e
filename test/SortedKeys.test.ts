import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { SortedKeys } from "../src/services/internal/graphStore/sortedKeys.js"

// The in-memory GraphStore's range (GS-33) and horizon (GS-44) indices: checked against a plain sorted array,
// with tiny chunks so that splits and chunk removals happen constantly.
describe("SortedKeys (GraphStoreMemory indices)", () => {
  it("GS-33/GS-44: inserts, deletes and walks agree with a sorted array", () => {
    const op = fc.oneof(
      fc.record({ insert: fc.integer({ min: 0, max: 60 }) }),
      fc.record({ remove: fc.integer({ min: 0, max: 60 }) })
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), fc.integer({ min: -1, max: 61 }), (ops, from) => {
        const keys = new SortedKeys<number>((a, b) => a - b, 4)
        const model = new Set<number>()
        for (const o of ops) {
          if ("insert" in o) {
            expect(keys.insert(o.insert)).toBe(!model.has(o.insert))
            model.add(o.insert)
          } else {
            expect(keys.delete(o.remove)).toBe(model.has(o.remove))
            model.delete(o.remove)
          }
        }
        const sorted = [...model].sort((a, b) => a - b)
        expect(keys.size).toBe(sorted.length)
        expect([...keys.walk(undefined)]).toEqual(sorted)
        expect([...keys.walk(from)]).toEqual(sorted.filter((k) => k >= from))
        expect([...keys.walk(from, true)]).toEqual(sorted.filter((k) => k > from))
        expect(keys.last()).toBe(sorted[sorted.length - 1])
        expect(keys.has(from)).toBe(model.has(from))
      }),
      { numRuns: 500, seed: 7 }
    )
  })
})
