import * as GraphStoreMemory from "../src/services/internal/graphStore/memory.js"
import { graphStoreContract } from "./GraphStore.contract.js"

graphStoreContract("memory", () => GraphStoreMemory.layer)
