// SPEC.md section 8 (hash chain) and section 6 (transitions, lineage rules of 6.3).
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { issue, parseDateTime } from "./common.mjs";

export const GENESIS = "0".repeat(64);
const HEX64 = /^[0-9a-f]{64}$/;
const ACTIVE = ["given", "renewed", "narrowed"];
const TERMINAL = ["withdrawn", "expired", "superseded", "invalidated"];
const STATES = [...ACTIVE, "refused", ...TERMINAL];
const FROM_ACTIVE = ["renewed", "narrowed", "withdrawn", "expired", "superseded", "invalidated"];
// Section 6.2: previous state ("" for a record without replaces) -> allowed next states.
const TRANSITIONS = {
  "": ["given", "refused"], given: FROM_ACTIVE, renewed: FROM_ACTIVE, narrowed: FROM_ACTIVE,
  refused: ["given", "superseded"], withdrawn: [], expired: [], superseded: [], invalidated: [],
};

/** lowercase-hex(SHA-256(ASCII(P) || JCS(E))), section 8. */
export function chainHash(entry, previous) {
  return createHash("sha256").update(previous, "ascii").update(Buffer.from(canonicalize(entry), "utf8")).digest("hex");
}

export function ledgerHead(entries) {
  let head = GENESIS;
  for (const entry of entries) head = chainHash(entry, head);
  return head;
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const site = (entry) => entry?.request?.relying_party?.client_id;

function grants(entry) {
  const pairs = new Set();
  for (const [claim, grant] of Object.entries(entry.granted || {})) {
    for (const purpose of grant?.purposes || []) pairs.add(JSON.stringify([claim, purpose]));
  }
  return pairs;
}

function lineage(entry, before, at) {
  const out = [];
  if (site(entry) !== site(before)) out.push(issue([...at, "request", "relying_party", "client_id"], "replaces another relying party's record", "lineage-same-party"));
  if (entry.subject !== before.subject) out.push(issue([...at, "subject"], "replaces a record about another subject", "lineage-same-party"));
  for (const member of ["decided_at", "recorded_at"]) {
    const mine = parseDateTime(entry[member]), theirs = parseDateTime(before[member]);
    if (mine !== null && theirs !== null && mine < theirs) out.push(issue([...at, member], `${member} before the replaced record's`, "lineage-time-order"));
  }
  if (entry.state === "narrowed") {
    const now = grants(entry), earlier = grants(before);
    const added = [...now].filter((pair) => !earlier.has(pair));
    if (added.length) out.push(issue([...at, "granted"], "a narrowing grants something new", "lineage-narrowing-subset"));
    else if (now.size === earlier.size) out.push(issue([...at, "granted"], "a narrowing removes nothing", "lineage-narrowing-subset"));
  }
  if (entry.state === "expired") {
    if (before.expires_at === undefined) out.push(issue([...at, "state"], "only a consent with expires_at expires", "lineage-expiry"));
    else {
      const due = parseDateTime(before.expires_at), decided = parseDateTime(entry.decided_at);
      if (due !== null && decided !== null && decided < due) out.push(issue([...at, "decided_at"], "expired before expires_at", "lineage-expiry"));
    }
  }
  return out;
}

/** Every check of section 8 and the lineage rules of 6.3 over a ledger, with path prefix `at`. */
export function verifyLedger(entries, at = []) {
  if (!Array.isArray(entries)) return [issue(at, "a ledger is an array", "type")];
  const out = [];
  let previous = GENESIS;
  const byId = new Map();
  const replaced = new Set();
  const open = new Map(); // relying party -> record ids of open lineages' newest records
  for (const [index, entry] of entries.entries()) {
    const where = [...at, index];
    if (!isObject(entry)) { out.push(issue(where, "a ledger entry is an object", "type")); break; }
    if (entry.sequence !== index) out.push(issue([...where, "sequence"], `sequence must be ${index}`, "ledger-sequence"));
    if (entry.previous_hash !== previous) out.push(issue([...where, "previous_hash"], "does not link to the entry before", "ledger-hash-link"));
    const replaces = entry.replaces;
    const before = typeof replaces === "string" ? byId.get(replaces) : undefined;
    if (replaces !== undefined) {
      if (!before) out.push(issue([...where, "replaces"], "replaces no earlier record", "ledger-lineage"));
      else if (replaced.has(replaces)) out.push(issue([...where, "replaces"], "record already replaced", "ledger-lineage"));
    }
    const from = replaces === undefined ? "" : before?.state;
    if (STATES.includes(entry.state) && from !== undefined && from in TRANSITIONS && !TRANSITIONS[from].includes(entry.state)) {
      out.push(issue([...where, "state"], `illegal transition from ${from || "(start)"} to ${entry.state}`, "lifecycle-transition"));
    }
    if (typeof entry.record_id === "string" && byId.has(entry.record_id)) out.push(issue([...where, "record_id"], "record_id repeats", "ledger-record-unique"));
    if (before) out.push(...lineage(entry, before, where));
    const key = String(site(entry));
    const lineages = open.get(key) || [];
    if (replaces === undefined && lineages.length) out.push(issue(where, "a new lineage while another about this relying party is open", "ledger-one-open-lineage"));
    const kept = lineages.filter((id) => id !== replaces);
    if (typeof entry.record_id === "string" && !TERMINAL.includes(entry.state)) kept.push(entry.record_id);
    open.set(key, kept);
    if (typeof entry.record_id === "string" && !byId.has(entry.record_id)) byId.set(entry.record_id, entry);
    if (typeof replaces === "string") replaced.add(replaces);
    const named = typeof entry.previous_hash === "string" && HEX64.test(entry.previous_hash) ? entry.previous_hash : previous;
    previous = chainHash(entry, named);
  }
  return out;
}
