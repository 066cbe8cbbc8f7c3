/**
 * The network-namespace test bed every integration test and `bench/dataplane.ts` build on:
 * client(s), one or two dispatcher nodes and real servers running nginx and dnsmasq, joined by
 * three Linux bridges in a "switch" namespace. Needs root and `test/deps.sh netns`.
 *
 * Layout (every address lives inside namespaces of this run; nothing touches the root namespace):
 *
 * ```
 *   c1..cN ─┐              ┌─ br-pub  (public    10.200.0.0/24) ── d1 eth0, d2 eth0
 *           └─ switch ns ──┼─ br-priv (private   10.201.0.0/24) ── d1 eth1, d2 eth1, s1..sN eth0
 *                          └─ br-hb   (heartbeat 10.202.0.0/24) ── d1 eth2, d2 eth2
 * ```
 *
 * | what                         | address                                  |
 * |------------------------------|------------------------------------------|
 * | dispatcher dN public/private/heartbeat | 10.200.0.(1+N), 10.201.0.(1+N), 10.202.0.(1+N) |
 * | VIP (suggested, unassigned)  | 10.200.0.10 (10.200.0.10–.49 are free for VIPs) |
 * | shared router (suggested, unassigned) | 10.201.0.1 (servers' gateway once a test moves it there) |
 * | client cN                    | 10.200.0.(100+N), no default route unless `clientGateway` |
 * | server sN                    | 10.201.0.(10+N), default route via `serverGateway` (default d1's 10.201.0.2) |
 * | free for fullnat local addresses | 10.201.0.200–.249                    |
 * | DNS answer of sN             | www.example.test A 10.250.0.N, TXT "server=sN" |
 *
 * With `dispatcherNamespaces: false` the d1/d2 addresses are planned but no namespace is made for
 * them: the appliance VMs of test/vm plug tap devices into the bridges in their place.
 *
 * Namespaces are named `tt-<owner pid>-<tag>-<node>`; veth ends are created directly inside
 * their namespaces (never in the root one), so deleting the namespaces removes every link and
 * bridge. Files (configs, logs, the /big file) live in `/tmp/tandem-testbed/<pid>-<tag>/`,
 * which also holds an `owner` file ("pid starttime") used to recognise dead owners.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";

/** Directory holding one sub-directory per test bed run. */
export const TESTBED_ROOT = "/tmp/tandem-testbed";

/** Subnets of the three segments, each a /24. */
export const SUBNETS = { public: "10.200.0.0/24", private: "10.201.0.0/24", heartbeat: "10.202.0.0/24" } as const;

/** Bridges of the three segments inside the switch namespace. */
export const BRIDGES = { public: "br-pub", private: "br-priv", heartbeat: "br-hb" } as const;

const NS_PATTERN = /^tt-(\d+)-([0-9a-z]{4})-[a-z0-9-]+$/;
const OUTPUT_LIMIT_BYTES = 256 * 1024;

/** What to build; every field is optional. */
export interface TestbedOptions {
  /** Client namespaces c1..cN on the public segment (default 1). */
  clients?: number;
  /** Dispatchers d1 (and d2) (default 1). */
  dispatchers?: 1 | 2;
  /**
   * Whether the dispatchers get namespaces (default true). With false, `addresses.dispatchers`
   * still plans d1 (and d2) so configs can name them, but nothing is created for them: something
   * else (the appliance VMs of test/vm) plugs into the bridges with those addresses.
   */
  dispatcherNamespaces?: boolean;
  /** Real servers s1..sN on the private segment, 1–9 (default 3). */
  servers?: number;
  /** Size of the shared `/big` file in bytes (default 8 MiB). */
  bigFileBytes?: number;
  /** Seed of the PRNG filling `/big`; same seed and size give the same sha256 (default 1). */
  bigFileSeed?: number;
  /** Servers' default gateway; null for none (default dispatcher d1's private address). */
  serverGateway?: string | null;
  /** Clients' default gateway; null for none, the VIP being on-link (default null). */
  clientGateway?: string | null;
  /** Whether nginx writes the access log (default true; benchmarks may turn it off). */
  accessLog?: boolean;
  /** Deadline for each readiness wait (default 10,000 ms). */
  readyTimeoutMs?: number;
}

