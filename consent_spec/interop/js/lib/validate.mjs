// validate(document, kind): I-JSON first (3.5), then the schema (3), then the rules.
import { checkIJson } from "./ijson.mjs";
import { RULES } from "./rules.mjs";
import { schemaIssues } from "./schemas.mjs";

export function makeValidate(validators) {
  return function validate(document, kind) {
    const notIJson = checkIJson(document);
    if (notIJson.length) return notIJson;
    const issues = schemaIssues(validators[kind], document);
    if (issues.length) return issues;
    return RULES[kind] ? RULES[kind](document) : [];
  };
}
