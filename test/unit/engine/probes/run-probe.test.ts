import { describe, expect, test } from "bun:test";
import { firstLine } from "../../../../src/engine/probes/exec-probe.ts";
import { PROBE_GUARD_GRACE_MS, runProbe } from "../../../../src/engine/probes/run-probe.ts";
import { FakeProbeIo, monitorOf, NEVER, targetOf } from "./fake-probe-io.ts";

describe("ping probe", () => {
  test("an echo reply passes, with the monitor's timeout given to the ping", async () => {
    const io = new FakeProbeIo();
    io.latencyMs = 0.4;
    expect(await runProbe(targetOf(monitorOf("ping", { timeout: 500 })), io)).toEqual({ ok: true, ms: 0.4, detail: "echo reply in 0.4 ms" });
    expect(io.requests).toEqual([{ op: "ping", address: "10.201.0.11", timeoutMs: 500 }]);
  });

  test("no echo reply fails", async () => {
    const io = new FakeProbeIo();
    io.latencyMs = 500;
    io.pingReply = () => false;
    expect(await runProbe(targetOf(monitorOf("ping", { timeout: 500 })), io)).toEqual({ ok: false, ms: 500, detail: "no echo reply within 500 ms" });
  });
});

describe("exec probe", () => {
  test("the program gets the server in its environment and exit 0 passes with its first line", async () => {
    const io = new FakeProbeIo();
    io.latencyMs = 15;
    io.runner = () => ({ kind: "exited", code: 0, output: "\n  all good  \nsecond line\n" });
    const target = { ...targetOf(monitorOf("exec", { command: ["check-web", "--deep"] })), service: "shop" };
    expect(await runProbe(target, io)).toEqual({ ok: true, ms: 15, detail: "exit 0: all good in 15 ms" });
    expect(io.requests).toEqual([{
      op: "run",
      request: { argv: ["check-web", "--deep"], env: { TANDEM_SERVER: "10.201.0.11", TANDEM_PORT: "80", TANDEM_SERVICE: "shop" }, timeoutMs: 2000, maxOutputBytes: 4096 },
    }]);
  });

  test("TANDEM_PORT is the monitor's port when it has one", async () => {
    const io = new FakeProbeIo();
    await runProbe(targetOf(monitorOf("exec", { port: 5432 })), io);
    const r = io.requests[0]!;
    expect(r.op === "run" && r.request.env.TANDEM_PORT).toBe("5432");
  });

  test("a non-zero exit fails with its code and first line", async () => {
    const io = new FakeProbeIo();
    io.runner = () => ({ kind: "exited", code: 2, output: "backend says no\n" });
    expect(await runProbe(targetOf(monitorOf("exec")), io)).toMatchObject({ ok: false, detail: "exit 2: backend says no" });
    io.runner = () => ({ kind: "exited", code: 137, output: "" });
    expect(await runProbe(targetOf(monitorOf("exec")), io)).toMatchObject({ ok: false, detail: "exit 137" });
  });

  test("a program killed at the timeout, or one that cannot start, fails", async () => {
    const io = new FakeProbeIo();
    io.runner = () => ({ kind: "timeout", detail: "killed after 2000 ms" });
    expect(await runProbe(targetOf(monitorOf("exec")), io)).toMatchObject({ ok: false, detail: "timeout after 2000 ms (killed)" });
    io.runner = () => ({ kind: "failed", detail: 'Cannot run "/usr/local/bin/check": ENOENT' });
    expect(await runProbe(targetOf(monitorOf("exec")), io)).toMatchObject({ ok: false, detail: 'Cannot run "/usr/local/bin/check": ENOENT' });
  });

  test("the first line is the first non-blank one, cut at 200 characters", () => {
    expect(firstLine("")).toBe("");
    expect(firstLine("\r\n \nok\r\nmore")).toBe("ok");
    expect(firstLine("x".repeat(300))).toBe(`${"x".repeat(200)}…`);
  });
});

describe("runProbe", () => {
  test("an I/O layer that never answers still gives a timeout, at the timeout plus the grace", async () => {
    for (const kind of ["http", "https", "tcp", "dns", "ping", "exec"] as const) {
      const io = new FakeProbeIo();
      io.latencyMs = 0;
      io.http = io.tcp = io.udp = io.pingReply = io.runner = NEVER;
      let settled = false;
      const pending = runProbe(targetOf(monitorOf(kind)), io).finally(() => (settled = true));
      io.clock.advance(2000 + PROBE_GUARD_GRACE_MS - 1);
      // One macrotask lets every pending promise reaction run: the probe must still be waiting.
      await Bun.sleep(0);
      expect(settled).toBe(false);
      io.clock.advance(1);
      expect(await pending).toEqual({ ok: false, ms: 2000 + PROBE_GUARD_GRACE_MS, detail: "timeout after 2000 ms" });
    }
  });

  test("an answer after the guard fired is ignored, and the guard is cancelled after an answer", async () => {
    const io = new FakeProbeIo();
    io.latencyMs = 2000 + PROBE_GUARD_GRACE_MS + 100;
    expect((await runProbe(targetOf(monitorOf("http")), io)).detail).toBe("timeout after 2000 ms");
    io.latencyMs = 1;
    let fired = 0;
    const original = io.clock.after.bind(io.clock);
    io.clock.after = (delayMs, fn) => original(delayMs, () => {
      fired++;
      fn();
    });
    await runProbe(targetOf(monitorOf("http")), io);
    io.clock.advance(10_000);
    expect(fired).toBe(0);
  });

  test("an I/O layer that throws gives a failed result, never a rejection", async () => {
    const io = new FakeProbeIo();
    io.http = () => {
      throw new Error("socket exploded");
    };
    expect(await runProbe(targetOf(monitorOf("http")), io)).toMatchObject({ ok: false, detail: "Probe error: socket exploded" });
    io.pingReply = () => Promise.reject(new Error("no ping binary"));
    expect(await runProbe(targetOf(monitorOf("ping")), io)).toMatchObject({ ok: false, detail: "Probe error: no ping binary" });
  });
});
