import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { formatIssue } from "../../../../src/core/config/issues.ts";
import { loadConfigText } from "../../../../src/core/config/load-config.ts";
import { BASE, edit, lines, load } from "./config-test-helpers.ts";

const FIXTURES = new URL("../../../fixtures/config/", import.meta.url);
const EXAMPLES = new URL("../../../../examples/", import.meta.url);

describe("config fixtures", () => {
  const names = readdirSync(FIXTURES).filter((f) => f.endsWith(".toml"));
  test("there is a broken fixture for each acceptance case", () => {
    for (const required of ["syntax-error", "unknown-key-typo", "wrong-type", "bad-address", "bad-duration", "unknown-vip", "duplicate-server", "deadtime-not-above-keepalive"]) {
      assert.ok(names.includes(`${required}.toml`), `missing fixture ${required}.toml`);
    }
  });
  for (const name of names) {
    test(`${name} reports exactly the expected lines`, () => {
      const path = `test/fixtures/config/${name}`;
      const text = readFileSync(new URL(name, FIXTURES), "utf8");
      const expected = readFileSync(new URL(name.replace(/\.toml$/, ".expected"), FIXTURES), "utf8").trimEnd().split("\n");
      const result = loadConfigText(text, path);
      assert.deepEqual(result.issues.map(formatIssue), expected);
      assert.equal(result.config, undefined);
    });
  }
});

describe("examples", () => {
  for (const name of readdirSync(EXAMPLES).filter((f) => f.endsWith(".toml"))) {
    test(`${name} is valid`, () => {
      const result = loadConfigText(readFileSync(new URL(name, EXAMPLES), "utf8"), name);
      assert.deepEqual(result.issues.map(formatIssue), []);
      assert.ok(result.config);
    });
  }
});

