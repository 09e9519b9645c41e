import * as GraphStoreMemory from "../src/layers/GraphStoreMemory.js"
import { graphStoreContract } from "./GraphStore.contract.js"

graphStoreContract("memory", () => GraphStoreMemory.layer)
