/**
 * The health probes for real, as root: `runProbe` with the Bun ProbeIo runs in a bun child
 * process inside dispatcher d1's namespace (`ip netns exec`) and probes the test bed's real
 * servers: nginx on :80, dnsmasq on :53, a TLS server started for this test on :443, ping, and
 * check scripts. Every monitor kind passes and fails for real: a stopped or frozen nginx, a
 * stopped dnsmasq, a down interface, a failing and a hanging script. The bed (namespaces,
 * processes, files) is destroyed afterwards, even when a test fails.
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Monitor } from "../../src/core/config/resolve-config.ts";
import type { ProbeResult, ProbeTarget } from "../../src/core/health/probe-types.ts";
import { PROBE_GUARD_GRACE_MS } from "../../src/engine/probes/run-probe.ts";
import { monitorOf } from "../unit/engine/probes/fake-probe-io.ts";
import { createTestbed, type BedProcess, type Testbed } from "./testbed/topology.ts";

const SRC = join(import.meta.dir, "../../src");
const TIMEOUT_MS = 1000;
/** Scheduling slack on top of a probe's timeout and grace (bun start-up is not counted). */
const SLACK_MS = 400;
const S1 = "10.201.0.11";
const S2 = "10.201.0.12";

let bed: Testbed;
let child: string;
let tls: BedProcess | undefined;

type Timed = ProbeResult & { elapsedMs: number };

/** The child: probes the targets in argv[2] one after the other and prints the results as one JSON line. */
const CHILD_SOURCE = `
import { createBunProbeIo } from ${JSON.stringify(join(SRC, "platform/bun/probe-io.ts"))};
import { runProbe } from ${JSON.stringify(join(SRC, "engine/probes/run-probe.ts"))};
const io = createBunProbeIo();
const results = [];
for (const target of JSON.parse(process.argv[2])) {
  const start = performance.now();
  const result = await runProbe(target, io);
  results.push({ ...result, elapsedMs: performance.now() - start });
}
console.log(JSON.stringify(results));
`;

/** A TLS server for the https monitor: answers every request with the Host header it got. */
const TLS_SERVER_SOURCE = (dir: string) => `
const server = Bun.serve({
  hostname: ${JSON.stringify(S1)},
  port: 443,
  tls: { cert: Bun.file(${JSON.stringify(join(dir, "cert.pem"))}), key: Bun.file(${JSON.stringify(join(dir, "key.pem"))}) },
  fetch: (request) => new Response("host=" + request.headers.get("host") + "\\n"),
});
console.log("listening on " + server.port);
`;

/** A check script: passes when nginx answers at TANDEM_SERVER:TANDEM_PORT, saying which service it checked. */
const CHECK_HTTP = `#!/bin/sh
[ -n "$TANDEM_SERVER" ] && [ -n "$TANDEM_PORT" ] && [ -n "$TANDEM_SERVICE" ] || { echo "missing TANDEM_ variables"; exit 2; }
if curl -s --noproxy '*' -o /dev/null --max-time 1 "http://$TANDEM_SERVER:$TANDEM_PORT/"; then
  echo "up: $TANDEM_SERVICE at $TANDEM_SERVER:$TANDEM_PORT"
  exit 0
fi
echo "down: no HTTP answer at $TANDEM_SERVER:$TANDEM_PORT"
exit 1
`;

/** A check script that reports its whole environment (sorted) on one line. */
const SHOW_ENV = `#!/bin/sh
env | cut -d= -f1 | sort | tr '\\n' ' '
echo
echo "server=$TANDEM_SERVER port=$TANDEM_PORT service=$TANDEM_SERVICE" >&2
`;

/** A check script that hangs, with a child of its own. */
const HANG = `#!/bin/sh
echo "started"
sleep 30
echo "never"
`;

