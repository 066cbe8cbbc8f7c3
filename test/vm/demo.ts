/**
 * The main job (`npm start` → `just start`): boots the demo pair from dist/tandem.img in QEMU —
 * the image exactly as shipped, with examples/appliance.toml on its config partition — beside
 * three nginx real servers and a client namespace, then prints which node is active, the VIP, a
 * command that sends traffic through it and a 127.0.0.1 URL of the active node's web UI and API.
 * Ctrl-C tears everything down. `--check` instead verifies both paths once and exits (0 = ok).
 * Builds the binary and the image first when their inputs are newer. Needs root (namespaces).
 */
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { curl } from "../integration/testbed/clients.ts";
import { createVmBed, IMAGE, type VmBed } from "./vm-bed.ts";
import { BOOT_TIMEOUT_MS } from "./vm-console.ts";

const ROOT = resolve(import.meta.dir, "../..");
const BINARY = join(ROOT, "dist/tandem");
/** Where `just demo-curl` finds the running demo. */
export const DEMO_STATE = "/tmp/tandem-demo.json";
const UI_PORT = Number(process.env.TANDEM_DEMO_PORT ?? 8080);
const CHECK = process.argv.includes("--check");

/** Newest modification time under `paths` (files or directories, recursively); 0 when none exist. */
function newest(paths: string[]): number {
  let t = 0;
  for (const p of paths) {
    if (!existsSync(p)) continue;
    const s = statSync(p);
    if (s.isDirectory()) t = Math.max(t, newest(readdirSync(p).map((n) => join(p, n))));
    else t = Math.max(t, s.mtimeMs);
  }
  return t;
}

function mtime(path: string): number {
  return existsSync(path) ? statSync(path).mtimeMs : 0;
}

function just(recipe: string): void {
  console.log(`demo: just ${recipe}`);
  const r = Bun.spawnSync([join(ROOT, "node_modules/.bin/just"), recipe], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
  if (r.exitCode !== 0) throw new Error(`"just ${recipe}" failed with exit code ${r.exitCode}`);
}

/** Rebuilds what is stale: the binary from src/, the image from the binary, rootfs/, image/ and the example. */
function buildIfStale(): void {
  if (mtime(BINARY) < newest([join(ROOT, "src"), join(ROOT, "package.json")])) just("build");
  const inputs = [BINARY, join(ROOT, "rootfs"), join(ROOT, "image"), join(ROOT, "examples/appliance.toml"), join(ROOT, "examples/authkey")];
  if (mtime(IMAGE) < newest(inputs)) just("image");
}

/** The node names and roles from the consoles' status screens. */
async function roles(vms: VmBed): Promise<{ name: string; role: string; address: string }[]> {
  return Promise.all([1, 2].map(async (k) => {
    const m = await vms.vm(k).waitForConsole(/^==== tandem (\S+) \((\w+)\) ====$/, BOOT_TIMEOUT_MS);
    return { name: m[1]!, role: m[2]!, address: vms.node(k).public };
  }));
}

async function main(): Promise<number> {
  buildIfStale();
  console.log("demo: booting the pair in QEMU (software emulation: about 30-60 s)");
  const vms = await createVmBed({ vms: 2, servers: 3, clients: 1, firmware: "bios" });
  let forwarder: ReturnType<typeof Bun.spawn> | undefined;
  const teardown = async () => {
    forwarder?.kill("SIGTERM");
    await forwarder?.exited;
    rmSync(DEMO_STATE, { force: true });
    const report = await vms.destroy();
    for (const p of report.problems) console.error(`demo: cleanup: ${p}`);
  };
  try {
    const nodes = await roles(vms);
    const active = nodes.find((n) => n.role === "active");
    if (!active) throw new Error(`No node reports itself active: ${nodes.map((n) => `${n.name} ${n.role}`).join(", ")}`);
    const client = vms.addresses.clients[0]!;
    const vip = vms.addresses.vip;
    // The UI listens inside the bed; socat in this namespace forwards 127.0.0.1 to it, one
    // `ip netns exec` per connection into the client namespace.
    forwarder = Bun.spawn(["socat", `TCP-LISTEN:${UI_PORT},bind=127.0.0.1,reuseaddr,fork`, `EXEC:ip netns exec ${client.ns} socat STDIO TCP\\:${active.address}\\:8080`], { stdout: "inherit", stderr: "inherit" });
    writeFileSync(DEMO_STATE, JSON.stringify({ clientNs: client.ns, vip, active: active.name, ui: `http://127.0.0.1:${UI_PORT}/` }));
    console.log(`
tandem demo pair is up:
  ${nodes.map((n) => `${n.name} (${n.role}) at ${n.address}`).join("\n  ")}
  active node: ${active.name}
  VIP:         ${vip} (http on :80 → s1, s2, s3 round robin; dns on :53)
  traffic:     just demo-curl        (curl from the client namespace ${client.ns} to http://${vip}/)
  web UI/API:  http://127.0.0.1:${UI_PORT}/api/v1/status   and   http://127.0.0.1:${UI_PORT}/metrics
  consoles:    ${vms.runDir}/console-1.log, console-2.log
Ctrl-C stops both VMs and removes everything.`);
    if (CHECK) {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) seen.add((await curl(vms.bed, `http://${vip}/`, { timeoutMs: 20_000 })).server ?? "none");
      const ui = await waitForUi(`http://127.0.0.1:${UI_PORT}/api/v1/status`);
      console.log(`demo --check: servers via the VIP: ${[...seen].sort().join(", ")}; UI status node "${ui.node}"`);
      return seen.size === 3 && ui.node === active.name ? 0 : 1;
    }
    await new Promise<void>((done) => {
      process.once("SIGINT", () => done());
      process.once("SIGTERM", () => done());
    });
    console.log("\ndemo: stopping");
    return 0;
  } finally {
    await teardown();
  }
}

/** The forwarded status JSON; retried briefly while socat starts listening. */
async function waitForUi(url: string): Promise<{ node: string }> {
  let last = "";
  for (let i = 0; i < 50; i++) {
    try {
      const r = await fetch(url);
      if (r.ok) return (await r.json()) as { node: string };
      last = `HTTP ${r.status}`;
    } catch (error) {
      last = String(error);
    }
    await Bun.sleep(100);
  }
  throw new Error(`The web UI did not answer at ${url}: ${last}`);
}

process.exitCode = await main();