describe("decoding", () => {
  test("the base config is valid and gets computed defaults", () => {
    const { config, issues } = load(BASE);
    assert.deepEqual(issues, []);
    assert.equal(config!.heartbeat.warntime, 300);
    assert.equal(config!.heartbeat.initdead, 1000);
    assert.equal(config!.sync.interface, "private");
    assert.equal(config!.service[0]!.vipAddress, "10.0.0.10");
    assert.deepEqual(config!.service[0]!.servers.map((s) => s.port), [80, 8080]);
    assert.equal(config!.service[0]!.scheduler, "wlc");
    assert.equal(config!.dispatcher.timeouts.tcp_established, 900_000);
  });

  test("a syntax error is reported at its line and column", () => {
    assert.deepEqual(lines(edit("port = 80", "port = 80 80")), [
      "t.toml:32:11: syntax: Unexpected character, expected only whitespace or comments till end of line",
    ]);
  });

  test("an unknown key gets a did-you-mean", () => {
    assert.deepEqual(lines(edit('deadtime = "500ms"', 'deadtme = "500ms"')), ['t.toml:21:1: heartbeat.deadtme: Unknown key: did you mean "deadtime"?']);
  });

  test("an unknown key with no near match lists the valid keys", () => {
    assert.match(lines(edit("[[vip]]\n", "[[vip]]\ncolour = 1\n"))[0]!, /^t\.toml:25:1: vip\[0\]\.colour: Unknown key: expected one of "name", "address", "interface"$/);
  });

  test("a key of another variant says which kind it belongs to", () => {
    assert.deepEqual(lines(edit('{ kind = "udp", interface = "private" }', '{ kind = "udp", interface = "private", baud = 9600 }')), [
      't.toml:22:49: heartbeat.links[0].baud: Key "baud" does not apply to kind "udp" (it belongs to kind "serial")',
    ]);
  });

  test("a missing required key points at its table", () => {
    assert.deepEqual(lines(edit('address = "10.0.0.10"\n', "")), ['t.toml:24:1: vip[0].address: Missing required key "address" (IPv4 address)']);
  });

  test("a missing key in an inline table points at the inline table", () => {
    assert.deepEqual(lines(edit('{ device = "eth1", address = "10.1.0.2/24" }', '{ device = "eth1" }')), [
      't.toml:17:22: node[1].interfaces.private.address: Missing required key "address" (IPv4 address/prefix)',
    ]);
  });

  test("a bare number where a duration is expected explains the unit", () => {
    assert.deepEqual(lines(edit('keepalive = "100ms"', "keepalive = 100")), ['t.toml:20:13: heartbeat.keepalive: Expected a duration such as "2s" or "500ms", got integer 100']);
  });

  test("durations out of range name the range", () => {
    assert.deepEqual(lines(edit('keepalive = "100ms"', 'keepalive = "50ms"')), ['t.toml:20:13: heartbeat.keepalive: Out of range: expected 100ms..1m, got "50ms"']);
  });

  test("an IPv6 address is refused as unsupported, not as garbage", () => {
    assert.deepEqual(lines(edit('address = "10.0.0.10"', 'address = "2001:db8::1"')), ['t.toml:26:11: vip[0].address: Unsupported address "2001:db8::1": tandem forwards IPv4 only']);
  });

  test("an interface address without prefix says how to write it", () => {
    assert.deepEqual(lines(edit('address = "10.0.0.1/24"', 'address = "10.0.0.1"')), [
      't.toml:10:50: node[0].interfaces.public.address: Missing prefix length in "10.0.0.1": write it as "10.0.0.1/24" or similar',
    ]);
  });

  test("a bad MAC is reported with an example", () => {
    assert.deepEqual(lines(edit('mac = "52:54:00:00:00:01"', 'mac = "52:54:00:00:01"')), ['t.toml:9:7: node[0].mac: Invalid MAC address "52:54:00:00:01": expected six hex pairs such as "52:54:00:12:34:56"']);
  });

  test("an enum typo gets a did-you-mean", () => {
    assert.deepEqual(lines(edit("port = 80\n", 'port = 80\nscheduler = "wrrr"\n')), ['t.toml:33:13: service[0].scheduler: Invalid value "wrrr": did you mean "wrr"?']);
  });

  test("a type error and a cross-field error are both reported at once", () => {
    const out = lines(edit('vip = "web"', 'vip = "webb"', edit("port = 80\n", 'port = "80"\n')));
    assert.deepEqual(out, [
      't.toml:31:7: service[0].vip: Unknown VIP "webb": did you mean "web"?',
      't.toml:32:8: service[0].port: Expected an integer, got string "80"',
    ]);
  });

  test("too many nodes is an error on the node array", () => {
    const third = '\n[[node]]\nname = "c"\nmac = "52:54:00:00:00:03"\ninterfaces.public = { device = "eth0", address = "10.0.0.3/24" }\ninterfaces.private = { device = "eth1", address = "10.1.0.3/24" }\n';
    assert.deepEqual(lines(BASE + third), ["t.toml:7:1: node: Expected 1..2 elements, got 3"]);
  });
});

describe("a rejected value is not also reported as missing", () => {
  test("a bad auth_key_file type gives one error", () => {
    assert.deepEqual(lines(edit('auth_key_file = "authkey"', "auth_key_file = 7")), ['t.toml:5:17: cluster.auth_key_file: Expected a string, got integer 7']);
  });
  test("a bad multicast group gives one error", () => {
    assert.deepEqual(lines(edit('{ kind = "udp", interface = "private" }', '{ kind = "udp", interface = "private", mode = "multicast", group = "x" }')), [
      't.toml:22:77: heartbeat.links[0].group: Invalid IPv4 address "x": expected four decimal parts such as "192.0.2.10"',
    ]);
  });
});

describe("text from other systems", () => {
  test("CRLF line ends, comments and a byte order mark are accepted", () => {
    const windows = "\uFEFF# edited in Notepad\r\n" + BASE.replaceAll("\n", "  # note\r\n");
    assert.deepEqual(lines(windows), []);
  });

  test("positions are unchanged by CRLF line ends", () => {
    const windows = edit('deadtime = "500ms"', 'deadtme = "500ms"').replaceAll("\n", "\r\n");
    assert.deepEqual(lines(windows), ['t.toml:21:1: heartbeat.deadtme: Unknown key: did you mean "deadtime"?']);
  });
});
