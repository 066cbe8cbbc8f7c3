import assert from "node:assert/strict";
import { test } from "node:test";
import { staticRole } from "../../../../src/core/config/static-role.ts";
import { edit, load } from "./config-test-helpers.ts";

test("the node with the higher priority is active, the other standby", () => {
  const config = load(edit('name = "b"\n', 'name = "b"\npriority = 150\n')).config!;
  assert.equal(staticRole(config, "b"), "active");
  assert.equal(staticRole(config, "a"), "standby");
});

test("equal priorities go to the name that sorts first, on both hosts alike", () => {
  const config = load(edit('name = "b"\n', 'name = "b"\n')).config!;
  assert.equal(staticRole(config, "a"), "active");
  assert.equal(staticRole(config, "b"), "standby");
});