/** A client namespace. */
export interface ClientNode {
  name: string;
  ns: string;
  public: string;
}

/** A dispatcher namespace: eth0 public, eth1 private, eth2 heartbeat. */
export interface DispatcherNode {
  name: string;
  /** Its namespace; "" when the bed was built with `dispatcherNamespaces: false`. */
  ns: string;
  public: string;
  private: string;
  heartbeat: string;
  devices: { public: "eth0"; private: "eth1"; heartbeat: "eth2" };
}

/** A real server namespace (eth0 on the private segment) running nginx on :80 and dnsmasq on :53. */
export interface ServerNode {
  name: string;
  ns: string;
  private: string;
  /** The A record its dnsmasq answers for www.example.test. */
  dnsAnswer: string;
  /** The TXT record its dnsmasq answers for www.example.test. */
  dnsTxt: string;
}

/** Every address of the bed (see the module comment for the plan). */
export interface TestbedAddresses {
  subnets: typeof SUBNETS;
  prefixLength: 24;
  /** Suggested VIP on the public segment; no node holds it. */
  vip: string;
  /** Suggested shared gateway on the private segment; no node holds it. */
  privateRouter: string;
  clients: ClientNode[];
  dispatchers: DispatcherNode[];
  servers: ServerNode[];
}

/** The outcome of a command run to completion inside a namespace. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  /** True when the command was killed for exceeding `timeoutMs`. */
  timedOut: boolean;
  durationMs: number;
}

/** One parsed nginx access log line. */
export interface AccessLogEntry {
  remoteAddr: string;
  remotePort: number;
  serverAddr: string;
  method: string;
  uri: string;
  status: number;
  bodyBytes: number;
  requestTimeS: number;
  /** nginx's connection serial number, equal for requests sharing a keep-alive connection. */
  connection: number;
  connectionRequests: number;
  timeMs: number;
}

/** Result of `destroy()`: what could not be removed (empty when all went well). */
export interface DestroyReport {
  problems: string[];
}

/** A process started in a namespace; its output is kept (last 256 KB of each stream). */
export class BedProcess {
  /** Resolves with the exit code (or 128+signal) once the process has exited. */
  readonly exited: Promise<number>;
  private out = "";
  private err = "";
  private done = false;

  constructor(
    readonly label: string,
    readonly ns: string,
    readonly argv: string[],
    private readonly proc: Subprocess<"ignore", "pipe", "pipe">,
  ) {
    void collect(proc.stdout, (s) => (this.out = tail(this.out + s)));
    void collect(proc.stderr, (s) => (this.err = tail(this.err + s)));
    this.exited = proc.exited.then((code) => {
      this.done = true;
      return code;
    });
  }

  /** The process id (of the command itself: `ip netns exec` execs it). */
  get pid(): number {
    return this.proc.pid;
  }

  /** True until the process has exited. */
  get running(): boolean {
    return !this.done;
  }

  /** What the process wrote to stdout so far. */
  stdout(): string {
    return this.out;
  }

  /** What the process wrote to stderr so far. */
  stderr(): string {
    return this.err;
  }

  /** Sends a signal by PID if the process still runs; never throws. */
  signal(signal: NodeJS.Signals): void {
    if (this.done) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // Already gone: nothing to do.
    }
  }

  /** Stops the process: SIGCONT + `signal`, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 3000): Promise<void> {
    if (this.done) return;
    this.signal("SIGCONT");
    this.signal(signal);
    if (await exitsWithin(this.exited, graceMs)) return;
    this.signal("SIGKILL");
    await exitsWithin(this.exited, 5000);
  }
}

/** Live beds, cleaned up synchronously if the process exits or is signalled before destroy(). */
const live = new Set<Testbed>();
const hooks = {
  exit: () => destroyAllSync(),
  SIGINT: () => {
    destroyAllSync();
    process.exit(130);
  },
  SIGTERM: () => {
    destroyAllSync();
    process.exit(143);
  },
};

