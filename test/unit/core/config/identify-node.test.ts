import assert from "node:assert/strict";
import { test } from "node:test";
import { identifyNode } from "../../../../src/core/config/identify-node.ts";
import { BASE, edit, load } from "./config-test-helpers.ts";

const config = load(BASE).config!;

test("a host finds its node by MAC, whatever the case", () => {
  const id = identifyNode(config, { macs: ["02:00:00:00:00:09", "52:54:00:00:00:02".toUpperCase()], hostname: "x" });
  assert.ok(id.ok);
  assert.equal(id.node.name, "b");
  assert.equal(id.peer?.name, "a");
  assert.equal(id.how, "MAC 52:54:00:00:00:02");
});

test("--node overrides and must name a node", () => {
  const id = identifyNode(config, { macs: [], hostname: "x" }, "a");
  assert.ok(id.ok && id.node.name === "a");
  const bad = identifyNode(config, { macs: [], hostname: "x" }, "aa");
  assert.deepEqual(bad, { ok: false, message: 'Node "aa" is not in the config: did you mean "a"?' });
});

test("a host matching no node is told how to fix it", () => {
  const id = identifyNode(config, { macs: ["02:00:00:00:00:09"], hostname: "box" });
  assert.deepEqual(id, {
    ok: false,
    message: 'No node matches this host (MACs 02:00:00:00:00:09; hostname "box"): give one [[node]] this host\'s "mac" or "hostname", or pass --node NAME',
  });
});

test("a host matching two nodes is ambiguous", () => {
  const both = load(edit('mac = "52:54:00:00:00:02"', 'hostname = "twin"', edit('mac = "52:54:00:00:00:01"', 'hostname = "twin"'))).config;
  assert.equal(both, undefined, "duplicate hostnames are already a config error");
  const byMac = identifyNode(config, { macs: ["52:54:00:00:00:01", "52:54:00:00:00:02"], hostname: "x" });
  assert.deepEqual(byMac, { ok: false, message: 'This host matches several nodes by MAC addresses ("a", "b"): each [[node]] needs a MAC or hostname of its own; pass --node NAME to choose' });
});

test("a host is found by hostname when no MAC matches", () => {
  const named = load(edit('mac = "52:54:00:00:00:02"', 'hostname = "mazelut"')).config!;
  const id = identifyNode(named, { macs: ["02:00:00:00:00:09"], hostname: "mazelut" });
  assert.ok(id.ok && id.node.name === "b" && id.how === "hostname mazelut");
});
