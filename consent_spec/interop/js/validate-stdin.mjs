// Read a JSON array of {kind, document} on stdin; print, for each, the issues this
// implementation finds ([{path, rule}], empty when valid). Used for differential tests.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadValidators } from "./lib/schemas.mjs";
import { makeValidate } from "./lib/validate.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const validate = makeValidate(loadValidators(join(root, "schemas")));
const cases = JSON.parse(readFileSync(0, "utf8"));
console.log(JSON.stringify(cases.map(({ kind, document }) => validate(document, kind).map(({ path, rule }) => ({ path, rule })))));