/** Builds a bed (removing stale ones of dead runs first); on failure it is torn down and the error rethrown. */
export async function createTestbed(options: TestbedOptions = {}): Promise<Testbed> {
  await cleanupStaleTestbeds();
  const bed = new Testbed(normalise(options));
  try {
    await bed.build();
  } catch (error) {
    await bed.destroy();
    throw error;
  }
  return bed;
}

/** A running bed; `destroy()` removes everything it made. */
export class Testbed {
  /** `<owner pid>-<tag>`, part of every namespace name and of the run directory. */
  readonly runId: string;
  /** The run's directory: configs, logs, the /big file. */
  readonly runDir: string;
  /** Every address and node. */
  readonly addresses: TestbedAddresses;
  /** The shared file served as /big (and rate-limited as /slow?bps=N). */
  readonly bigFile: { path: string; bytes: number; sha256: string };
  /** Namespace of the switch holding the bridges br-pub, br-priv, br-hb. */
  readonly switchNs: string;
  /** Names of the segment bridges inside `switchNs`. */
  readonly bridges = BRIDGES;
  private readonly tag: string;
  private readonly namespaces: string[] = [];
  private readonly procs = new Set<BedProcess>();
  private readonly services = new Map<string, BedProcess>();
  private destroying: Promise<DestroyReport> | undefined;

  constructor(private readonly options: Required<TestbedOptions>) {
    this.tag = Math.random().toString(36).slice(2, 6).padEnd(4, "0");
    this.runId = `${process.pid}-${this.tag}`;
    this.runDir = join(TESTBED_ROOT, this.runId);
    this.switchNs = this.nsName("switch");
    this.addresses = plan(options, (node) => this.nsName(node));
    this.bigFile = { path: join(this.runDir, "big.bin"), bytes: options.bigFileBytes, sha256: "" };
  }

  /** Every namespace of the bed, switch first. */
  get namespaceNames(): string[] {
    return [...this.namespaces];
  }

  /** Every process started and not yet reaped (services and spawn()ed ones). */
  get processes(): BedProcess[] {
    return [...this.procs].filter((p) => p.running);
  }

  /** Builds the whole bed; called once by createTestbed(). */
  async build(): Promise<void> {
    if (live.has(this) || this.destroying) throw new Error(`Test bed "${this.runId}" is already built`);
    live.add(this);
    if (live.size === 1) installHooks();
    mkdirSync(TESTBED_ROOT, { recursive: true });
    // Not recursive: an existing directory means a run id collision, which must not share files.
    mkdirSync(this.runDir);
    writeFileSync(join(this.runDir, "owner"), `${process.pid} ${processStartTime(process.pid)}\n`);
    this.bigFile.sha256 = writeBigFile(this.bigFile.path, this.options.bigFileBytes, this.options.bigFileSeed);
    await this.buildNetwork();
    await Promise.all(this.addresses.servers.map(async (s) => {
      writeServerFiles(this.runDir, s, this.bigFile.path, this.options.accessLog);
      await Promise.all([this.startNginx(s.name), this.startDnsmasq(s.name)]);
    }));
  }

  /** Maps a node name ("c1", "d1", "s2", "switch") or one of the bed's namespace names to the namespace. */
  ns(node: string): string {
    if (this.namespaces.includes(node)) return node;
    const ns = this.nsName(node);
    if (!this.namespaces.includes(ns)) throw new Error(`Unknown test bed node "${node}": expected one of ${this.namespaces.map((n) => n.slice(n.lastIndexOf("-") + 1)).join(", ")}`);
    return ns;
  }

  /** Runs argv inside a node's namespace to completion, killed after `timeoutMs` (default 30 s). Never throws on a non-zero exit. */
  async exec(node: string, argv: string[], options: { timeoutMs?: number } = {}): Promise<ExecResult> {
    return run(["ip", "netns", "exec", this.ns(node), ...argv], options.timeoutMs ?? 30_000);
  }

