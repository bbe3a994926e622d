// Check every vector of the Porta consent specification with this independent
// implementation (SPEC.md section 15). Prints each disagreement; exit status 1 if any.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import canonicalize from "canonicalize";
import { GENESIS, chainHash, ledgerHead, verifyLedger } from "./lib/ledger.mjs";
import { ReceiptError, verifyReceipt } from "./lib/receipt.mjs";
import { loadValidators } from "./lib/schemas.mjs";
import { makeValidate } from "./lib/validate.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const vectors = join(root, "vectors");
const validate = makeValidate(loadValidators(join(root, "schemas")));
const readJson = (...parts) => JSON.parse(readFileSync(join(vectors, ...parts), "utf8"));
const jsonFiles = (...parts) => readdirSync(join(vectors, ...parts)).filter((name) => name.endsWith(".json")).sort();
const show = (issues) => issues.map((i) => `${i.path} [${i.rule}]`).join(", ") || "no issue";

const failures = [];
let checks = 0;
function expect(ok, what) {
  checks += 1;
  if (!ok) failures.push(what);
}

// valid/<kind>/*.json must be accepted; invalid/<kind>/*.json rejected at the stated path and rule.
for (const kind of readdirSync(join(vectors, "valid")).sort()) {
  for (const file of jsonFiles("valid", kind)) {
    const issues = validate(readJson("valid", kind, file), kind);
    expect(issues.length === 0, `valid/${kind}/${file}: rejected: ${show(issues)}`);
  }
}
const manifest = readJson("invalid", "manifest.json");
for (const kind of readdirSync(join(vectors, "invalid")).filter((name) => !name.endsWith(".json")).sort()) {
  for (const file of jsonFiles("invalid", kind)) {
    const expected = manifest[`${kind}/${file}`];
    const issues = validate(readJson("invalid", kind, file), kind);
    expect(expected && issues.some((i) => i.path === expected.path && i.rule === expected.rule),
      `invalid/${kind}/${file}: expected ${expected?.path} [${expected?.rule}], got ${show(issues)}`);
  }
}

// Receipts (section 7.3): the valid ones verify, the others fail for the stated reason.
const receipts = readJson("receipt", "manifest.json");
const jwks = readJson("receipt", receipts.jwks);
for (const entry of receipts.receipts) {
  const token = readFileSync(join(vectors, "receipt", entry.file), "utf8");
  let reason = null;
  try {
    await verifyReceipt(token, jwks, validate, entry.valid ? { issuer: receipts.issuer } : {});
  } catch (error) {
    if (!(error instanceof ReceiptError)) throw error;
    reason = error.reason;
  }
  expect(reason === entry.reason, `receipt/${entry.file}: expected ${entry.reason ?? "valid"}, got ${reason ?? "valid"}`);
}

// Ledgers (sections 6.3 and 8).
function checkHashes(name, vector) {
  let previous = vector.genesis ?? GENESIS;
  vector.entries.forEach((entry, i) => {
    const hash = chainHash(entry, previous);
    expect(hash === vector.expected_hashes[i], `ledger/${name}: entry ${i} hashes to ${hash}`);
    previous = hash;
  });
  expect(previous === vector.head, `ledger/${name}: head`);
}
const emptyExport = readJson("valid", "portable-profile", "empty-account.json");
const asExport = (entries) => ({ ...emptyExport, ledger: entries, ledger_head: ledgerHead(entries) });
for (const file of jsonFiles("ledger")) {
  const vector = readJson("ledger", file);
  checkHashes(file, vector);
  expect(verifyLedger(vector.entries).length === 0, `ledger/${file}: rejected: ${show(verifyLedger(vector.entries))}`);
}
for (const file of existsSync(join(vectors, "ledger", "valid")) ? jsonFiles("ledger", "valid") : []) {
  const vector = readJson("ledger", "valid", file);
  checkHashes(`valid/${file}`, vector);
  for (const entry of vector.entries) expect(validate(entry, "consent-record").length === 0, `ledger/valid/${file}: entry ${entry.record_id} invalid`);
  const issues = validate(asExport(vector.entries), "portable-profile");
  expect(issues.length === 0, `ledger/valid/${file}: rejected: ${show(issues)}`);
}
for (const file of existsSync(join(vectors, "ledger", "invalid")) ? jsonFiles("ledger", "invalid") : []) {
  const vector = readJson("ledger", "invalid", file);
  const issues = verifyLedger(vector.entries);
  expect(issues.some((i) => i.path === vector.path && i.rule === vector.rule) && issues.every((i) => i.rule === vector.rule),
    `ledger/invalid/${file}: expected only ${vector.path} [${vector.rule}], got ${show(issues)}`);
  const inExport = validate(asExport(vector.entries), "portable-profile");
  const path = "$.ledger" + vector.path.slice(1);
  expect(inExport.some((i) => i.path === path && i.rule === vector.rule), `ledger/invalid/${file} in an export: expected ${path}, got ${show(inExport)}`);
}

// JCS (RFC 8785) cases.
for (const testCase of readJson("jcs", "cases.json").cases) {
  const canonical = canonicalize(JSON.parse(testCase.input));
  expect(canonical === testCase.canonical, `jcs/${testCase.name}: got ${canonical}`);
  expect(createHash("sha256").update(canonical, "utf8").digest("hex") === testCase.sha256, `jcs/${testCase.name}: sha256`);
}

for (const failure of failures) console.log(`DISAGREE ${failure}`);
console.log(`${checks - failures.length} of ${checks} checks agree with the vectors`);
process.exit(failures.length ? 1 : 0);
