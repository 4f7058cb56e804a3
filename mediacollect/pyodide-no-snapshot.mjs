// PyScript's "interpreter" for pages that should keep nothing in the browser's Cache Storage:
// the same as pyodide.mjs beside it, without the start-up snapshot (Python initialises itself on
// every visit, as plain loadPyodide() does).
import { start } from "./pyodide.mjs";

export { version } from "./pyodide.mjs";

export const loadPyodide = (options = {}) => start(options, { snapshot: false });
