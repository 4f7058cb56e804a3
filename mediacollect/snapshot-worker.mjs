// The worker that makes the start-up snapshot (pyodide.mjs, makeSnapshot): started by the page's
// interpreter after its first start, it answers {} once the snapshot is stored, or {error}.
import { makeSnapshot } from "./pyodide.mjs";

makeSnapshot().then(() => postMessage({}), (error) => postMessage({ error: String(error) }));
