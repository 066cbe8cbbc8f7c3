import assert from "node:assert/strict";
import { test } from "node:test";
import { planInterfaces } from "../../../../src/core/net/plan-interfaces.ts";
import { BASE, edit, load } from "../config/config-test-helpers.ts";

test("each interface comes up with its MTU and address, then the default route", () => {
  const text = edit('interfaces.public = { device = "eth0", address = "10.0.0.2/24" }', 'interfaces.public = { device = "eth0", address = "10.0.0.2/24", gateway = "10.0.0.254", mtu = 9000 }');
  const config = load(text).config!;
  assert.deepEqual(planInterfaces(config, "b"), [
    "link set dev lo up",
    "link set dev eth0 mtu 9000 up",
    "address replace 10.0.0.2/24 dev eth0",
    "link set dev eth1 mtu 1500 up",
    "address replace 10.1.0.2/24 dev eth1",
    "route replace default via 10.0.0.254 dev eth0",
  ]);
});

test("a node without a gateway gets no default route", () => {
  const lines = planInterfaces(load(BASE).config!, "a");
  assert.equal(lines.filter((l) => l.startsWith("route")).length, 0);
  assert.ok(lines.includes("address replace 10.0.0.1/24 dev eth0"));
});

test("an unknown node is a caller bug and throws", () => {
  assert.throws(() => planInterfaces(load(BASE).config!, "c"), /Node "c" is not in the config/);
});
