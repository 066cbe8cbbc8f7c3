import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatKeyPath } from "../../../../src/core/config/issues.ts";
import { BASE, edit, load } from "./config-test-helpers.ts";

/** Issues of `text` as "key.path: message", positions left to load-config.test.ts. */
function messages(text: string): string[] {
  return load(text).issues.map((i) => `${formatKeyPath(i.path)}: ${i.message}`);
}

const SECOND_NODE = /\n\[\[node\]\]\nname = "b"[\s\S]*?\n\n/;

describe("cross-field checks", () => {
  test("duplicate node names are reported on the second node", () => {
    assert.deepEqual(messages(edit('name = "b"', 'name = "a"')), ['node[1].name: Duplicate node name "a": node[0] has it already']);
  });

  test("duplicate MACs are reported", () => {
    assert.deepEqual(messages(edit('mac = "52:54:00:00:00:02"', 'mac = "52:54:00:00:00:01"')), ['node[1].mac: Duplicate MAC "52:54:00:00:00:01": node[0] has it already']);
  });

  test("a pair without identity keys cannot tell its nodes apart", () => {
    assert.deepEqual(messages(edit('mac = "52:54:00:00:00:02"\n', "")), ['node[1].mac: Missing "mac" or "hostname": with two nodes each host must be able to recognise its own entry']);
  });

  test("a pair needs an auth key file", () => {
    assert.deepEqual(messages(edit('auth_key_file = "authkey"\n', "")), ['cluster.auth_key_file: Missing required key "auth_key_file": a pair must authenticate its heartbeats']);
  });

  test("a single node needs neither auth key nor links", () => {
    const single = edit('auth_key_file = "authkey"\n', "", BASE.replace(SECOND_NODE, "\n\n")).replace('links = [{ kind = "udp", interface = "private" }]\n', "");
    assert.deepEqual(messages(single), []);
  });

  test("a pair with only a serial link must name the sync interface", () => {
    assert.deepEqual(messages(edit('links = [{ kind = "udp", interface = "private" }]', 'links = [{ kind = "serial", device = "/dev/ttyS1" }]')), [
      'sync.interface: Missing key "interface": with no udp heartbeat link the sync stream needs an interface',
    ]);
  });

  test("a pair needs at least one heartbeat link", () => {
    assert.deepEqual(messages(edit('links = [{ kind = "udp", interface = "private" }]', "links = []")), ['heartbeat.links: Missing key "links": a pair needs at least one heartbeat link']);
  });

  test("every node declares the same interface roles", () => {
    assert.deepEqual(messages(edit('interfaces.private = { device = "eth1", address = "10.1.0.2/24" }\n', "")), ['node[1].interfaces.private: Missing interface "private": every node declares the same interface roles']);
  });

  test("node addresses are unique across the pair", () => {
    assert.deepEqual(messages(edit('address = "10.0.0.2/24"', 'address = "10.0.0.1/24"')), [
      'node[1].interfaces.public.address: Duplicate address "10.0.0.1": node "a" interface "public" has it already',
    ]);
  });

  test("a gateway must be on its interface's subnet", () => {
    assert.deepEqual(messages(edit('address = "10.0.0.1/24" }', 'address = "10.0.0.1/24", gateway = "10.9.9.1" }')), [
      'node[0].interfaces.public.gateway: Gateway "10.9.9.1" is outside 10.0.0.1/24: it must be on the interface\'s subnet',
    ]);
  });

  test("a node has at most one default gateway", () => {
    const two = edit('address = "10.1.0.1/24" }', 'address = "10.1.0.1/24", gateway = "10.1.0.254" }', edit('address = "10.0.0.1/24" }', 'address = "10.0.0.1/24", gateway = "10.0.0.254" }'));
    assert.deepEqual(messages(two), ["node[0].interfaces.private.gateway: A second default gateway: only one interface per node may have a gateway"]);
  });

  test("deadtime must exceed keepalive", () => {
    assert.deepEqual(messages(edit('keepalive = "100ms"\ndeadtime = "500ms"', 'keepalive = "300ms"\ndeadtime = "300ms"')), ["heartbeat.deadtime: Deadtime 300ms must be greater than keepalive 300ms"]);
  });

  test("warntime must lie between keepalive and deadtime", () => {
    assert.deepEqual(messages(edit('deadtime = "500ms"', 'deadtime = "500ms"\nwarntime = "600ms"')), ["heartbeat.warntime: Warntime 600ms must be less than deadtime 500ms"]);
    assert.deepEqual(messages(edit('deadtime = "500ms"', 'deadtime = "500ms"\nwarntime = "100ms"')), ["heartbeat.warntime: Warntime 100ms must be greater than keepalive 100ms"]);
  });

  test("initdead must be at least deadtime", () => {
    assert.deepEqual(messages(edit('deadtime = "500ms"', 'deadtime = "500ms"\ninitdead = "400ms"')), ["heartbeat.initdead: Initdead 400ms must be at least deadtime 500ms"]);
  });

  test("a link on an unknown interface role gets a suggestion", () => {
    assert.deepEqual(messages(edit('interface = "private" }]', 'interface = "privat" }]')), ['heartbeat.links[0].interface: Unknown interface "privat": did you mean "private"?']);
  });

  test("the same link twice is reported", () => {
    assert.deepEqual(messages(edit('links = [{ kind = "udp", interface = "private" }]', 'links = [{ kind = "udp", interface = "private" }, { kind = "udp", interface = "private", port = 694 }]')), [
      'heartbeat.links[1]: Duplicate link "udp private:694": links[0] is the same link',
    ]);
  });

  test("multicast needs a group in 224.0.0.0/4 and only multicast takes one", () => {
    assert.deepEqual(messages(edit('interface = "private" }]', 'interface = "private", mode = "multicast" }]')), ['heartbeat.links[0].group: Missing key "group": mode "multicast" needs a multicast group']);
    assert.deepEqual(messages(edit('interface = "private" }]', 'interface = "private", mode = "multicast", group = "10.0.0.1" }]')), ['heartbeat.links[0].group: Invalid multicast group "10.0.0.1": expected an address in 224.0.0.0/4']);
    assert.deepEqual(messages(edit('interface = "private" }]', 'interface = "private", group = "239.1.1.1" }]')), ['heartbeat.links[0].group: A group is only used with mode "multicast", not "unicast"']);
  });

  test("a VIP must be on its interface's subnet on every node", () => {
    assert.deepEqual(messages(edit('address = "10.0.0.10"', 'address = "10.5.0.10"')), [
      'vip[0].address: VIP "10.5.0.10" is outside interface "public" of node "a" (10.0.0.1/24): gratuitous ARP can only move an on-link address',
    ]);
  });

  test("a VIP may not be a node's own address", () => {
    assert.deepEqual(messages(edit('address = "10.0.0.10"', 'address = "10.0.0.2"')), ['vip[0].address: VIP "10.0.0.2" is also a node\'s own address: a VIP must be an address of its own']);
  });

  test("duplicate VIPs are reported", () => {
    assert.deepEqual(messages(edit("[[service]]", '[[vip]]\naddress = "10.0.0.10"\ninterface = "public"\n\n[[service]]')), ['vip[1].address: Duplicate VIP "10.0.0.10": vip[0] has it already']);
  });

  test("a service may name its VIP by address", () => {
    assert.deepEqual(messages(edit('vip = "web"', 'vip = "10.0.0.10"')), []);
  });

  test("an unknown VIP reference gets a suggestion", () => {
    assert.deepEqual(messages(edit('vip = "web"', 'vip = "10.0.0.11"')), ['service[0].vip: Unknown VIP "10.0.0.11": expected one of "web"']);
  });

  test("two services on the same VIP, port and protocol clash", () => {
    const dup = BASE + '\n[[service]]\nname = "http2"\nvip = "10.0.0.10"\nport = 80\nservers = [{ address = "10.1.0.13" }]\n';
    assert.deepEqual(messages(dup), ['service[1].port: Duplicate service "10.0.0.10:80/tcp": service[0] listens there already']);
    assert.deepEqual(messages(dup.replace('port = 80\nservers = [{ address = "10.1.0.13" }]', 'port = 80\nprotocol = "udp"\nservers = [{ address = "10.1.0.13" }]')), []);
  });

  test("a server listed twice is reported, counting the default port", () => {
    assert.deepEqual(messages(edit('{ address = "10.1.0.12", port = 8080 }', '{ address = "10.1.0.11", port = 80 }')), ['service[0].servers[1]: Duplicate server "10.1.0.11:80": servers[0] is the same server']);
  });

  test("a server may not be the service's own VIP", () => {
    assert.deepEqual(messages(edit('{ address = "10.1.0.11" }', '{ address = "10.0.0.10" }')), ['service[0].servers[0].address: Server address "10.0.0.10" is the service\'s own VIP']);
  });

  test("a service whose servers all have weight 0 is refused", () => {
    assert.deepEqual(messages(edit('{ address = "10.1.0.11" }', '{ address = "10.1.0.11", weight = 0 }', edit('port = 8080 }', "port = 8080, weight = 0 }"))), ["service[0].servers: Every server has weight 0: the service could accept no connection"]);
  });

  test("fullnat needs local addresses on every node's subnet, distinct from VIPs and node addresses", () => {
    const fullnat = edit("port = 80\n", 'port = 80\nforwarding = "fullnat"\n');
    assert.deepEqual(messages(fullnat), ['service[0].local_addresses: Missing key "local_addresses": fullnat needs at least one local source address on the servers\' side']);
    assert.deepEqual(messages(edit("port = 80\n", 'port = 80\nlocal_addresses = ["10.1.0.100"]\n', fullnat)), []);
    assert.deepEqual(messages(edit("port = 80\n", 'port = 80\nlocal_addresses = ["10.9.0.100"]\n', fullnat)), ['service[0].local_addresses[0]: Local address "10.9.0.100" is on no interface subnet of node "a": servers could not reply to it']);
    assert.deepEqual(messages(edit("port = 80\n", 'port = 80\nlocal_addresses = ["10.0.0.10"]\n', fullnat)), ['service[0].local_addresses[0]: Local address "10.0.0.10" is already a node address or VIP: it must be an address of its own']);
    assert.deepEqual(messages(edit("port = 80\n", 'port = 80\nlocal_addresses = ["10.1.0.100"]\n')), ['service[0].local_addresses: Local addresses are only used with forwarding = "fullnat"']);
  });

  test("a monitor timeout must be below its interval", () => {
    assert.deepEqual(messages(edit("port = 80\n", 'port = 80\nmonitor = { kind = "tcp", interval = "1s", timeout = "1s" }\n')), ["service[0].monitor.timeout: Timeout 1s must be less than interval 1s"]);
  });

  test("a TCP monitor on a UDP service needs a port", () => {
    assert.deepEqual(messages(edit("port = 80\n", 'port = 53\nprotocol = "udp"\nmonitor = { kind = "tcp" }\n')), ['service[0].monitor.port: Missing key "port": monitor kind "tcp" probes TCP but the service is UDP']);
  });

  test("a bad regular expression in a monitor is reported", () => {
    const out = messages(edit("port = 80\n", 'port = 80\nmonitor = { kind = "http", expect_body = "(" }\n'));
    assert.equal(out.length, 1);
    assert.match(out[0]!, /^service\[0\]\.monitor\.expect_body: Invalid regular expression "\(": /);
  });

  test("per-server monitor overrides must apply to the service's monitor kind", () => {
    const withMonitor = edit("port = 80\n", 'port = 80\nmonitor = { kind = "tcp" }\n');
    assert.deepEqual(messages(edit('{ address = "10.1.0.11" }', '{ address = "10.1.0.11", monitor = { interval = "1s" } }', withMonitor)), []);
    assert.deepEqual(messages(edit('{ address = "10.1.0.11" }', '{ address = "10.1.0.11", monitor = { path = "/x" } }', withMonitor)), ['service[0].servers[0].monitor.path: Key "path" does not apply to monitor kind "tcp"']);
    assert.deepEqual(messages(edit('{ address = "10.1.0.11" }', '{ address = "10.1.0.11", monitor = { intervall = "1s" } }', withMonitor)), ['service[0].servers[0].monitor.intervall: Unknown key: did you mean "interval"?']);
  });

  test("per-server monitor overrides merge over the service monitor", () => {
    const text = edit('{ address = "10.1.0.11" }', '{ address = "10.1.0.11", monitor = { interval = "1s" } }', edit("port = 80\n", 'port = 80\nmonitor = { kind = "http", path = "/health" }\n'));
    const { config } = load(text);
    const [a, b] = config!.service[0]!.servers;
    assert.equal(a!.monitor!.interval, 1000);
    assert.equal(a!.monitor!.kind, "http");
    assert.equal(b!.monitor!.interval, 5000);
    assert.equal(a!.monitor!.jitter, 100);
    assert.equal(b!.monitor!.jitter, 500);
    assert.equal(a!.monitor!.kind === "http" && a!.monitor!.path, "/health");
  });

  test("local port range must not be inverted", () => {
    assert.deepEqual(messages(BASE + "\n[dispatcher]\nlocal_port_min = 5000\nlocal_port_max = 4000\n"), ["dispatcher.local_port_max: local_port_max 4000 is below local_port_min 5000"]);
  });
});