  /** Like exec() but throws when the command fails or times out, with its stderr. */
  async execOk(node: string, argv: string[], options: { timeoutMs?: number } = {}): Promise<ExecResult> {
    const r = await this.exec(node, argv, options);
    if (r.code !== 0 || r.timedOut) throw new Error(`Command "${argv.join(" ")}" in "${node}" failed${r.timedOut ? " (timed out)" : ""} with exit code ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r;
  }

  /** Starts argv in the background inside a node's namespace; the process is stopped by destroy(). */
  spawn(node: string, argv: string[], label = argv[0] ?? "process"): BedProcess {
    if (this.destroying) throw new Error(`Cannot start "${argv.join(" ")}": test bed "${this.runId}" is destroyed`);
    const ns = this.ns(node);
    const proc = Bun.spawn(["ip", "netns", "exec", ns, ...argv], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const bp = new BedProcess(`${label}@${node}`, ns, argv, proc);
    this.procs.add(bp);
    void bp.exited.then(() => this.procs.delete(bp));
    return bp;
  }

  /** Starts nginx on a server and resolves once it answers HTTP; throws if it is already running. */
  async startNginx(server: string): Promise<void> {
    const s = this.server(server);
    const dir = join(this.runDir, s.name);
    await this.startService(s, "nginx", ["nginx", "-e", "stderr", "-p", dir, "-c", join(dir, "nginx.conf")], async () => {
      const r = await this.exec(s.name, ["curl", "-s", "--noproxy", "*", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "1", `http://${s.private}/ready`], { timeoutMs: 3000 });
      return r.stdout === "200" ? null : `curl gave "${r.stdout}" (exit ${r.code})`;
    });
  }

  /** Stops nginx on a server (SIGTERM, then SIGKILL) and resolves once it has exited. */
  async stopNginx(server: string): Promise<void> {
    await this.stopService(server, "nginx");
  }

  /** Starts dnsmasq on a server and resolves once it answers DNS; throws if it is already running. */
  async startDnsmasq(server: string): Promise<void> {
    const s = this.server(server);
    await this.startService(s, "dnsmasq", dnsmasqArgv(s), async () => {
      const r = await this.exec(s.name, ["dig", "+short", "+tries=1", "+time=1", `@${s.private}`, "www.example.test", "A"], { timeoutMs: 3000 });
      return r.stdout.trim() === s.dnsAnswer ? null : `dig gave "${r.stdout.trim()}" (exit ${r.code})`;
    });
  }

  /** Stops dnsmasq on a server (SIGTERM, then SIGKILL) and resolves once it has exited. */
  async stopDnsmasq(server: string): Promise<void> {
    await this.stopService(server, "dnsmasq");
  }

  /** Freezes a server's nginx or dnsmasq with SIGSTOP (it keeps its sockets but answers nothing). */
  sigstop(server: string, service: "nginx" | "dnsmasq" = "nginx"): void {
    this.service(server, service).signal("SIGSTOP");
  }

  /** Resumes a process frozen by sigstop(). */
  sigcont(server: string, service: "nginx" | "dnsmasq" = "nginx"): void {
    this.service(server, service).signal("SIGCONT");
  }

  /** The running nginx or dnsmasq process of a server (throws if it is not running). */
  service(server: string, service: "nginx" | "dnsmasq"): BedProcess {
    const p = this.services.get(`${service}@${this.server(server).name}`);
    if (!p?.running) throw new Error(`${service} is not running on "${server}"`);
    return p;
  }

  /** Parsed access log of a server's nginx, oldest first (empty if accessLog is off). */
  accessLog(server: string): AccessLogEntry[] {
    const file = join(this.runDir, this.server(server).name, "access.log");
    if (!existsSync(file)) return [];
    return readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map(parseAccessLine);
  }

  /** Empties a server's access log (nginx appends to the same open file). */
  clearAccessLog(server: string): void {
    const file = join(this.runDir, this.server(server).name, "access.log");
    if (existsSync(file)) writeFileSync(file, "");
  }

  /** Sets every server's default route to `gateway` (an on-link private address), or removes it for null. */
  async setServerGateway(gateway: string | null): Promise<void> {
    await Promise.all(this.addresses.servers.map((s) => gateway === null
      ? this.exec(s.name, ["ip", "route", "del", "default"])
      : this.execOk(s.name, ["ip", "route", "replace", "default", "via", gateway])));
  }

  /** Takes a link down inside a node (e.g. cutLink("d1", "eth2") cuts d1's heartbeat segment). */
  async cutLink(node: string, dev: string): Promise<void> {
    await this.execOk(node, ["ip", "link", "set", "dev", dev, "down"]);
  }

  /** Brings a link taken down by cutLink() back up. */
  async restoreLink(node: string, dev: string): Promise<void> {
    await this.execOk(node, ["ip", "link", "set", "dev", dev, "up"]);
  }

  /**
   * Removes everything: stops every process by PID (SIGTERM, then SIGKILL), kills anything else
   * left in the namespaces, deletes the namespaces (and with them every veth and bridge) and the
   * run directory. Idempotent; never throws; reports what it could not remove.
   */
  destroy(): Promise<DestroyReport> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  /** The synchronous last-resort teardown run from the exit and signal hooks. */
  destroySync(): void {
    live.delete(this);
    const pids = [...this.procs].map((p) => p.pid);
    for (const ns of this.namespaces) pids.push(...netnsPidsSync(ns));
    for (const pid of pids) killQuietly(pid, "SIGKILL");
    // Bounded wait so the processes are gone (or zombies awaiting our exit) when this returns.
    const deadline = Date.now() + 2000;
    while (pids.some(aliveNotZombie) && Date.now() < deadline) Bun.sleepSync(5);
    for (const ns of this.namespaces) Bun.spawnSync(["ip", "netns", "del", ns], { stdout: "ignore", stderr: "ignore" });
    rmSync(this.runDir, { recursive: true, force: true });
  }

  private async teardown(): Promise<DestroyReport> {
    const problems: string[] = [];
    await Promise.all([...this.procs].map((p) => p.stop()));
    for (const p of this.procs) if (p.running) problems.push(`Process ${p.pid} (${p.label}) survived SIGKILL`);
    for (const ns of this.namespaces) {
      const pids = await netnsPids(ns);
      for (const pid of pids) killQuietly(pid, "SIGKILL");
      if (pids.length > 0) await waitGone(pids, 3000);
      const r = await run(["ip", "netns", "del", ns], 10_000);
      if (r.code !== 0) problems.push(`Cannot delete namespace "${ns}": ${r.stderr.trim()}`);
    }
    try {
      rmSync(this.runDir, { recursive: true, force: true });
    } catch (error) {
      problems.push(`Cannot remove "${this.runDir}": ${String(error)}`);
    }
    live.delete(this);
    if (live.size === 0) removeHooks();
    return { problems };
  }

  private nsName(node: string): string {
    return `tt-${process.pid}-${this.tag}-${node}`;
  }

  private server(name: string): ServerNode {
    const s = this.addresses.servers.find((x) => x.name === name);
    if (!s) throw new Error(`Unknown server "${name}": expected one of ${this.addresses.servers.map((x) => x.name).join(", ")}`);
    return s;
  }

  private async startService(s: ServerNode, service: string, argv: string[], probe: () => Promise<string | null>): Promise<void> {
    const key = `${service}@${s.name}`;
    if (this.services.get(key)?.running) throw new Error(`${service} is already running on "${s.name}"`);
    const p = this.spawn(s.name, argv, service);
    this.services.set(key, p);
    await waitReady(`${service} on "${s.name}"`, this.options.readyTimeoutMs, probe, p);
  }

  private async stopService(server: string, service: "nginx" | "dnsmasq"): Promise<void> {
    await this.services.get(`${service}@${this.server(server).name}`)?.stop();
  }

  private async addNamespace(node: string, sysctls: string[]): Promise<string> {
    const ns = this.nsName(node);
    // Recorded before creation so a failure half-way still tears it down.
    this.namespaces.push(ns);
    await sh(["ip", "netns", "add", ns]);
    await sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
    // IPv6 off: no DAD or router solicitations, only the traffic tests make.
    await sh(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1", ...sysctls]);
    return ns;
  }

  /** Creates a veth pair with one end on a switch bridge and the other as `dev` in `node`, addressed `cidr`. */
  private async attach(node: string, dev: string, bridge: string, cidr: string, port: string): Promise<void> {
    const ns = this.nsName(node);
    const swPort = `${this.tag}${port}`;
    await sh(["ip", "link", "add", swPort, "netns", this.switchNs, "type", "veth", "peer", "name", dev, "netns", ns]);
    await sh(["ip", "-n", this.switchNs, "link", "set", swPort, "master", bridge, "up"]);
    await sh(["ip", "-n", ns, "addr", "add", cidr, "dev", dev]);
    await sh(["ip", "-n", ns, "link", "set", dev, "up"]);
  }

  private async buildNetwork(): Promise<void> {
    const a = this.addresses;
    await this.addNamespace("switch", []);
    for (const br of Object.values(BRIDGES)) {
      await sh(["ip", "-n", this.switchNs, "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"]);
      await sh(["ip", "-n", this.switchNs, "link", "set", br, "up"]);
    }
    // Wide port range and TIME_WAIT reuse: short-connection benchmarks open tens of thousands of connections.
    const clientSysctls = ["net.ipv4.ip_local_port_range=1024 65535", "net.ipv4.tcp_tw_reuse=1"];
    await Promise.all([
      ...a.clients.map(async (c) => {
        await this.addNamespace(c.name, clientSysctls);
        await this.attach(c.name, "eth0", BRIDGES.public, `${c.public}/24`, c.name);
        if (this.options.clientGateway) await sh(["ip", "-n", c.ns, "route", "add", "default", "via", this.options.clientGateway]);
      }),
      ...(this.options.dispatcherNamespaces ? a.dispatchers : []).map(async (d) => {
        await this.addNamespace(d.name, ["net.ipv4.ip_forward=1"]);
        await this.attach(d.name, "eth0", BRIDGES.public, `${d.public}/24`, `${d.name}pub`);
        await this.attach(d.name, "eth1", BRIDGES.private, `${d.private}/24`, `${d.name}priv`);
        await this.attach(d.name, "eth2", BRIDGES.heartbeat, `${d.heartbeat}/24`, `${d.name}hb`);
      }),
      ...a.servers.map(async (s) => {
        await this.addNamespace(s.name, []);
        await this.attach(s.name, "eth0", BRIDGES.private, `${s.private}/24`, s.name);
        if (this.options.serverGateway) await sh(["ip", "-n", s.ns, "route", "add", "default", "via", this.options.serverGateway]);
      }),
    ]);
  }
}

