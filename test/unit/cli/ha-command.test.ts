import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { apiUrlOf } from "../../../src/cli/ha-command.ts";
import { runCli } from "../../../src/cli/run-cli.ts";
import type { HaRole } from "../../../src/core/ha/ha-node-types.ts";
import type { HaSnapshot } from "../../../src/engine/ha-engine.ts";
import { fakePlatform, type FakePlatform } from "../../../src/platform/fake/fake-platform.ts";
import { createApp } from "../../../src/web/create-app.ts";
import { BASE } from "../core/config/config-test-helpers.ts";

const FLAGS = { witnessOk: true, handover: false, wantActive: false, synced: true };

/** A heartbeat snapshot of `node` with a live `peer`, as GET /api/v1/status shows it. */
function snapshot(node: string, peer: string, role: HaRole): HaSnapshot {
  const peerRole: HaRole = role === "active" ? "standby" : "active";
  return {
    node,
    priority: 100,
    role,
    roleSinceMs: 0,
    roleReason: "elected",
    transition: "none",
    flags: FLAGS,
    peer: { name: peer, liveness: "alive", sinceMs: 0, role: peerRole, priority: 50, flags: FLAGS, generation: 1, lastHeardAgeMs: 20, links: [] },
    generation: 2,
    vipsHeld: role === "active",
    links: [],
    drops: {},
    witnesses: [],
  };
}

/**
 * One node's real web app on the fake network, with a scripted heartbeat: `react` runs when the
 * API receives a switchover command and may change `node.ha` at once or later on the clock.
 */
function serveNode(platform: FakePlatform, ha: HaSnapshot | undefined, react?: (command: "standby" | "takeover", node: { ha: HaSnapshot }) => void, address = "0.0.0.0", port = 8080) {
  const node = { ha: ha!, commands: [] as string[], stop: () => {} };
  const app = createApp({
    node: ha?.node ?? "solo",
    version: "test",
    configVersion: () => 1,
    startedAtMs: 0,
    nowMs: () => platform.clock.wallMs(),
    dispatcher: () => undefined,
    ha: () => (ha === undefined ? undefined : node.ha),
    command: ha === undefined ? undefined : (command) => {
      node.commands.push(command);
      react?.(command, node);
    },
  });
  node.stop = platform.serve(address, port, app.fetch);
  return node;
}

/**
 * Runs the CLI to completion, moving the fake clock on whenever the command waits for it. Fails
 * instead of hanging when the command waits for something that is not a timer.
 */
async function run(platform: FakePlatform, argv: string[]): Promise<number> {
  let done = false;
  const result = runCli(argv, platform).finally(() => {
    done = true;
  });
  for (let step = 0; step < 100_000; step++) {
    // Lets every promise the command chains settle before time moves on.
    await new Promise((resolve) => setImmediate(resolve));
    if (done) return await result;
    if (platform.clock.pending === 0) throw new Error("The command waits for something other than the clock");
    platform.clock.advance(10);
  }
  throw new Error("The command did not finish within 1000 s of fake time");
}

function requests(platform: FakePlatform): string[] {
  return platform.http.exchanges.map((e) => `${e.method} ${e.url}`);
}

const STATUS = "GET http://127.0.0.1:8080/api/v1/status";

