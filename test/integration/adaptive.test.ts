/**
 * The adaptive scheduler through `dist/tandem run` (issue 6): three paced servers of different
 * speeds (2, 4 and 24 ms per request, one at a time), closed-loop clients through the VIP; the
 * weights in `GET /api/v1/adaptive` must move towards the fast servers and keep the slow one
 * small but above zero. The convergence time and latency figures are `just bench adaptive`'s.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bedConfigHead, BED_CONFIG_TAIL } from "./dispatcher-config.ts";
import { requireBinary } from "./tandem-binary.ts";
import { startTandem, type TandemNode } from "./tandem-node.ts";
import { createTestbed, type BedProcess, type Testbed } from "./testbed/topology.ts";

const SERVER = fileURLToPath(new URL("./testbed/paced-server.ts", import.meta.url));
const CLIENT = fileURLToPath(new URL("../../bench/adaptive-client.ts", import.meta.url));
const SERVICE_MS = [2, 4, 24];
const PORT = 8081;

let bed: Testbed;
let node: TandemNode;

interface History { services: { servers: string[]; entries: { weights: number[]; samples: number[] }[] }[] }

beforeAll(async () => {
  requireBinary();
  bed = await createTestbed({ dispatchers: 1, servers: 3 });
  await Promise.all(bed.addresses.servers.map(async (s, i) => {
    const proc: BedProcess = bed.spawn(s.name, [process.execPath, SERVER, s.private, String(PORT), String(SERVICE_MS[i]), String(i + 1)], "paced-server");
    const deadline = Date.now() + 10_000;
    while (!proc.stdout().includes("LISTENING")) {
      if (!proc.running || Date.now() > deadline) throw new Error(`paced server did not start: ${proc.stderr()}`);
      await Bun.sleep(20);
    }
  }));
  const servers = bed.addresses.servers.map((s) => `  { address = "${s.private}", port = ${PORT} },`).join("\n");
  node = await startTandem(bed, "d1", `${bedConfigHead(bed, { cluster: "adaptive", offload: true, maxConnections: 10000 })}
[[service]]
name = "app"
vip = "www"
port = 80
scheduler = "adaptive"
adaptive = { interval = "500ms", min_share = 0.02 }
servers = [
${servers}
]

${BED_CONFIG_TAIL}`);
  await node.waitForLog(/Running/);
}, 60_000);

afterAll(async () => {
  const report = await bed?.destroy();
  if (report?.problems.length) throw new Error(`Test bed cleanup: ${report.problems.join("; ")}`);
}, 60_000);

test("under load the adaptive weights move to the fast servers and keep the slow one small but above zero", async () => {
  const output = join(bed.runDir, "adaptive-client.json");
  const client = bed.spawn("c1", [process.execPath, CLIENT, bed.addresses.vip, "80", "32", "8", output], "client");
  expect(await client.exited).toBe(0);
  expect(client.stdout()).toContain("DONE");
  const r = await bed.execOk("d1", ["curl", "-sf", "http://127.0.0.1:8080/api/v1/adaptive"]);
  const history = JSON.parse(r.stdout) as History;
  const entries = history.services[0]!.entries;
  expect(entries.length).toBeGreaterThanOrEqual(10);
  const last = entries.at(-1)!.weights;
  const total = last.reduce((a, b) => a + b, 0);
  const shares = last.map((w) => Math.round((1000 * w) / total) / 10);
  console.log(`adaptive shares after 8 s of load (servers of 2, 4 and 24 ms): ${shares.join(" / ")} %`);
  // Capacity is 500 / 250 / 42 requests/s: about 63 / 32 / 5 %.
  expect(shares[0]!).toBeGreaterThan(shares[1]!);
  expect(shares[1]!).toBeGreaterThan(shares[2]!);
  expect(shares[2]!).toBeLessThan(15);
  expect(shares[2]!).toBeGreaterThanOrEqual(2 - 0.1);
  // Live traffic fed the controller: every server had samples.
  expect(entries.at(-1)!.samples.every((n) => n > 0)).toBe(true);
}, 60_000);