/**
 * Removes namespaces (`tt-<pid>-<tag>-*`), their processes and run directories left by test bed
 * runs whose owner process is dead; runs of live processes are left alone. Returns what it removed.
 */
export async function cleanupStaleTestbeds(): Promise<string[]> {
  const removed: string[] = [];
  const list = await run(["ip", "netns", "list"], 10_000);
  const names = list.stdout.split("\n").map((l) => l.split(" ")[0] ?? "").filter((n) => NS_PATTERN.test(n));
  for (const ns of names) {
    const m = NS_PATTERN.exec(ns);
    if (!m || ownerAlive(`${m[1]}-${m[2]}`)) continue;
    const pids = await netnsPids(ns);
    for (const pid of pids) killQuietly(pid, "SIGKILL");
    await waitGone(pids, 3000);
    const r = await run(["ip", "netns", "del", ns], 10_000);
    if (r.code === 0) removed.push(ns);
  }
  if (existsSync(TESTBED_ROOT)) {
    for (const runId of readdirSync(TESTBED_ROOT)) {
      if (!/^\d+-[0-9a-z]{4}$/.test(runId) || ownerAlive(runId)) continue;
      rmSync(join(TESTBED_ROOT, runId), { recursive: true, force: true });
      removed.push(join(TESTBED_ROOT, runId));
    }
  }
  return removed;
}