/** Runs the probes in d1's namespace, one after another; `env` is added to the child's environment. */
async function probeFromD1(targets: ProbeTarget[], env: Record<string, string> = {}): Promise<Timed[]> {
  const argv = ["env", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, child, JSON.stringify(targets)];
  const r = await bed.exec("d1", argv, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`Probe child exited with ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Timed[];
}

/** One probe from d1. */
async function probe(target: ProbeTarget, env: Record<string, string> = {}): Promise<Timed> {
  return (await probeFromD1([target], env))[0]!;
}

function at(address: string, monitor: Monitor, port = 80, service = "web"): ProbeTarget {
  return { service, address, port, monitor };
}

function mon<K extends Monitor["kind"]>(kind: K, extra: Partial<Extract<Monitor, { kind: K }>> = {}): Monitor {
  return monitorOf(kind, { timeout: TIMEOUT_MS, ...extra } as Partial<Extract<Monitor, { kind: K }>>);
}

/** Asserts that a failed probe gave up by its timeout. */
function endedByTimeout(result: Timed): void {
  expect(result.elapsedMs).toBeLessThan(TIMEOUT_MS + PROBE_GUARD_GRACE_MS + SLACK_MS);
}

beforeAll(async () => {
  bed = await createTestbed({ servers: 2, clients: 1, bigFileBytes: 4096 });
  child = join(bed.runDir, "probe-child.ts");
  writeFileSync(child, CHILD_SOURCE);
  for (const [name, text] of [["check-http.sh", CHECK_HTTP], ["show-env.sh", SHOW_ENV], ["hang.sh", HANG]] as const) {
    writeFileSync(join(bed.runDir, name), text);
    chmodSync(join(bed.runDir, name), 0o755);
  }
  await bed.execOk("s1", ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=www.example.test",
    "-addext", "subjectAltName=DNS:www.example.test", "-keyout", join(bed.runDir, "key.pem"), "-out", join(bed.runDir, "cert.pem")]);
  writeFileSync(join(bed.runDir, "tls-server.ts"), TLS_SERVER_SOURCE(bed.runDir));
  tls = bed.spawn("s1", [process.execPath, join(bed.runDir, "tls-server.ts")], "tls-server");
  // Ready once it answers (the test bed's own services are awaited the same way).
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await bed.exec("d1", ["curl", "-sk", "--noproxy", "*", "--max-time", "1", `https://${S1}/`], { timeoutMs: 3000 });
    if (r.stdout.startsWith("host=")) break;
    if (!tls.running || Date.now() > deadline) throw new Error(`TLS server not ready: ${tls.stderr()} ${r.stderr}`);
    await Promise.race([tls.exited, Bun.sleep(50)]);
  }
}, 60_000);

afterAll(async () => {
  if (!bed) return;
  const report = await bed.destroy();
  expect(report.problems).toEqual([]);
}, 60_000);

