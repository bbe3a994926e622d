// SPEC.md section 3: JSON Schema draft 2020-12, resolved from the shipped files only,
// with the formats date-time, uri, email, uuid and duration asserted.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { formatPath, parseDateTime } from "./common.mjs";

// SPEC.md 3.3: RFC 5321 4.1.2 Mailbox, Dot-string local part and a domain name, UTF-8
// allowed as RFC 6531 3.3 allows; no quoted local part, no address literal.
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\u{80}-\\u{10FFFF}-]+";
const LABEL = "[A-Za-z0-9\\u{80}-\\u{10FFFF}](?:[A-Za-z0-9\\u{80}-\\u{10FFFF}-]*[A-Za-z0-9\\u{80}-\\u{10FFFF}])?";
const EMAIL = new RegExp(`^${ATOM}(?:\\.${ATOM})*@${LABEL}(?:\\.${LABEL})*$`, "u");

export const KINDS = ["consent-request", "consent-record", "consent-receipt", "withdrawal", "person-terms",
  "claims-catalogue", "portable-profile", "consent-event"];

export function loadValidators(schemaDir) {
  const ajv = new Ajv2020({ allErrors: true, strict: false, loadSchema: undefined });
  addFormats(ajv, ["uri", "uuid", "duration"]);
  ajv.addFormat("date-time", { type: "string", validate: (text) => parseDateTime(text) !== null });
  ajv.addFormat("email", { type: "string", validate: (text) => [...text].length <= 254 && EMAIL.test(text) });
  const ids = {};
  for (const file of readdirSync(schemaDir).filter((name) => name.endsWith(".schema.json"))) {
    const schema = JSON.parse(readFileSync(join(schemaDir, file), "utf8"));
    ajv.addSchema(schema);
    ids[file.replace(".schema.json", "")] = schema.$id;
  }
  const validators = {};
  for (const kind of KINDS) validators[kind] = ajv.getSchema(ids[kind]);
  return validators;
}

// A JSON Pointer's tokens, as array indexes where the document holds an array.
function pointerParts(pointer, document) {
  if (!pointer) return [];
  const parts = [];
  let node = document;
  for (const token of pointer.slice(1).split("/")) {
    const name = token.replace(/~1/g, "/").replace(/~0/g, "~");
    const part = Array.isArray(node) ? Number(name) : name;
    parts.push(part);
    node = node == null ? undefined : node[part];
  }
  return parts;
}

/** Schema errors as {path, message, rule}: rule is the failing keyword, path the instance. */
export function schemaIssues(validate, document) {
  if (validate(document)) return [];
  return validate.errors.map((error) => {
    const parts = pointerParts(error.instancePath, document);
    const rule = error.schemaPath.includes("/propertyNames/") || error.keyword === "propertyNames" ? "propertyNames" : error.keyword;
    return { path: formatPath(parts), message: error.message, rule };
  });
}
