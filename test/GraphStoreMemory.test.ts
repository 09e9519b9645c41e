import { layerMemory } from "../src/services/GraphStore.js"
import { graphStoreContract } from "./GraphStore.contract.js"

graphStoreContract("memory", () => layerMemory)
