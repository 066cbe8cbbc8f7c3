import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatIssue } from "../../../../src/core/config/issues.ts";
import { loadConfigText } from "../../../../src/core/config/load-config.ts";
import type { TandemConfig } from "../../../../src/core/config/resolve-config.ts";
import { healthPlan } from "../../../../src/core/health/health-plan.ts";
import { ServerHealth } from "../../../../src/core/health/server-health.ts";
import { dispatchSpecFromConfig } from "../../../../src/core/nat/dispatcher-spec.ts";

const BASE = `version = 1

[cluster]
name = "lab"

[[node]]
name = "a"
interfaces.public = { device = "eth0", address = "192.0.2.2/24" }
interfaces.private = { device = "eth1", address = "198.51.100.1/24" }

[[vip]]
name = "web"
address = "192.0.2.10"
interface = "public"
`;

const WEB = `
[[service]]
name = "http"
vip = "web"
port = 80
monitor = { kind = "http", path = "/health", interval = "3s", timeout = "1s", rise = 3 }
passive = { failures = 7, window = "30s" }
flap = { max_changes = 6, hold = "1m" }
servers = [
  { address = "198.51.100.11" },
  { address = "198.51.100.12", port = 8080, monitor = { port = 9000, rise = 1 } },
  { address = "198.51.100.13", state = "disabled" },
  { address = "198.51.100.14", state = "drain" },
]
`;

const DNS = `
[[service]]
name = "dns"
vip = "web"
port = 53
protocol = "udp"
servers = [{ address = "198.51.100.21" }]
`;

function config(text: string): TandemConfig {
  const loaded = loadConfigText(text, "t.toml");
  assert.deepEqual(loaded.issues.map(formatIssue), []);
  return loaded.config!;
}

describe("healthPlan", () => {
  test("there is one target per server of each service, in config order", () => {
    const plan = healthPlan(config(BASE + WEB + DNS));
    assert.deepEqual(
      plan.map((t) => [t.service, t.serviceIndex, t.serverIndex, t.server]),
      [
        ["http", 0, 0, "198.51.100.11:80"],
        ["http", 0, 1, "198.51.100.12:8080"],
        ["http", 0, 2, "198.51.100.13:80"],
        ["http", 0, 3, "198.51.100.14:80"],
        ["dns", 1, 0, "198.51.100.21:53"],
      ],
    );
  });

  test("server names are the ones the dispatch spec gives the same servers", () => {
    const c = config(BASE + WEB + DNS);
    const fromSpec = dispatchSpecFromConfig(c).services.flatMap((s) => s.servers.map((r) => `${s.name}/${r.name}`));
    assert.deepEqual(healthPlan(c).map((t) => `${t.service}/${t.server}`), fromSpec);
  });

  test("the probed port is the monitor's port override, else the server's port", () => {
    const plan = healthPlan(config(BASE + WEB));
    assert.deepEqual(plan.map((t) => [t.address, t.port]), [
      ["198.51.100.11", 80],
      ["198.51.100.12", 9000],
      ["198.51.100.13", 80],
      ["198.51.100.14", 80],
    ]);
  });

  test("each target carries its server's effective monitor with overrides and jitter", () => {
    const [first, second] = healthPlan(config(BASE + WEB));
    assert.equal(first?.monitor?.kind, "http");
    assert.equal(first?.monitor?.rise, 3);
    assert.equal(first?.monitor?.interval, 3000);
    assert.equal(first?.monitor?.jitter, 300);
    assert.equal(second?.monitor?.rise, 1);
    assert.equal(second?.monitor?.interval, 3000);
  });

  test("a service without a monitor gives targets with passive health only", () => {
    const [dns] = healthPlan(config(BASE + DNS));
    assert.equal(dns?.monitor, undefined);
    assert.deepEqual(dns?.passive, { enabled: true, failures: 5, window: 10_000 });
  });

  test("passive and flap settings come from the service", () => {
    const [first] = healthPlan(config(BASE + WEB));
    assert.deepEqual(first?.passive, { enabled: true, failures: 7, window: 30_000 });
    assert.deepEqual(first?.flap, { window: 60_000, max_changes: 6, hold: 60_000, hold_max: 600_000 });
  });

  test("disabled and draining servers are monitored too, with their admin state", () => {
    const plan = healthPlan(config(BASE + WEB));
    assert.deepEqual(plan.map((t) => t.admin), ["active", "active", "disabled", "drain"]);
    assert.ok(plan[2]?.monitor, "a disabled server keeps its monitor");
  });

  test("a config without services plans nothing", () => {
    assert.deepEqual(healthPlan(config(BASE)), []);
  });

  test("a target is all a ServerHealth needs", () => {
    const [first] = healthPlan(config(BASE + WEB));
    const h = new ServerHealth(first!, 0);
    h.probeResult(1000, false, "HTTP 503");
    h.probeResult(2000, false, "HTTP 503");
    const [down] = h.probeResult(3000, false, "HTTP 503");
    assert.equal(down?.message, 'Server "198.51.100.11:80" of service "http" is down: 3 consecutive probe failures, the last "HTTP 503"');
  });
});
