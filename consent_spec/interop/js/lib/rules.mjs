// The rules of SPEC.md that JSON Schema cannot express, per document kind.
// They run only on documents their schema accepted.
import { issue, parseDateTime } from "./common.mjs";
import { GENESIS, chainHash, ledgerHead, verifyLedger } from "./ledger.mjs";

const OIDC_CLAIMS = new Set(["name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
  "profile", "picture", "website", "email", "email_verified", "gender", "birthdate", "zoneinfo", "locale",
  "phone_number", "phone_number_verified", "address", "updated_at"]);
const before = (a, b) => { const x = parseDateTime(a), y = parseDateTime(b); return x !== null && y !== null && y < x; };

// Section 5.2.
export function checkRecord(doc, at = []) {
  const out = [];
  const requested = doc.request.claims;
  const has = (claim) => Object.hasOwn(requested, claim);
  for (const [claim, grant] of Object.entries(doc.granted)) {
    if (!has(claim)) { out.push(issue([...at, "granted", claim], "granted but not requested", "record-claims-requested")); continue; }
    grant.purposes.forEach((purpose, i) => {
      if (!requested[claim].purposes.includes(purpose)) out.push(issue([...at, "granted", claim, "purposes", i], "purpose not requested", "record-purposes-requested"));
    });
  }
  doc.refused.forEach((claim, i) => {
    if (!has(claim)) out.push(issue([...at, "refused", i], "refused but not requested", "record-claims-requested"));
    if (Object.hasOwn(doc.granted, claim)) out.push(issue([...at, "refused", i], "both granted and refused", "record-granted-refused-disjoint"));
  });
  const undecided = Object.keys(requested).filter((c) => !Object.hasOwn(doc.granted, c) && !doc.refused.includes(c));
  if (undecided.length) out.push(issue([...at, "refused"], `not granted and not refused: ${undecided}`, "record-claims-decided"));
  if (["given", "renewed"].includes(doc.state)) {
    for (const [claim, ask] of Object.entries(requested)) {
      if (ask.essential && !Object.hasOwn(doc.granted, claim)) out.push(issue([...at, "granted"], `essential ${claim} not granted`, "record-essential-granted"));
    }
  }
  if (doc.consent_type !== "explicit") {
    for (const claim of Object.keys(doc.granted)) {
      if (has(claim) && requested[claim].sensitivity === "special-category") out.push(issue([...at, "consent_type"], "special-category needs explicit consent", "record-explicit-special-category"));
    }
  }
  if (before(doc.decided_at, doc.recorded_at)) out.push(issue([...at, "recorded_at"], "recorded before decided", "record-time-order"));
  if (doc.expires_at !== undefined) {
    const decided = parseDateTime(doc.decided_at), expires = parseDateTime(doc.expires_at);
    if (decided !== null && expires !== null && expires <= decided) out.push(issue([...at, "expires_at"], "expires_at not after decided_at", "record-time-order"));
  }
  if (doc.replaces === doc.record_id) out.push(issue([...at, "replaces"], "replaces itself", "record-lineage"));
  if (doc.sequence === 0 && doc.previous_hash !== GENESIS) out.push(issue([...at, "previous_hash"], "entry 0 chains to 64 zeros", "ledger-hash-link"));
  return out;
}

// Section 7.2.
export function checkReceipt(doc, at = []) {
  const record = doc.consent_record;
  const out = checkRecord(record, [...at, "consent_record"]);
  if (doc.sub !== record.subject) out.push(issue([...at, "sub"], "sub differs from the record's subject", "receipt-subject"));
  const audiences = typeof doc.aud === "string" ? [doc.aud] : doc.aud;
  if (!audiences.includes(record.request.relying_party.client_id)) out.push(issue([...at, "aud"], "aud lacks the RP", "receipt-audience"));
  if (doc.record_hash !== chainHash(record, record.previous_hash)) out.push(issue([...at, "record_hash"], "record_hash mismatch", "receipt-record-hash"));
  return out;
}

// Section 9.
export function checkWithdrawal(doc, at = []) {
  const out = [];
  if (before(doc.requested_at, doc.effective_at)) out.push(issue([...at, "effective_at"], "effective before requested", "withdrawal-time-order"));
  const removes = doc.removes || {};
  for (const claim of Object.keys(removes.purposes || {})) {
    if ((removes.claims || []).includes(claim)) out.push(issue([...at, "removes", "purposes", claim], "claim in both", "withdrawal-removes-disjoint"));
  }
  return out;
}

// Section 10.
export function checkTerms(doc, at = []) {
  const out = [];
  const key = (ref) => JSON.stringify([ref.terms_id, ref.version, ref.roster]);
  const seen = new Set();
  doc.proffered.forEach((ref, i) => {
    if (seen.has(key(ref))) out.push(issue([...at, "proffered", i], "edition proffered twice", "terms-proffered-unique"));
    seen.add(key(ref));
  });
  const response = doc.response;
  if (!response) return out;
  if (response.accepted && !seen.has(key(response.accepted))) out.push(issue([...at, "response", "accepted"], "not proffered", "terms-accept-proffered"));
  if (response.alternative && seen.has(key(response.alternative))) out.push(issue([...at, "response", "alternative"], "alternative was proffered", "terms-alternative-new"));
  if (before(doc.proffered_at, response.responded_at)) out.push(issue([...at, "response", "responded_at"], "responded before proffered", "terms-time-order"));
  return out;
}

// Section 11.
export function checkCatalogue(doc, at = []) {
  const out = [];
  for (const [claim, description] of Object.entries(doc.claims)) {
    if ((description.source === "oidc-core") !== OIDC_CLAIMS.has(claim)) out.push(issue([...at, "claims", claim, "source"], "source mismatch", "catalogue-source"));
  }
  return out;
}

// Section 12.
export function checkProfile(doc, at = []) {
  const out = [];
  doc.ledger.forEach((record, i) => out.push(...checkRecord(record, [...at, "ledger", i])));
  out.push(...verifyLedger(doc.ledger, [...at, "ledger"]));
  if (doc.ledger_head !== ledgerHead(doc.ledger)) out.push(issue([...at, "ledger_head"], "ledger_head mismatch", "profile-ledger-head"));
  const ids = new Set();
  doc.personas.forEach((persona, i) => {
    if (ids.has(persona.persona_id)) out.push(issue([...at, "personas", i, "persona_id"], "persona_id repeats", "profile-persona-unique"));
    ids.add(persona.persona_id);
  });
  doc.terms.forEach((terms, i) => out.push(...checkTerms(terms, [...at, "terms", i])));
  if (doc.catalogue) out.push(...checkCatalogue(doc.catalogue, [...at, "catalogue"]));
  return out;
}

// Section 13.
export function checkEvent(doc, at = []) {
  const out = [];
  for (const [uri, payload] of Object.entries(doc.events)) {
    if (payload.record_id === payload.new_record_id) out.push(issue([...at, "events", uri, "new_record_id"], "same record", "event-records"));
  }
  return out;
}

export const RULES = {
  "consent-record": checkRecord, "consent-receipt": checkReceipt, withdrawal: checkWithdrawal,
  "person-terms": checkTerms, "claims-catalogue": checkCatalogue, "portable-profile": checkProfile,
  "consent-event": checkEvent,
};
