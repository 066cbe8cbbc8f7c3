import assert from "node:assert/strict";
import { test } from "node:test";
import { describeConsole } from "../../../../src/core/config/describe-console.ts";
import { BASE, load } from "./config-test-helpers.ts";

const facts = { nodeName: "a", role: "active", version: "tandem 0.1.0", configVersion: 3, identifiedBy: "MAC 52:54:00:00:00:01" };

test("the status screen names node, role, VIPs, services and ends with the ready sentinel", () => {
  const lines = describeConsole(load(BASE).config!, facts);
  assert.equal(lines[0], "==== tandem a (active) ====");
  assert.ok(lines.includes("VIP 10.0.0.10 (web) on public"));
  assert.ok(lines.some((l) => l.startsWith("service http: tcp 10.0.0.10:80 nat")));
  assert.equal(lines.at(-1), "tandem ready: node=a");
});

test("a wildcard web listener is shown at the node's first interface address", () => {
  const lines = describeConsole(load(BASE).config!, facts);
  assert.ok(lines.includes("web UI and API: http://10.0.0.1:8080/"), lines.join("\n"));
});