describe("http monitor against nginx", () => {
  test("a GET of / passes with status and body checked, and fails on the wrong status or body", async () => {
    const [pass, head, missing, wrongStatus, wrongBody] = await probeFromD1([
      at(S1, mon("http", { expect_body: "hello from s1" })),
      at(S1, mon("http", { method: "HEAD", expect_status: "200" })),
      at(S1, mon("http", { path: "/missing", expect_status: "404" })),
      at(S1, mon("http", { expect_status: "500-599" })),
      at(S1, mon("http", { expect_body: "hello from s2" })),
    ]);
    expect(pass).toMatchObject({ ok: true, detail: expect.stringMatching(/^200 in [\d.]+ ms$/) });
    expect(pass!.ms).toBeGreaterThan(0);
    expect(pass!.ms).toBeLessThan(TIMEOUT_MS);
    expect(head).toMatchObject({ ok: true, detail: expect.stringMatching(/^200 in/) });
    expect(missing).toMatchObject({ ok: true, detail: expect.stringMatching(/^404 in/) });
    expect(wrongStatus).toMatchObject({ ok: false, detail: "status 200 not in 500-599" });
    expect(wrongBody).toMatchObject({ ok: false, detail: "status 200 but body does not match /hello from s2/" });
  });

  test("every probe opens a fresh connection of its own, ignoring proxy settings", async () => {
    bed.clearAccessLog("s1");
    const target = at(S1, mon("http", { path: "/?probe=fresh" }));
    const dead = "http://10.201.0.99:3128";
    const results = await probeFromD1([target, target, target], { HTTP_PROXY: dead, http_proxy: dead, ALL_PROXY: dead, NO_PROXY: "" });
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    const log = bed.accessLog("s1").filter((e) => e.uri === "/?probe=fresh");
    expect(log.length).toBe(3);
    expect(log.every((e) => e.remoteAddr === "10.201.0.2" && e.connectionRequests === 1)).toBe(true);
    expect(new Set(log.map((e) => e.connection)).size).toBe(3);
  });

  test("a stopped nginx fails with a refused connection", async () => {
    await bed.stopNginx("s1");
    try {
      expect(await probe(at(S1, mon("http")))).toMatchObject({ ok: false, detail: "connect ECONNREFUSED" });
    } finally {
      await bed.startNginx("s1");
    }
    expect((await probe(at(S1, mon("http")))).ok).toBe(true);
  });

  test("a frozen nginx fails by the timeout, never hanging", async () => {
    bed.sigstop("s1");
    let result: Timed;
    try {
      result = await probe(at(S1, mon("http")));
    } finally {
      bed.sigcont("s1");
    }
    expect(result).toMatchObject({ ok: false, detail: `timeout after ${TIMEOUT_MS} ms` });
    expect(result.elapsedMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    endedByTimeout(result);
  });
});

describe("https monitor against a TLS server", () => {
  test("the Host header is the address by default or the configured host, and verify_tls is off by default", async () => {
    const [byAddress, byName] = await probeFromD1([
      at(S1, mon("https", { expect_body: `^host=${S1.replaceAll(".", "\\.")}\n$` }), 443),
      at(S1, mon("https", { host: "www.example.test", expect_body: "^host=www\\.example\\.test\n$" }), 443),
    ]);
    expect(byAddress).toMatchObject({ ok: true, detail: expect.stringMatching(/^200 in/) });
    expect(byName).toMatchObject({ ok: true, detail: expect.stringMatching(/^200 in/) });
  });

  test("verify_tls refuses a certificate that does not verify, and checks the name of the Host header", async () => {
    const verified = mon("https", { verify_tls: true, host: "www.example.test" });
    expect(await probe(at(S1, verified, 443))).toMatchObject({ ok: false, detail: "TLS DEPTH_ZERO_SELF_SIGNED_CERT" });
    const trusted = { NODE_EXTRA_CA_CERTS: join(bed.runDir, "cert.pem") };
    const [good, wrongName, byAddress] = await probeFromD1([
      at(S1, verified, 443),
      at(S1, mon("https", { verify_tls: true, host: "other.example.test" }), 443),
      at(S1, mon("https", { verify_tls: true }), 443),
    ], trusted);
    expect(good).toMatchObject({ ok: true });
    expect(wrongName).toMatchObject({ ok: false, detail: "TLS ERR_TLS_CERT_ALTNAME_INVALID" });
    expect(byAddress).toMatchObject({ ok: false, detail: "TLS ERR_TLS_CERT_ALTNAME_INVALID" });
  });

  test("https to a port that speaks plain HTTP fails", async () => {
    const result = await probe(at(S1, mon("https"), 80));
    expect(result.ok).toBe(false);
    expect(result.detail).toStartWith("TLS ");
  });
});

describe("tcp monitor", () => {
  test("a HEAD sent to nginx's port is answered with HTTP/1.1; a bare connect passes too", async () => {
    const [exchange, connect] = await probeFromD1([
      at(S1, mon("tcp", { send: "HEAD / HTTP/1.0\\r\\n\\r\\n", expect: "^HTTP/1\\.1" })),
      at(S1, mon("tcp")),
    ]);
    expect(exchange).toMatchObject({ ok: true, detail: expect.stringMatching(/^connected, sent 19 bytes, matched \/\^HTTP\\\/1\\\.1\/ in/) });
    expect(connect).toMatchObject({ ok: true, detail: expect.stringMatching(/^connected in/) });
  });

  test("a closed port is refused, an address nobody holds times out, and a reply that does not match fails with what came", async () => {
    const [closed, nobody, mismatch, silent] = await probeFromD1([
      at(S1, mon("tcp"), 81),
      at("10.201.0.99", mon("tcp")),
      at(S1, mon("tcp", { send: "HEAD / HTTP/1.0\r\n\r\n", expect: "^SSH-" })),
      // nginx waits for a request that never comes: the expect runs out of time.
      at(S1, mon("tcp", { expect: "^220 " })),
    ]);
    expect(closed).toMatchObject({ ok: false, detail: "connect ECONNREFUSED" });
    expect(nobody).toMatchObject({ ok: false, detail: `timeout after ${TIMEOUT_MS} ms` });
    endedByTimeout(nobody!);
    expect(mismatch!.ok).toBe(false);
    expect(mismatch!.detail).toMatch(/^\/\^SSH-\/ not matched \(peer closed; got \d+ bytes "HTTP\/1\.1 200 OK\\r\\n/);
    expect(silent).toMatchObject({ ok: false, detail: `timeout after ${TIMEOUT_MS} ms waiting for /^220 / (got 0 bytes "")` });
    endedByTimeout(silent!);
  });
});

describe("dns monitor against dnsmasq", () => {
  test("www.example.test A and TXT pass with the right answers, an unknown name passes as NXDOMAIN", async () => {
    const [a, txt, nx, plain] = await probeFromD1([
      at(S1, mon("dns", { query: "www.example.test", type: "A", expect_answer: "10.250.0.1" }), 53),
      at(S1, mon("dns", { query: "www.example.test", type: "TXT", expect_answer: "server=s1" }), 53),
      at(S1, mon("dns", { query: "nothere.example.test", expect_rcode: "NXDOMAIN" }), 53),
      at(S2, mon("dns"), 53),
    ]);
    expect(a).toMatchObject({ ok: true, detail: expect.stringMatching(/^NOERROR, 1 answer, "10\.250\.0\.1" among them in/) });
    expect(txt).toMatchObject({ ok: true, detail: expect.stringMatching(/^NOERROR, 1 answer, "server=s1" among them in/) });
    expect(nx).toMatchObject({ ok: true, detail: expect.stringMatching(/^NXDOMAIN, 0 answers in/) });
    expect(plain).toMatchObject({ ok: true, detail: expect.stringMatching(/^NOERROR, 1 answer in/) });
  });

  test("the wrong expected answer or rcode fails, naming what came", async () => {
    const [wrongAnswer, wrongRcode] = await probeFromD1([
      at(S1, mon("dns", { expect_answer: "10.250.0.2" }), 53),
      at(S1, mon("dns", { query: "nothere.example.test" }), 53),
    ]);
    expect(wrongAnswer).toMatchObject({ ok: false, detail: 'answer "10.250.0.2" not among 1 answer [A 10.250.0.1]' });
    expect(wrongRcode).toMatchObject({ ok: false, detail: "rcode NXDOMAIN, expected NOERROR" });
  });

  test("a stopped dnsmasq fails at once on the ICMP error; a frozen one by the timeout", async () => {
    await bed.stopDnsmasq("s1");
    try {
      const stopped = await probe(at(S1, mon("dns"), 53));
      expect(stopped).toMatchObject({ ok: false, detail: "ICMP destination unreachable" });
      expect(stopped.elapsedMs).toBeLessThan(TIMEOUT_MS);
    } finally {
      await bed.startDnsmasq("s1");
    }
    bed.sigstop("s1", "dnsmasq");
    let frozen: Timed;
    try {
      frozen = await probe(at(S1, mon("dns"), 53));
    } finally {
      bed.sigcont("s1", "dnsmasq");
    }
    expect(frozen).toMatchObject({ ok: false, detail: `timeout after ${TIMEOUT_MS} ms` });
    endedByTimeout(frozen);
    expect((await probe(at(S1, mon("dns"), 53))).ok).toBe(true);
  });
});

describe("ping monitor", () => {
  test("a server answers, and one behind a down interface does not, within the timeout", async () => {
    expect(await probe(at(S2, mon("ping")))).toMatchObject({ ok: true, detail: expect.stringMatching(/^echo reply in/) });
    await bed.cutLink("s2", "eth0");
    let down: Timed;
    try {
      down = await probe(at(S2, mon("ping")));
    } finally {
      await bed.restoreLink("s2", "eth0");
    }
    expect(down).toMatchObject({ ok: false, detail: `no echo reply within ${TIMEOUT_MS} ms` });
    endedByTimeout(down);
  });
});

describe("exec monitor", () => {
  test("a script sees the server in TANDEM_ variables and PATH, nothing else of tandem's environment", async () => {
    const result = await probe(at(S1, mon("exec", { command: [join(bed.runDir, "show-env.sh")] }), 80, "shop"), { SECRET_FROM_PARENT: "x" });
    // First line: the variable names (sh itself adds PWD and, with some shells, SHLVL and _).
    expect(result.ok).toBe(true);
    const names = result.detail.replace(/^exit 0: /, "").replace(/ in [\d.]+ ms$/, "").split(" ");
    expect(names).toEqual(expect.arrayContaining(["PATH", "TANDEM_PORT", "TANDEM_SERVER", "TANDEM_SERVICE"]));
    expect(names.filter((n) => !["PATH", "TANDEM_PORT", "TANDEM_SERVER", "TANDEM_SERVICE", "PWD", "SHLVL", "_", "OLDPWD"].includes(n))).toEqual([]);
  });

  test("a check script passes for a server whose nginx answers and fails with its first line for one that does not", async () => {
    const command = [join(bed.runDir, "check-http.sh")];
    const [up, down] = await probeFromD1([at(S1, mon("exec", { command })), at(S1, mon("exec", { command, port: 81 }))]);
    expect(up).toMatchObject({ ok: true, detail: expect.stringMatching(/^exit 0: up: web at 10\.201\.0\.11:80 in/) });
    expect(down).toMatchObject({ ok: false, detail: "exit 1: down: no HTTP answer at 10.201.0.11:81" });
  });

  test("a hanging script is killed at the timeout with everything it started", async () => {
    const result = await probe(at(S1, mon("exec", { command: [join(bed.runDir, "hang.sh")] })));
    expect(result).toMatchObject({ ok: false, detail: `timeout after ${TIMEOUT_MS} ms (killed)` });
    endedByTimeout(result);
    // The child has exited; had the sleep survived it would still be in d1's namespace.
    expect(Bun.spawnSync(["ip", "netns", "pids", bed.ns("d1")]).stdout.toString().trim()).toBe("");
  });

  test("a program that does not exist fails with the reason", async () => {
    expect(await probe(at(S1, mon("exec", { command: ["/nonexistent/check"] })))).toMatchObject({ ok: false, detail: 'Cannot run "/nonexistent/check": ENOENT' });
  });
});
