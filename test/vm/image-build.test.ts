/**
 * Issue 4, acceptance 1: `just image` builds dist/tandem.img from Debian packages without root
 * steps, and a second build from the same inputs is byte-identical. Also checks the layout the
 * init scripts rely on (GPT partition names, legacy-BIOS boot flag). Needs dist/tandem.img from
 * `just image` (the `vm` step of test/run-all.sh builds it first).
 */
import { afterAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createReadStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { IMAGE } from "./vm-bed.ts";

const ROOT = resolve(import.meta.dir, "../..");
const dir = mkdtempSync(join(ROOT, "dist", ".image-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

test("a second build of the image is byte-identical to the first", async () => {
  const second = join(dir, "tandem.img");
  const started = performance.now();
  const r = Bun.spawnSync(["image/build.sh"], { cwd: ROOT, env: { ...process.env, IMAGE_OUT: second }, stdout: "pipe", stderr: "pipe" });
  expect(r.exitCode, r.stderr.toString()).toBe(0);
  console.log(`second image build: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  expect(statSync(second).size).toBe(statSync(IMAGE).size);
  const [a, b] = await Promise.all([sha256(IMAGE), sha256(second)]);
  console.log(`dist/tandem.img sha256 ${a}`);
  expect(b).toBe(a);
}, 600_000);

test("the partitions carry the names and flags the init scripts look for", () => {
  const r = Bun.spawnSync(["sfdisk", "--json", IMAGE], { stdout: "pipe", stderr: "pipe" });
  expect(r.exitCode, r.stderr.toString()).toBe(0);
  const table = (JSON.parse(r.stdout.toString()) as { partitiontable: { label: string; partitions: { name: string; attrs?: string; type: string }[] } }).partitiontable;
  expect(table.label).toBe("gpt");
  expect(table.partitions.map((p) => p.name)).toEqual(["tandem-boot", "tandem-config", "tandem-root-a", "tandem-root-b", "tandem-data"]);
  expect(table.partitions[0]!.attrs ?? "").toContain("LegacyBIOSBootable");
  // The EFI System Partition type GUID: what UEFI firmware looks for.
  expect(table.partitions[0]!.type).toBe("C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
});
