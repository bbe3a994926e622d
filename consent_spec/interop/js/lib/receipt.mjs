// SPEC.md section 7.3: verify a consent receipt; throws ReceiptError with a reason code.
import { compactVerify, decodeProtectedHeader, importJWK } from "jose";

const ALGORITHMS = { ES256: "EC", ES384: "EC", EdDSA: "OKP", PS256: "RSA", RS256: "RSA" };

export class ReceiptError extends Error {
  constructor(reason, message) { super(message); this.reason = reason; }
}

export async function verifyReceipt(token, jwks, validate, { issuer, audience } = {}) {
  if (typeof token !== "string" || token.trim().split(".").length !== 3) throw new ReceiptError("malformed", "not three parts");
  token = token.trim();
  let header;
  try { header = decodeProtectedHeader(token); } catch (error) { throw new ReceiptError("malformed", error.message); }
  const typ = typeof header.typ === "string" ? header.typ.toLowerCase().replace(/^application\//, "") : null;
  if (typ !== "consent-receipt+jwt") throw new ReceiptError("typ", `typ ${header.typ}`);
  if (!Object.hasOwn(ALGORITHMS, header.alg)) throw new ReceiptError("alg", `alg ${header.alg}`);
  if ("crit" in header) throw new ReceiptError("malformed", "crit");
  const key = (jwks.keys || []).find((candidate) => candidate.kid === header.kid);
  if (!key) throw new ReceiptError("key", `no key ${header.kid}`);
  if (key.kty !== ALGORITHMS[header.alg] || (key.use ?? "sig") !== "sig" || (key.alg ?? header.alg) !== header.alg
      || ["d", "p", "q", "k"].some((member) => member in key)) throw new ReceiptError("key", "unusable key");
  let payload;
  try {
    const publicKey = await importJWK(key, header.alg);
    ({ payload } = await compactVerify(token, publicKey, { algorithms: [header.alg] }));
  } catch (error) {
    throw new ReceiptError("signature", error.message);
  }
  let claims;
  try { claims = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload)); } catch (error) { throw new ReceiptError("malformed", error.message); }
  if (issuer !== undefined && claims.iss !== issuer) throw new ReceiptError("issuer", "iss");
  if (audience !== undefined && !(typeof claims.aud === "string" ? [claims.aud] : claims.aud || []).includes(audience)) throw new ReceiptError("audience", "aud");
  const issues = validate(claims, "consent-receipt");
  if (issues.length) throw new ReceiptError("schema", issues.map((i) => `${i.path}: ${i.rule}`).join("; "));
  return claims;
}