describe("tandem standby and takeover", () => {
  test("standby polls the status every 100 ms until the node is standby and reports the time taken", async () => {
    const platform = fakePlatform();
    platform.clock.advance(12_345);
    const node = serveNode(platform, snapshot("d1", "d2", "active"), (_command, n) => {
      n.ha = { ...n.ha, flags: { ...FLAGS, handover: true } };
      platform.clock.after(800, () => (n.ha = { ...n.ha, role: "standby", flags: FLAGS, vipsHeld: false }));
    });
    const code = await run(platform, ["standby"]);
    assert.equal(platform.stderrText(), "");
    assert.equal(code, 0);
    assert.equal(platform.stdoutText(), "tandem: d1 is now standby (handed over to d2 in 800 ms)\n");
    assert.deepEqual(node.commands, ["standby"]);
    assert.deepEqual(requests(platform), [STATUS, "POST http://127.0.0.1:8080/api/v1/ha/standby", ...Array<string>(8).fill(STATUS)]);
  });

  test("takeover waits until the node is active and names the peer it took over from", async () => {
    const platform = fakePlatform();
    const node = serveNode(platform, snapshot("d2", "d1", "standby"), (_command, n) => {
      n.ha = { ...n.ha, flags: { ...FLAGS, wantActive: true } };
      // Claiming first: the role only counts once the VIPs are held.
      platform.clock.after(200, () => (n.ha = { ...n.ha, transition: "claiming" }));
      platform.clock.after(300, () => (n.ha = { ...n.ha, role: "active", transition: "none", flags: FLAGS }));
    });
    const code = await run(platform, ["takeover"]);
    assert.equal(platform.stderrText(), "");
    assert.equal(code, 0);
    assert.equal(platform.stdoutText(), "tandem: d2 is now active (took over from d1 in 300 ms)\n");
    assert.deepEqual(node.commands, ["takeover"]);
  });

  test("standby gives up after --timeout with exit 5, naming the role and what the handover waits for", async () => {
    const platform = fakePlatform();
    const active = snapshot("d1", "d2", "active");
    serveNode(platform, { ...active, peer: { ...active.peer, flags: { ...FLAGS, synced: false } } }, (_command, n) => {
      n.ha = { ...n.ha, flags: { ...FLAGS, handover: true } };
    });
    const code = await run(platform, ["standby", "--timeout", "2s"]);
    assert.equal(code, 5);
    assert.equal(platform.stderrText(), 'tandem standby: Node "d1" is still active after 2s: peer "d2" is not synced\n');
    assert.equal(platform.stdoutText(), "");
    assert.equal(platform.clock.monotonicMs() >= 2000 && platform.clock.monotonicMs() < 2100, true, `gave up at ${platform.clock.monotonicMs()} ms`);
  });

  test("takeover that the node ignored times out saying no request is pending", async () => {
    const platform = fakePlatform();
    serveNode(platform, snapshot("d2", "d1", "standby"));
    const code = await run(platform, ["takeover", "--timeout", "500ms"]);
    assert.equal(code, 5);
    assert.match(platform.stderrText(), /^tandem takeover: Node "d2" is still standby after 500ms: no takeover request pending/);
  });

  test("a status request that fails while waiting is retried, and the timeout message says why it failed", async () => {
    const platform = fakePlatform();
    const node = serveNode(platform, snapshot("d1", "d2", "active"), () => {
      node.stop();
      // Back 300 ms later, still active: the command must keep polling through the gap.
      platform.clock.after(300, () => (node.stop = platform.serve("0.0.0.0", 8080, (request) => app.fetch(request))));
    });
    const app = createApp({ node: "d1", version: "test", configVersion: () => 1, startedAtMs: 0, nowMs: () => 0, dispatcher: () => undefined, ha: () => node.ha });
    platform.clock.after(600, () => node.stop());
    const code = await run(platform, ["standby", "--timeout", "1s"]);
    assert.equal(code, 5);
    const polls = platform.http.exchanges.slice(2);
    assert.deepEqual([...new Set(polls.map((e) => e.result))].sort(), ["refused", "response"]);
    assert.equal(platform.stderrText(), 'tandem standby: Node "d1" did not become standby within 1s: cannot reach tandem at "http://127.0.0.1:8080/api/v1/status": connection refused (is tandem running?)\n');
  });

  test("a node that is releasing its VIPs is not taken for active: takeover still asks", async () => {
    const platform = fakePlatform();
    const node = serveNode(platform, { ...snapshot("d1", "d2", "active"), transition: "releasing" });
    const code = await run(platform, ["takeover", "--no-wait"]);
    assert.equal(code, 0);
    assert.deepEqual(node.commands, ["takeover"]);
  });

  test("a node without a peer answers 409 and the command says so with exit 3", async () => {
    const platform = fakePlatform();
    serveNode(platform, undefined);
    const code = await run(platform, ["standby"]);
    assert.equal(code, 3);
    assert.equal(platform.stderrText(), 'tandem standby: This node has no peer: "solo" runs alone, there is nothing to switch over to\n');
    assert.deepEqual(requests(platform), [STATUS, "POST http://127.0.0.1:8080/api/v1/ha/standby"]);
  });

  test("a refused connection names the URL and asks whether tandem runs, with exit 3", async () => {
    const platform = fakePlatform();
    const code = await run(platform, ["takeover"]);
    assert.equal(code, 3);
    assert.equal(platform.stderrText(), 'tandem takeover: Cannot reach tandem at "http://127.0.0.1:8080/api/v1/status": connection refused (is tandem running?)\n');
  });

  test("--no-wait returns once the request is accepted, without polling", async () => {
    const platform = fakePlatform();
    const node = serveNode(platform, snapshot("d1", "d2", "active"));
    const code = await run(platform, ["standby", "--no-wait"]);
    assert.equal(code, 0);
    assert.equal(platform.stdoutText(), "tandem: standby requested from d1 (not waiting)\n");
    assert.deepEqual(node.commands, ["standby"]);
    assert.deepEqual(requests(platform), [STATUS, "POST http://127.0.0.1:8080/api/v1/ha/standby"]);
  });

  test("a node that has the wanted role already is left alone", async () => {
    const platform = fakePlatform();
    const node = serveNode(platform, snapshot("d1", "d2", "standby"));
    const code = await run(platform, ["standby"]);
    assert.equal(code, 0);
    assert.equal(platform.stdoutText(), "tandem: d1 is standby already\n");
    assert.deepEqual(node.commands, []);
  });

  test("--node refuses to act on an API that is another node", async () => {
    const platform = fakePlatform();
    const node = serveNode(platform, snapshot("d1", "d2", "active"));
    const code = await run(platform, ["standby", "--node", "d2"]);
    assert.equal(code, 3);
    assert.equal(platform.stderrText(), 'tandem standby: The API at "http://127.0.0.1:8080" is node "d1", not "d2": pass --url to reach "d2"\n');
    assert.deepEqual(node.commands, []);
  });
});

