import assert from "node:assert/strict";
import { test } from "node:test";
import { closestMatch, editDistance, suggestion } from "../../../../src/core/config/suggest.ts";

test("edit distance counts insertions, deletions and substitutions", () => {
  assert.equal(editDistance("keepalive", "keepalvie"), 2);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("deadtime", "deadtime"), 0);
  assert.equal(editDistance("kitten", "sitting"), 3);
});

test("a close typo is suggested and a distant word is not", () => {
  assert.equal(closestMatch("keepalvie", ["keepalive", "deadtime"]), "keepalive");
  assert.equal(closestMatch("Deadtime", ["keepalive", "deadtime"]), "deadtime");
  assert.equal(closestMatch("colour", ["name", "address"]), undefined);
  assert.equal(suggestion("colour", ["name", "address"]), 'expected one of "name", "address"');
  assert.equal(suggestion("wrrr", ["rr", "wrr"]), 'did you mean "wrr"?');
});
