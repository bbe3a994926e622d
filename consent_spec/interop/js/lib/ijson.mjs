// SPEC.md section 3.5: documents are I-JSON with at most 64 levels of nesting.
import { issue } from "./common.mjs";

export const MAX_DEPTH = 64;
const MAX_SAFE = 2 ** 53 - 1;
const wellFormed = (text) => !/[\uD800-\uDFFF]/.test(text.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ""));

export function checkIJson(document) {
  const issues = [];
  const stack = [[document, []]];
  while (stack.length && issues.length < 50) {
    const [value, path] = stack.pop();
    if (typeof value === "number") {
      if (!Number.isFinite(value) || Math.abs(value) > MAX_SAFE) {
        issues.push(issue(path, "number outside the I-JSON range of +-(2^53 - 1)", "i-json"));
      }
    } else if (typeof value === "string") {
      if (!wellFormed(value)) issues.push(issue(path, "string holds a lone surrogate", "i-json"));
    } else if (value !== null && typeof value === "object") {
      if (path.length >= MAX_DEPTH) {
        issues.push(issue(path, `nested deeper than ${MAX_DEPTH} levels`, "i-json"));
        continue;
      }
      if (Array.isArray(value)) {
        for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], [...path, i]]);
      } else {
        for (const name of Object.keys(value).reverse()) {
          if (!wellFormed(name)) {
            issues.push(issue(path, "a member name holds a lone surrogate", "i-json"));
            continue;
          }
          stack.push([value[name], [...path, name]]);
        }
      }
    }
  }
  return issues;
}