function normalise(o: TestbedOptions): Required<TestbedOptions> {
  const servers = o.servers ?? 3;
  const clients = o.clients ?? 1;
  if (!Number.isInteger(servers) || servers < 1 || servers > 9) throw new Error(`Test bed servers "${servers}" is out of range: expected 1 to 9`);
  if (!Number.isInteger(clients) || clients < 1 || clients > 9) throw new Error(`Test bed clients "${clients}" is out of range: expected 1 to 9`);
  return {
    clients,
    dispatchers: o.dispatchers ?? 1,
    dispatcherNamespaces: o.dispatcherNamespaces ?? true,
    servers,
    bigFileBytes: o.bigFileBytes ?? 8 * 1024 * 1024,
    bigFileSeed: o.bigFileSeed ?? 1,
    serverGateway: o.serverGateway === undefined ? "10.201.0.2" : o.serverGateway,
    clientGateway: o.clientGateway ?? null,
    accessLog: o.accessLog ?? true,
    readyTimeoutMs: o.readyTimeoutMs ?? 10_000,
  };
}

function plan(o: Required<TestbedOptions>, ns: (node: string) => string): TestbedAddresses {
  const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  return {
    subnets: SUBNETS,
    prefixLength: 24,
    vip: "10.200.0.10",
    privateRouter: "10.201.0.1",
    clients: range(o.clients).map((i) => ({ name: `c${i}`, ns: ns(`c${i}`), public: `10.200.0.${100 + i}` })),
    dispatchers: range(o.dispatchers).map((i) => ({
      name: `d${i}`, ns: o.dispatcherNamespaces ? ns(`d${i}`) : "", public: `10.200.0.${1 + i}`, private: `10.201.0.${1 + i}`, heartbeat: `10.202.0.${1 + i}`,
      devices: { public: "eth0", private: "eth1", heartbeat: "eth2" },
    })),
    servers: range(o.servers).map((i) => ({ name: `s${i}`, ns: ns(`s${i}`), private: `10.201.0.${10 + i}`, dnsAnswer: `10.250.0.${i}`, dnsTxt: `server=s${i}` })),
  };
}

