import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatIssue } from "../../../../src/core/config/issues.ts";
import { loadConfigText } from "../../../../src/core/config/load-config.ts";
import type { TandemConfig } from "../../../../src/core/config/resolve-config.ts";
import {
  neighbourLine,
  planHostPlumbing,
  routeLine,
  ruleLine,
  tunLinkLine,
  type HostPlumbing,
} from "../../../../src/core/nat/plan-host-plumbing.ts";

const NODES = `version = 1

[cluster]
name = "lab"
auth_key_file = "authkey"

[[node]]
name = "a"
mac = "52:54:00:00:00:01"
interfaces.public = { device = "eth0", address = "192.0.2.2/24", gateway = "192.0.2.1" }
interfaces.private = { device = "eth1", address = "198.51.100.1/24", mtu = 9000 }

[[node]]
name = "b"
mac = "52:54:00:00:00:02"
interfaces.public = { device = "ens3", address = "192.0.2.3/24", gateway = "192.0.2.1" }
interfaces.private = { device = "ens4", address = "198.51.100.2/24" }

[heartbeat]
links = [{ kind = "udp", interface = "private" }]

[[vip]]
name = "web"
address = "192.0.2.10"
interface = "public"
`;

const NAT_WEB = `
[[service]]
name = "http"
vip = "web"
port = 80
forwarding = "nat"
servers = [
  { address = "198.51.100.11" },
  { address = "198.51.100.12", port = 8080 },
]
`;

const FULLNAT_DNS = `
[[service]]
name = "dns"
vip = "web"
port = 53
protocol = "udp"
forwarding = "fullnat"
local_addresses = ["198.51.100.200", "198.51.100.201"]
servers = [{ address = "198.51.100.11" }]
`;

function config(text: string): TandemConfig {
  const loaded = loadConfigText(text, "t.toml");
  assert.deepEqual(loaded.issues.map(formatIssue), []);
  return loaded.config!;
}

function plan(text: string, node = "a"): HostPlumbing {
  return planHostPlumbing(config(text), node);
}