describe("where tandem standby finds the API", () => {
  test("--config uses web.listen, a wildcard address meaning the loopback address", async () => {
    // The key file named by the config is missing: the command must not need it.
    const platform = fakePlatform({ files: { "/etc/tandem.toml": `${BASE}\n[web]\nlisten = "0.0.0.0:9191"\n` } });
    const node = serveNode(platform, snapshot("d1", "d2", "active"), undefined, "127.0.0.1", 9191);
    const code = await run(platform, ["standby", "--config", "/etc/tandem.toml", "--no-wait"]);
    assert.equal(platform.stderrText(), "");
    assert.equal(code, 0);
    assert.deepEqual(node.commands, ["standby"]);
    assert.deepEqual(requests(platform), ["GET http://127.0.0.1:9191/api/v1/status", "POST http://127.0.0.1:9191/api/v1/ha/standby"]);
  });

  test("--config with a specific web.listen address talks to that address", async () => {
    const platform = fakePlatform({ files: { "t.toml": `${BASE}\n[web]\nlisten = "10.0.0.1:8443"\n` } });
    const node = serveNode(platform, snapshot("a", "b", "active"), undefined, "10.0.0.1", 8443);
    const code = await run(platform, ["standby", "--config", "t.toml", "--no-wait"]);
    assert.equal(code, 0);
    assert.deepEqual(node.commands, ["standby"]);
  });

  test("--url wins over --config", async () => {
    const platform = fakePlatform({ files: { "t.toml": `${BASE}\n[web]\nlisten = "10.0.0.1:8443"\n` } });
    const node = serveNode(platform, snapshot("a", "b", "active"), undefined, "10.9.9.9", 1234);
    const code = await run(platform, ["standby", "--config", "t.toml", "--url", "http://10.9.9.9:1234/", "--no-wait"]);
    assert.equal(code, 0);
    assert.deepEqual(node.commands, ["standby"]);
  });

  test("an invalid config is reported as FILE:LINE:COL and exits 1 without a request", async () => {
    const platform = fakePlatform({ files: { "t.toml": `${BASE}\n[web]\nlisten = "nowhere"\n` } });
    const code = await run(platform, ["standby", "--config", "t.toml"]);
    assert.equal(code, 1);
    assert.match(platform.stderrText(), /^t\.toml:\d+:\d+: web\.listen: /);
    assert.deepEqual(requests(platform), []);
  });

  test("wildcard listen addresses map to the loopback address of their family", () => {
    assert.equal(apiUrlOf({ address: "0.0.0.0", port: 8080 }), "http://127.0.0.1:8080");
    assert.equal(apiUrlOf({ address: "::", port: 8080 }), "http://[::1]:8080");
    assert.equal(apiUrlOf({ address: "fd00::1", port: 80 }), "http://[fd00::1]:80");
    assert.equal(apiUrlOf({ address: "10.0.0.1", port: 80 }), "http://10.0.0.1:80");
  });

  test("a bad --timeout or --url is a usage error (exit 2)", async () => {
    for (const argv of [["--timeout", "0s"], ["--timeout", "30"], ["--url", "ftp://x"], ["extra"]]) {
      const platform = fakePlatform();
      assert.equal(await run(platform, ["takeover", ...argv]), 2, argv.join(" "));
      assert.match(platform.stderrText(), /^tandem takeover: .*\n\nUsage: tandem takeover /, argv.join(" "));
    }
  });
});
