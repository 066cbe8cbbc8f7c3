import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireBinary, run, start, stopAll, TANDEM } from "./tandem-binary.ts";

let dir: string;
beforeAll(() => {
  requireBinary();
  dir = mkdtempSync(join(tmpdir(), "tandem-cli-"));
});
afterAll(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe("tandem version", () => {
  test("prints the version and the git revision it was built from", async () => {
    const r = await run([TANDEM, "version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^tandem \d+\.\d+\.\d+ \(revision [0-9a-f]{12}(\+dirty)?\)\n$/);
  });

  test("runs on a CPU without AVX (qemu-x86_64 -cpu Nehalem)", async () => {
    const native = await run([TANDEM, "version"]);
    const emulated = await run(["qemu-x86_64", "-cpu", "Nehalem", TANDEM, "version"], { timeoutMs: 120_000 });
    expect(emulated.stderr).toBe("");
    expect(emulated.code).toBe(0);
    expect(emulated.stdout).toBe(native.stdout);
  }, 130_000);

  test("validates a config on a CPU without AVX too", async () => {
    const r = await run(["qemu-x86_64", "-cpu", "Nehalem", TANDEM, "check", "examples/paper-pair.toml"], { timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("examples/paper-pair.toml: valid");
  }, 130_000);
});

describe("tandem check", () => {
  test("every example is valid", async () => {
    const examples = readdirSync("examples").filter((f) => f.endsWith(".toml")).map((f) => `examples/${f}`);
    expect(examples.length).toBeGreaterThanOrEqual(2);
    const r = await run([TANDEM, "check", ...examples]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(examples.length);
  });

  for (const name of readdirSync("test/fixtures/config").filter((f) => f.endsWith(".toml"))) {
    test(`${name} exits 1 with exactly the expected lines`, async () => {
      const r = await run([TANDEM, "check", `test/fixtures/config/${name}`]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(readFileSync(`test/fixtures/config/${name.replace(/\.toml$/, ".expected")}`, "utf8"));
    });
  }

  test("a missing file is a system error, not a config error", async () => {
    const r = await run([TANDEM, "check", "no/such.toml"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('tandem check: Cannot read "no/such.toml": no such file or directory\n');
  });

  test("a short auth key is reported at the key's line", async () => {
    const cfg = join(dir, "short-key.toml");
    copyFileSync("examples/paper-pair.toml", cfg);
    writeFileSync(join(dir, "authkey"), "too short\n");
    const r = await run([TANDEM, "check", cfg]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${cfg}:10:17: cluster.auth_key_file: Key file "${dir}/authkey" holds 10 bytes: at least 32 are needed (head -c 48 /dev/urandom | base64 > authkey)\n`);
  });

  test("--node checks the node exists; --identify fails on a host that is no node", async () => {
    const ok = await run([TANDEM, "check", "examples/paper-pair.toml", "--node", "mazelut"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('this host is node "mazelut"');
    const bad = await run([TANDEM, "check", "examples/paper-pair.toml", "--node", "sevn"]);
    expect(bad.code).toBe(4);
    expect(bad.stderr).toBe('examples/paper-pair.toml: Node "sevn" is not in the config: did you mean "seven"?\n');
    const identify = await run([TANDEM, "check", "examples/paper-pair.toml", "--identify"]);
    expect(identify.code).toBe(4);
    expect(identify.stderr).toContain("No node matches this host");
  });

  test("usage errors exit 2 with the command's help", async () => {
    const r = await run([TANDEM, "check", "--bogus"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toStartWith('tandem check: Unknown flag "--bogus"');
    expect(r.stderr).toContain("Usage: tandem check");
    const none = await run([TANDEM]);
    expect(none.code).toBe(2);
    const help = await run([TANDEM, "config", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toStartWith("Usage: tandem config");
  });
});

describe("tandem config", () => {
  test("import, export byte for byte, history, diff and rollback", async () => {
    const store = join(dir, "store", "t.db");
    const env = { TANDEM_STORE: store };
    // CRLF line ends, a byte order mark and non-ASCII text must all survive the round trip.
    const original = readFileSync("examples/minimal.toml", "utf8");
    const awkward = "\uFEFF# caf\u00e9 \u2014 \u{1F600}\r\n" + original.replaceAll("\n", "\r\n");
    const a = join(dir, "a.toml");
    const b = join(dir, "b.toml");
    writeFileSync(a, awkward);
    writeFileSync(b, original.replace('name = "web"', 'name = "www"'));

    const i1 = await run([TANDEM, "config", "import", a, "--author", "alice"], { env });
    expect(i1.stderr).toBe("");
    expect(i1.stdout).toMatch(/^Stored version 1 \(sha256 [0-9a-f]{12}\)\n$/);
    expect((await run([TANDEM, "config", "import", a], { env })).stdout).toBe("Unchanged: version 1 already has this text\n");
    expect((await run([TANDEM, "config", "import", b, "--author", "bob"], { env })).stdout).toMatch(/^Stored version 2 /);

    const exported = await run([TANDEM, "config", "export", "1"], { env });
    expect(Buffer.from(exported.stdoutBytes)).toEqual(readFileSync(a));

    const history = await run([TANDEM, "config", "history"], { env });
    const rows = history.stdout.trim().split("\n");
    expect(rows[0]).toMatch(/^VERSION\s+PARENT\s+CREATED \(UTC\)\s+AUTHOR\s+SHA256\s+SOURCE$/);
    expect(rows[1]).toMatch(/^\*2\s+1\s+\S+ \S+\s+bob\s+[0-9a-f]{12}\s+import:.*\/b\.toml$/);
    expect(rows[2]).toMatch(/^ 1\s+-\s+\S+ \S+\s+alice\s+[0-9a-f]{12}\s+import:.*\/a\.toml$/);

    const diff = await run([TANDEM, "config", "diff", "2", "1"], { env });
    expect(diff.stdout).toStartWith("--- version 2\n+++ version 1\n@@ ");
    expect(diff.stdout).toContain('\n-name = "www"\n');
    expect(diff.stdout).toContain('\n+name = "web"\r\n');

    const rollback = await run([TANDEM, "config", "rollback", "1", "--author", "carol"], { env });
    expect(rollback.stdout).toBe("Stored version 3, equal to version 1\n");
    expect(Buffer.from((await run([TANDEM, "config", "export"], { env })).stdoutBytes)).toEqual(readFileSync(a));

    const db = new Database(store, { readonly: true });
    try {
      const events = db.query("SELECT kind, subject FROM events ORDER BY id").all();
      expect(events).toEqual([
        { kind: "config_changed", subject: "version 1" },
        { kind: "config_changed", subject: "version 2" },
        { kind: "config_changed", subject: "version 3" },
      ]);
    } finally {
      db.close();
    }
  });

  test("an invalid file is refused with its errors and stores nothing", async () => {
    const env = { TANDEM_STORE: join(dir, "refuse.db") };
    const r = await run([TANDEM, "config", "import", "test/fixtures/config/unknown-vip.toml"], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(readFileSync("test/fixtures/config/unknown-vip.expected", "utf8") + "Not imported: test/fixtures/config/unknown-vip.toml has 1 problem\n");
    expect((await run([TANDEM, "config", "history"], { env })).stdout).toBe("No config versions yet: store one with tandem config import FILE\n");
  });

  test("an unknown version is a store error naming the valid range", async () => {
    const env = { TANDEM_STORE: join(dir, "store", "t.db") };
    const r = await run([TANDEM, "config", "export", "42"], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('tandem config: Config version "42" does not exist: versions are 1..3\n');
    const bad = await run([TANDEM, "config", "rollback", "x"], { env });
    expect(bad.code).toBe(2);
  });
});

/**
 * A node with no VIPs and no services: `run` starts no data plane, so it can run in this test's
 * own network namespace (the root one) without touching it. Data-plane runs live in
 * dispatcher.test.ts, inside namespaces. The web API gets a port of its own per test run.
 */
function idleConfig(): string {
  const port = 20000 + (process.pid % 20000);
  const path = join(dir, "idle.toml");
  writeFileSync(path, `version = 1\n\n[cluster]\nname = "idle"\n\n[[node]]\nname = "solo"\ninterfaces.public = { device = "lo", address = "127.0.0.1/8" }\n\n[web]\nlisten = "127.0.0.1:${port}"\n`);
  return path;
}

describe("tandem run", () => {
  test("starts, stores the config, and exits 0 on SIGTERM leaving events behind", async () => {
    const store = join(dir, "run", "run.db");
    const config = idleConfig();
    const node = start([TANDEM, "run", "--config", config, "--store", store]);
    const running = await node.waitFor(/ Running node=solo pid=\d+ rss_mb=\d+/);
    const rssMb = Number(/rss_mb=(\d+)/.exec(running)![1]);
    console.log(`idle RSS of tandem run: ${rssMb} MB; binary size ${(statSync(TANDEM).size / 1048576).toFixed(1)} MB`);
    expect(node.lines.join("\n")).toContain('node=solo');
    node.proc.kill("SIGTERM");
    expect(await node.proc.exited).toBe(0);
    expect(node.lines.at(-1)).toMatch(/ Stopped node=solo signal=SIGTERM$/);
    const db = new Database(store, { readonly: true });
    try {
      expect(db.query("SELECT kind FROM events ORDER BY id").all().map((r: any) => r.kind)).toEqual(["config_changed", "node_started", "node_stopped"]);
      expect(db.query("SELECT source FROM config_versions").all()).toEqual([{ source: `run:${config}` }]);
    } finally {
      db.close();
    }
  });

  test("SIGINT stops it too, and a second start stores no new version", async () => {
    const store = join(dir, "run", "run.db");
    const node = start([TANDEM, "run", "--config", idleConfig(), "--store", store]);
    await node.waitFor(/ Running /);
    node.proc.kill("SIGINT");
    expect(await node.proc.exited).toBe(0);
    const db = new Database(store, { readonly: true });
    try {
      expect(db.query("SELECT count(*) AS n FROM config_versions").get()).toEqual({ n: 1 });
    } finally {
      db.close();
    }
  });

  test("a host that is no node of a pair exits 4 without running", async () => {
    const r = await run([TANDEM, "run", "--config", "examples/paper-pair.toml", "--store", join(dir, "x.db")]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("No node matches this host");
  });

  test("an invalid config exits 1 with its errors", async () => {
    const r = await run([TANDEM, "run", "--config", "test/fixtures/config/wrong-type.toml"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(readFileSync("test/fixtures/config/wrong-type.expected", "utf8"));
  });
});