describe("planHostPlumbing", () => {
  test("a nat service routes its VIP into the TUN and answers ARP for it on the VIP's interface", () => {
    const p = plan(NODES + NAT_WEB);
    assert.deepEqual(p.routes.filter((r) => r.table === "main"), [{ destination: "192.0.2.10/32", device: "tandem0", table: "main" }]);
    assert.deepEqual(p.proxyNeighbours, [{ address: "192.0.2.10", device: "eth0" }]);
  });

  test("a nat service steers each server's replies and ICMP from the private device into table 7100", () => {
    const p = plan(NODES + NAT_WEB);
    assert.deepEqual(p.rules, [
      { priority: 7100, iif: "eth1", from: "198.51.100.11/32", table: 7100, protocol: "tcp", sourcePort: 80 },
      { priority: 7100, iif: "eth1", from: "198.51.100.11/32", table: 7100, protocol: "icmp" },
      { priority: 7100, iif: "eth1", from: "198.51.100.12/32", table: 7100, protocol: "tcp", sourcePort: 8080 },
      { priority: 7100, iif: "eth1", from: "198.51.100.12/32", table: 7100, protocol: "icmp" },
    ]);
    assert.deepEqual(p.routes.filter((r) => r.table !== "main"), [{ destination: "default", device: "tandem0", table: 7100 }]);
  });

  test("the route table, rule priority and TUN name come from the dispatcher section", () => {
    const text = NODES + NAT_WEB + `\n[dispatcher]\ntun = "lb0"\nroute_table = 300\nrule_priority = 50\n`;
    const p = plan(text);
    assert.equal(p.tun.name, "lb0");
    assert.equal(p.routeTable, 300);
    assert.ok(p.rules.every((r) => r.priority === 50 && r.table === 300));
    assert.ok(p.routes.every((r) => r.device === "lb0"));
    assert.deepEqual(p.routes.find((r) => r.table !== "main"), { destination: "default", device: "lb0", table: 300 });
  });

  test("a fullnat service routes its local addresses into the TUN and answers ARP for them on the servers' side", () => {
    const p = plan(NODES + FULLNAT_DNS);
    assert.deepEqual(p.routes, [
      { destination: "192.0.2.10/32", device: "tandem0", table: "main" },
      { destination: "198.51.100.200/32", device: "tandem0", table: "main" },
      { destination: "198.51.100.201/32", device: "tandem0", table: "main" },
    ]);
    assert.deepEqual(p.proxyNeighbours, [
      { address: "192.0.2.10", device: "eth0" },
      { address: "198.51.100.200", device: "eth1" },
      { address: "198.51.100.201", device: "eth1" },
    ]);
  });

  test("a fullnat service needs no policy rules and no table of its own", () => {
    const p = plan(NODES + FULLNAT_DNS);
    assert.deepEqual(p.rules, []);
    assert.ok(p.routes.every((r) => r.table === "main"));
  });

  test("a udp nat service steers udp replies", () => {
    const p = plan(NODES + FULLNAT_DNS.replace('forwarding = "fullnat"\nlocal_addresses = ["198.51.100.200", "198.51.100.201"]\n', ""));
    assert.deepEqual(p.rules.map(ruleLine.bind(null, "add")), [
      "rule add priority 7100 iif eth1 from 198.51.100.11/32 ipproto udp sport 53 table 7100",
      "rule add priority 7100 iif eth1 from 198.51.100.11/32 ipproto icmp table 7100",
    ]);
  });

  test("a server shared by two services gets one ICMP rule and one rule per distinct port", () => {
    const second = NAT_WEB.replace('name = "http"', 'name = "alt"').replace("port = 80", "port = 81");
    const p = plan(NODES + NAT_WEB + second);
    const lines = p.rules.map((r) => ruleLine("add", r));
    assert.equal(new Set(lines).size, lines.length);
    assert.equal(lines.filter((l) => l.includes("198.51.100.11/32 ipproto icmp")).length, 1);
    assert.equal(lines.filter((l) => l.includes("198.51.100.11/32 ipproto tcp")).length, 2);
    // 198.51.100.12:8080 serves both services: one rule.
    assert.equal(lines.filter((l) => l.includes("198.51.100.12/32 ipproto tcp sport 8080")).length, 1);
    assert.equal(p.rules.length, 5);
  });

  test("the same VIP used by several services is routed and proxied once", () => {
    const p = plan(NODES + NAT_WEB + FULLNAT_DNS);
    assert.equal(p.routes.filter((r) => r.destination === "192.0.2.10/32").length, 1);
    assert.equal(p.proxyNeighbours.filter((n) => n.address === "192.0.2.10").length, 1);
  });

  test("each node gets its own device names", () => {
    const p = plan(NODES + NAT_WEB, "b");
    assert.deepEqual(p.proxyNeighbours, [{ address: "192.0.2.10", device: "ens3" }]);
    assert.ok(p.rules.every((r) => r.iif === "ens4"));
    assert.equal(p.tun.mtu, 1500);
  });

  test("the TUN MTU is the largest interface MTU", () => {
    assert.equal(plan(NODES + NAT_WEB, "a").tun.mtu, 9000);
  });

  test("forwarding is on, reverse-path filtering is off for the TUN and proxied replies are not delayed", () => {
    const p = plan(NODES + NAT_WEB + FULLNAT_DNS);
    assert.deepEqual(p.sysctls, [
      { name: "net/ipv4/ip_forward", value: "1", optional: false },
      { name: "net/ipv4/conf/all/rp_filter", value: "0", optional: false },
      { name: "net/ipv4/conf/tandem0/rp_filter", value: "0", optional: false },
      { name: "net/ipv6/conf/tandem0/disable_ipv6", value: "1", optional: true },
      { name: "net/ipv4/neigh/eth0/proxy_delay", value: "0", optional: false },
      { name: "net/ipv4/neigh/eth1/proxy_delay", value: "0", optional: false },
    ]);
  });

  test("a nat server off every subnet is steered from the gateway's interface", () => {
    const p = plan(NODES + NAT_WEB.replace("198.51.100.12", "203.0.113.7"));
    assert.deepEqual(p.rules.filter((r) => r.from === "203.0.113.7/32").map((r) => r.iif), ["eth0", "eth0"]);
    assert.deepEqual(p.warnings, []);
  });

  test("a nat server off every subnet without a gateway is left out with a warning", () => {
    const text = (NODES + NAT_WEB.replace("198.51.100.12", "203.0.113.7")).replaceAll(', gateway = "192.0.2.1"', "");
    const p = plan(text);
    assert.ok(p.rules.every((r) => r.from !== "203.0.113.7/32"));
    assert.equal(p.warnings.length, 1);
    assert.match(p.warnings[0]!, /^Server "203\.0\.113\.7" of service "http" is on no interface subnet of node "a"/);
  });

  test("a config without services still routes its VIPs and sets no rules", () => {
    const p = plan(NODES);
    assert.deepEqual(p.routes, [{ destination: "192.0.2.10/32", device: "tandem0", table: "main" }]);
    assert.deepEqual(p.rules, []);
  });

  test("an unknown node is a caller error", () => {
    assert.throws(() => planHostPlumbing(config(NODES), "c"), { message: 'Node "c" is not in the config' });
  });

  test("the plan is the same for the same config", () => {
    assert.deepEqual(plan(NODES + NAT_WEB + FULLNAT_DNS), plan(NODES + NAT_WEB + FULLNAT_DNS));
  });
});

describe("ip batch lines", () => {
  test("they spell routes, rules, neighbours and the link as iproute2 reads them", () => {
    const p = plan(NODES + NAT_WEB);
    assert.equal(tunLinkLine(p), "link set dev tandem0 mtu 9000 up");
    assert.equal(routeLine("add", p.routes[0]!), "route add 192.0.2.10/32 dev tandem0 table main");
    assert.equal(routeLine("del", p.routes[1]!), "route del default dev tandem0 table 7100");
    assert.equal(ruleLine("del", p.rules[0]!), "rule del priority 7100 iif eth1 from 198.51.100.11/32 ipproto tcp sport 80 table 7100");
    assert.equal(neighbourLine("add", p.proxyNeighbours[0]!), "neigh add proxy 192.0.2.10 dev eth0");
  });
});