function dnsmasqArgv(s: ServerNode): string[] {
  return [
    "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
    `--listen-address=${s.private}`, "--port=53", "--pid-file=", "--log-facility=-", "--local=/example.test/",
    `--address=/www.example.test/${s.dnsAnswer}`, `--txt-record=www.example.test,${s.dnsTxt}`,
  ];
}

function writeServerFiles(runDir: string, s: ServerNode, bigPath: string, accessLog: boolean): void {
  const dir = join(runDir, s.name);
  mkdirSync(join(dir, "www"), { recursive: true });
  mkdirSync(join(dir, "tmp"), { recursive: true });
  writeFileSync(join(dir, "www", "index.html"), `hello from ${s.name}\n`);
  writeFileSync(join(dir, "www", "1k"), `${s.name} `.padEnd(1023, "x") + "\n");
  writeFileSync(join(dir, "nginx.conf"), nginxConf(dir, s.name, bigPath, accessLog));
}

function nginxConf(dir: string, name: string, bigPath: string, accessLog: boolean): string {
  const fields = ["remote_addr", "remote_port", "server_addr", "request_method", "request_uri", "status", "body_bytes_sent", "request_time", "connection", "connection_requests", "msec"];
  const format = `{${fields.map((f) => `"${f}":"$${f}"`).join(",")}}`;
  // One process (master_process off): its PID is the server, so sigstop/stop act on exactly what serves.
  return `master_process off;
daemon off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 16384; multi_accept on; }
http {
  types { text/html html; }
  default_type application/octet-stream;
  server_tokens off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  log_format tt escape=json '${format}';
  access_log ${accessLog ? `${dir}/access.log tt` : "off"};
  map $arg_bps $tt_slow_bps { "" 1m; default $arg_bps; }
  server {
    listen 80 backlog=4096;
    server_name _;
    root ${dir}/www;
    add_header X-Server ${name} always;
    location = / { try_files /index.html =404; }
    location = /1k { }
    location = /ready { access_log off; return 200 "ready\\n"; }
    location = /big { alias ${bigPath}; }
    location = /slow { alias ${bigPath}; limit_rate $tt_slow_bps; }
  }
}
`;
}

function parseAccessLine(line: string): AccessLogEntry {
  const r = JSON.parse(line) as Record<string, string>;
  const num = (k: string) => Number(r[k]);
  return {
    remoteAddr: r.remote_addr ?? "", remotePort: num("remote_port"), serverAddr: r.server_addr ?? "",
    method: r.request_method ?? "", uri: r.request_uri ?? "", status: num("status"), bodyBytes: num("body_bytes_sent"),
    requestTimeS: num("request_time"), connection: num("connection"), connectionRequests: num("connection_requests"),
    timeMs: Math.round(num("msec") * 1000),
  };
}

