// Shared pieces of SPEC.md: JSON paths (section 1), date-times (3.3), issues.

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** A JSONPath (RFC 9535 syntax) as SPEC.md section 1 spells it. */
export function formatPath(parts) {
  let out = "$";
  for (const part of parts) {
    if (typeof part === "number") out += `[${part}]`;
    else if (IDENTIFIER.test(part)) out += `.${part}`;
    else out += `['${String(part).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}']`;
  }
  return out;
}

export function issue(parts, message, rule) {
  return { path: formatPath(parts), message, rule };
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Milliseconds since the epoch of an RFC 3339 date-time (SPEC.md 3.3), or null.
 * Lowercase t/z are allowed; second 60 is a leap second, valid only as the last
 * second of a UTC minute, and orders one second after :59.
 */
export function parseDateTime(value) {
  if (typeof value !== "string") return null;
  const m = DATE_TIME.exec(value);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return null;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return null;
  let offset = 0;
  if (!m[8]) {
    const oh = Number(m[10]), om = Number(m[11]);
    if (oh > 23 || om > 59) return null;
    offset = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const fraction = Number(`0.${m[7] || "0"}`);
  let ms = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59)) - offset * 60000 + Math.floor(fraction * 1000);
  if (second === 60) {
    const utc = new Date(ms);
    if (utc.getUTCHours() !== 23 || utc.getUTCMinutes() !== 59) return null;
    ms += 1000;
  }
  return ms;
}
