import assert from "node:assert/strict";
import { test } from "node:test";
import { unifiedDiff } from "../../../../src/core/text/unified-diff.ts";

test("equal texts give an empty diff", () => {
  assert.equal(unifiedDiff("a\nb\n", "a\nb\n", "x", "y"), "");
});

test("a one-line change shows as diff -u prints it", () => {
  const before = ["1", "2", "3", "4", "5", "6", "7", "8", "9"].join("\n") + "\n";
  const after = before.replace("5\n", "five\n");
  assert.equal(unifiedDiff(before, after, "version 1", "version 2"), ["--- version 1", "+++ version 2", "@@ -2,7 +2,7 @@", " 2", " 3", " 4", "-5", "+five", " 6", " 7", " 8", ""].join("\n"));
});

test("changes far apart become separate hunks, near ones merge", () => {
  const before = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join("\n") + "\n";
  const after = before.replace("line 2\n", "line two\n").replace("line 28\n", "").replace("line 5\n", "line 5\nnew\n");
  const out = unifiedDiff(before, after, "a", "b");
  assert.deepEqual(out.split("\n").filter((l) => l.startsWith("@@")), ["@@ -1,8 +1,9 @@", "@@ -25,6 +26,5 @@"]);
});

test("a missing final newline is marked", () => {
  assert.equal(unifiedDiff("a\n", "a", "x", "y"), "--- x\n+++ y\n@@ -1,1 +1,1 @@\n-a\n+a\n\\ No newline at end of file\n");
});

test("diffing from or to empty text works", () => {
  assert.equal(unifiedDiff("", "a\nb\n", "x", "y"), "--- x\n+++ y\n@@ -0,0 +1,2 @@\n+a\n+b\n");
  assert.equal(unifiedDiff("a\n", "", "x", "y"), "--- x\n+++ y\n@@ -1,1 +0,0 @@\n-a\n");
});