/** Fills `path` with `bytes` bytes from a seeded xorshift32 PRNG and returns their sha256 (hex). */
function writeBigFile(path: string, bytes: number, seed: number): string {
  const chunk = new Uint32Array(256 * 1024);
  const view = new Uint8Array(chunk.buffer);
  const hasher = new Bun.CryptoHasher("sha256");
  let x = (seed | 0) || 1;
  const fd = openSync(path, "w");
  try {
    for (let left = bytes; left > 0; left -= view.length) {
      for (let i = 0; i < chunk.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        chunk[i] = x;
      }
      const part = left >= view.length ? view : view.subarray(0, left);
      writeSync(fd, part);
      hasher.update(part);
    }
  } finally {
    closeSync(fd);
  }
  return hasher.digest("hex");
}

/** Polls `probe` (null = ready) until the deadline; fails early if `proc` exits. */
async function waitReady(what: string, timeoutMs: number, probe: () => Promise<string | null>, proc: BedProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "not probed";
  while (Date.now() < deadline) {
    if (!proc.running) throw new Error(`${what} exited with code ${await proc.exited} before it was ready: ${proc.stderr().trim()}`);
    const result = await probe();
    if (result === null) return;
    last = result;
    await Promise.race([proc.exited, Bun.sleep(25)]);
  }
  throw new Error(`${what} is not ready after ${timeoutMs} ms: last probe: ${last}; stderr: ${proc.stderr().trim()}`);
}

async function run(argv: string[], timeoutMs: number): Promise<ExecResult> {
  const start = performance.now();
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr, timedOut, durationMs: performance.now() - start };
}

async function sh(argv: string[]): Promise<void> {
  const r = await run(argv, 15_000);
  if (r.code !== 0) throw new Error(`Command "${argv.join(" ")}" failed with exit code ${r.code}: ${r.stderr.trim()}`);
}

async function netnsPids(ns: string): Promise<number[]> {
  const r = await run(["ip", "netns", "pids", ns], 10_000);
  return r.stdout.split("\n").filter((l) => /^\d+$/.test(l)).map(Number);
}

function netnsPidsSync(ns: string): number[] {
  const r = Bun.spawnSync(["ip", "netns", "pids", ns], { stdout: "pipe", stderr: "ignore" });
  return r.stdout.toString().split("\n").filter((l) => /^\d+$/.test(l)).map(Number);
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** True while process `pid` exists and is not a zombie. */
export function aliveNotZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function waitGone(pids: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(aliveNotZombie) && Date.now() < deadline) await Bun.sleep(10);
}

async function exitsWithin(exited: Promise<number>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const result = await Promise.race([exited.then(() => true as const), timeout]);
  clearTimeout(timer);
  return result;
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or "" if it is gone. */
export function processStartTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
  } catch {
    return "";
  }
}

/** True if the run's owner process still lives (same PID and, when recorded, same start time). */
function ownerAlive(runId: string): boolean {
  const pid = Number(runId.split("-")[0]);
  // A zombie owner is dead too (here PID 1 may take a while to reap orphans).
  if (!aliveNotZombie(pid)) return false;
  const now = processStartTime(pid);
  try {
    const recorded = readFileSync(join(TESTBED_ROOT, runId, "owner"), "utf8").trim().split(" ")[1];
    return recorded === undefined || recorded === now;
  } catch {
    return true;
  }
}

function destroyAllSync(): void {
  for (const bed of [...live]) bed.destroySync();
}

function installHooks(): void {
  process.on("exit", hooks.exit);
  process.on("SIGINT", hooks.SIGINT);
  process.on("SIGTERM", hooks.SIGTERM);
}

function removeHooks(): void {
  process.off("exit", hooks.exit);
  process.off("SIGINT", hooks.SIGINT);
  process.off("SIGTERM", hooks.SIGTERM);
}

async function collect(stream: ReadableStream<Uint8Array>, add: (s: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) add(decoder.decode(chunk, { stream: true }));
}

function tail(s: string): string {
  return s.length > OUTPUT_LIMIT_BYTES ? s.slice(-OUTPUT_LIMIT_BYTES) : s;
}
