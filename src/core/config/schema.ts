import {
  bool,
  cidr,
  computedDefault,
  defaultsTable,
  duration,
  int,
  ipv4,
  list,
  listen,
  mac,
  map,
  num,
  oneOf,
  optional,
  partialTable,
  str,
  table,
  tagged,
  withDefault,
  type Decoded,
  type Field,
} from "./schema-dsl.ts";

const NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const NAME_HINT = "use 1 to 32 lower-case letters, digits, '-' or '_', starting with a letter";
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function name(doc: string): Field<string> {
  return str(doc, { pattern: NAME, hint: NAME_HINT });
}

function port(doc: string): Field<number> {
  return int(doc, 1, 65535);
}

function command(doc: string): Field<string[]> {
  return list(doc, str("One argument; the first is the program, an absolute path or a name on PATH."), 1, 64);
}

/** Events that alerts can subscribe to; the engine emits exactly these kinds. */
export const ALERT_EVENTS = [
  "server_down",
  "server_up",
  "server_flapping",
  "failover",
  "takeover",
  "release",
  "link_down",
  "link_up",
  "peer_dead",
  "peer_alive",
  "split_brain",
  "sync_lag",
  "content_mismatch",
  "config_changed",
] as const;

const interfaceField = table("A network interface of this node, by the role it plays.", {
  device: str('Kernel device name, such as "eth0".', { pattern: /^[A-Za-z0-9_.:-]{1,15}$/, hint: "a Linux device name of 1 to 15 characters" }),
  address: cidr("This node's own address on the interface, with prefix length."),
  gateway: optional(ipv4("Default gateway reached through this interface; at most one interface per node has one.")),
  mtu: withDefault(int("MTU set on the device.", 576, 9000), 1500),
});

const nodeField = table("One host of the pair. Both hosts read the same file; each finds its own entry by MAC address or host name.", {
  name: name("Node name, used in logs, heartbeats, events and the UI."),
  mac: optional(mac("MAC address of one of the host's NICs: how the host recognises its own entry.")),
  hostname: optional(str("Host name, an alternative (or addition) to `mac` for recognising the host.", { maxLength: 64 })),
  priority: withDefault(int("Preference for the active role; the higher priority wins when both nodes start.", 1, 255), 100),
  interfaces: map(
    "Interfaces by role (such as `public`, `private`, `heartbeat`). Every node declares the same roles.",
    interfaceField,
    NAME,
    NAME_HINT,
  ),
});

const udpLink = {
  interface: name("Interface role the heartbeat is sent on; the peer's address on that role is the destination."),
  port: withDefault(port("UDP port heartbeats are sent to and received on."), 694),
  mode: withDefault(oneOf("How heartbeats are addressed: to the peer, to the subnet broadcast, or to a multicast group.", ["unicast", "broadcast", "multicast"]), "unicast"),
  group: optional(ipv4("Multicast group, required with `mode = \"multicast\"` (224.0.0.0/4).")),
};

const serialLink = {
  device: str('Serial device, such as "/dev/ttyS1".', { pattern: /^\/dev\/[A-Za-z0-9_/.-]+$/, hint: 'a device path under /dev, such as "/dev/ttyS1"' }),
  baud: withDefault(int("Line speed in bit/s (both ends must agree).", 1200, 4_000_000), 115200),
};

const heartbeatField = defaultsTable(table("Heartbeat timers and links, in the spirit of heartbeat's ha.cf.", {
  keepalive: withDefault(duration("Interval between heartbeats on every link.", 100, MINUTE), 2 * SECOND),
  warntime: computedDefault(duration("Silence after which a late heartbeat is logged as a warning.", 100, 10 * MINUTE), "halfway between keepalive and deadtime"),
  deadtime: withDefault(duration("Silence on every link after which the peer is declared dead.", 200, 10 * MINUTE), 5 * SECOND),
  initdead: computedDefault(duration("Deadtime used once after start-up, while the peer may still be booting.", 200, HOUR), "twice deadtime"),
  auto_failback: withDefault(bool("Whether the preferred (higher priority) node takes the VIPs back when it returns, once its connection table is synced."), true),
  ping_nodes: withDefault(list("Witness addresses: a node that reaches none of them never takes over, and an active node that loses them all hands over.", ipv4("A witness address, such as the upstream router.")), []),
  ping_interval: withDefault(duration("Interval between pings to each witness.", 100, MINUTE), SECOND),
  ping_deadtime: withDefault(duration("Silence after which a witness counts as unreachable.", 200, 10 * MINUTE), 5 * SECOND),
  links: withDefault(
    list(
      "Links heartbeats travel over, all at once; a pair needs at least one. The peer is dead only when every link has been silent for deadtime.",
      tagged("One heartbeat link.", "kind", {}, { udp: udpLink, serial: serialLink }),
      0,
      8,
    ),
    [],
  ),
  garp: defaultsTable(table("Gratuitous ARP sent when this node takes the VIPs.", {
    count: withDefault(int("Gratuitous ARPs sent per VIP in the first burst.", 1, 100), 5),
    interval: withDefault(duration("Interval between ARPs within a burst.", 10, 10 * SECOND), 200),
    repeat_after: withDefault(duration("Delay before a second burst (like keepalived's garp_master_delay); 0s disables it.", 0, 10 * MINUTE), 5 * SECOND),
  })),
  fence: optional(table("A command run before takeover; a non-zero exit aborts the takeover.", {
    command: command("The fence command and its arguments; TANDEM_PEER and TANDEM_NODE are set in its environment."),
    timeout: withDefault(duration("Time the fence command may take before it counts as failed.", 100, 10 * MINUTE), 30 * SECOND),
  })),
}));

const syncField = defaultsTable(table("Connection-state and config replication between the pair.", {
  interface: computedDefault(name("Interface role the sync stream runs on."), "the interface of the first udp heartbeat link"),
  port: withDefault(port("UDP port of the connection-state sync (batches and acknowledgements, authenticated with the cluster key)."), 8694),
  batch_interval: withDefault(duration("Longest a connection-table change waits before it is sent, batched with others.", 1, SECOND), 20),
  alert_after: withDefault(duration("How long the standby's connection table may stay out of sync before the `sync_lag` event (a lost batch or a restarted peer is usually mended within a second).", SECOND, HOUR), 10 * SECOND),
}));

const timeoutsField = defaultsTable(table("Connection-table timeouts per state, as in IPVS.", {
  tcp_syn: withDefault(duration("A TCP connection that has not completed its handshake.", SECOND, HOUR), MINUTE),
  tcp_established: withDefault(duration("An established TCP connection with no packets.", SECOND, 7 * DAY), 15 * MINUTE),
  tcp_fin: withDefault(duration("A TCP connection closing (FIN seen, waiting for the other side).", SECOND, HOUR), 2 * MINUTE),
  tcp_time_wait: withDefault(duration("A TCP connection after both FINs.", SECOND, HOUR), 2 * MINUTE),
  tcp_close: withDefault(duration("A TCP connection after a RST.", SECOND, HOUR), 10 * SECOND),
  udp: withDefault(duration("A UDP flow with no packets.", SECOND, DAY), MINUTE),
  icmp: withDefault(duration("An ICMP echo flow with no packets.", SECOND, HOUR), 10 * SECOND),
}));

const dispatcherField = defaultsTable(table("The packet engine.", {
  tun: withDefault(str("Name of the TUN device the dispatcher creates.", { pattern: /^[A-Za-z0-9_.-]{1,15}$/, hint: "a Linux device name of 1 to 15 characters" }), "tandem0"),
  max_connections: withDefault(int("Capacity of the connection table. When full, embryonic entries are evicted first, then new connections are refused and counted.", 1024, 16_000_000), 1_000_000),
  local_port_min: withDefault(port("Lowest local port used for fullnat source ports."), 1024),
  local_port_max: withDefault(port("Highest local port used for fullnat source ports."), 65535),
  offload: withDefault(bool("Use TUN offloads (virtio-net header, checksum and TSO) for large TCP segments."), true),
  route_table: withDefault(int("Routing table tandem owns for steering server replies into the TUN device; nothing else may use it.", 1, 0x7ffffffe), 7100),
  rule_priority: withDefault(int("Priority of tandem's policy-routing rules (after the local table's 0, before main's 32766).", 1, 32765), 7100),
  timeouts: timeoutsField,
}));

const vipField = table("A virtual IP address clients connect to; it moves to whichever node is active.", {
  name: optional(name("A name services can use to refer to the VIP; defaults to its address.")),
  address: ipv4("The virtual address."),
  interface: name("Interface role the VIP is announced on (gratuitous ARP goes out there)."),
});

const monitorCommon = {
  interval: withDefault(duration("Time between probes of each server.", 100, HOUR), 5 * SECOND),
  timeout: withDefault(duration("Time a probe may take before it counts as failed; less than interval.", 10, 10 * MINUTE), 2 * SECOND),
  rise: withDefault(int("Consecutive successes that bring a down server up.", 1, 100), 2),
  fall: withDefault(int("Consecutive failures that take an up server down.", 1, 100), 3),
  initial: withDefault(oneOf("State a server starts in before its first probe completes (up, like keepalived and HAProxy; down keeps a new server out until it has passed rise probes).", ["up", "down"]), "up"),
  jitter: computedDefault(duration("Random spread added to each interval so probes do not march in step.", 0, HOUR), "a tenth of interval"),
  port: optional(port("Port probed; defaults to the server's port.")),
};

const httpMonitor = {
  method: withDefault(oneOf("HTTP method of the probe.", ["GET", "HEAD", "POST", "OPTIONS"]), "GET"),
  path: withDefault(str("Request path.", { pattern: /^\//, hint: 'a path starting with "/"' }), "/"),
  host: optional(str("Host header; defaults to the server address.")),
  expect_status: withDefault(str("Accepted status codes: a code, a range, or a comma list such as \"200-299,301\".", { pattern: /^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$/, hint: 'status codes or ranges such as "200-399" or "200,301"' }), "200-399"),
  expect_body: optional(str("A regular expression the response body must match.")),
};

const monitorVariants = {
  http: httpMonitor,
  https: { ...httpMonitor, verify_tls: withDefault(bool("Whether the server's certificate must verify (backends are often probed by IP, so off by default)."), false) },
  tcp: {
    send: optional(str("Text sent after connecting (escape sequences such as \\r\\n allowed).")),
    expect: optional(str("A regular expression the first bytes received must match.")),
  },
  dns: {
    query: str("Name to look up."),
    type: withDefault(oneOf("Record type asked for.", ["A", "AAAA", "CNAME", "MX", "NS", "SOA", "TXT", "SRV", "PTR"]), "A"),
    expect_rcode: withDefault(oneOf("Expected response code.", ["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED"]), "NOERROR"),
    expect_answer: optional(str("A value that must appear among the answers (such as an address).")),
  },
  ping: {},
  exec: {
    command: command("The check command; TANDEM_SERVER, TANDEM_PORT and TANDEM_SERVICE are set in its environment. Exit 0 means up."),
  },
};

/** The monitor field: a tagged table selecting the probe kind; exported for per-server overrides. */
export const monitorField = tagged("How the servers of a service are probed (mon-style).", "kind", monitorCommon, monitorVariants);

/** All keys a per-server monitor override may set, whichever kind the service uses. */
export const monitorOverrideShape: Readonly<Record<string, Field<unknown>>> = Object.assign(
  {},
  monitorCommon,
  ...Object.values(monitorVariants),
);

const serverField = table("A real server behind a service.", {
  address: ipv4("The server's address."),
  port: computedDefault(port("The server's port."), "the service's port"),
  weight: withDefault(int("Share of new connections relative to the other servers; 0 takes none.", 0, 65535), 1),
  state: withDefault(oneOf("Administrative state: drain takes no new connections while existing ones continue; disabled takes none.", ["active", "drain", "disabled"]), "active"),
  monitor: optional(partialTable("Per-server monitor settings that override the service's (any monitor key except kind).", monitorOverrideShape)),
});

const serviceField = table("A virtual service: a VIP, port and protocol, balanced over real servers.", {
  name: name("Service name, used in metrics, events and the UI."),
  vip: str("The VIP this service listens on: a VIP's name or address."),
  port: port("Port on the VIP."),
  protocol: withDefault(oneOf("Transport protocol.", ["tcp", "udp"]), "tcp"),
  forwarding: withDefault(oneOf("nat: only the destination is rewritten and servers route replies via the dispatcher; fullnat: the source becomes a local address too, so servers need no routing change.", ["nat", "fullnat"]), "nat"),
  local_addresses: optional(list("Source addresses for fullnat (on a server-side interface); they move with the VIPs.", ipv4("A local address."), 1, 64)),
  scheduler: withDefault(oneOf("How a server is chosen for a new connection.", ["rr", "wrr", "lc", "wlc", "sh", "adaptive"]), "wlc"),
  persistence: withDefault(duration("Source-IP affinity: a client returns to the same server within this window; 0s is off.", 0, DAY), 0),
  persistence_netmask: withDefault(int("Prefix length that groups clients for persistence (24 keeps a /24 on one server).", 0, 32), 32),
  failsafe: withDefault(oneOf("off; connect: a connection whose server does not answer its SYN is retried on another; replay: requests are kept until answered and re-sent to another server if their server dies (Netkestra's transaction fail-safe).", ["off", "connect", "replay"]), "connect"),
  failsafe_timeout: withDefault(duration("How long a request may go unanswered before the fail-safe re-sends it.", 100, 10 * MINUTE), 10 * SECOND),
  monitor: optional(monitorField),
  passive: defaultsTable(table("Passive health from live traffic: refused or timed-out connections and resets count as failures.", {
    enabled: withDefault(bool("Whether live traffic failures count against a server."), true),
    failures: withDefault(int("Failures within window that take a server down.", 1, 10_000), 5),
    window: withDefault(duration("Window the failures are counted in.", SECOND, HOUR), 10 * SECOND),
  })),
  flap: defaultsTable(table("Flap damping: a server that changes state too often is held down.", {
    window: withDefault(duration("Window the state changes are counted in.", SECOND, DAY), MINUTE),
    max_changes: withDefault(int("State changes within window that count as flapping.", 2, 1000), 4),
    hold: withDefault(duration("First hold-down time; it doubles each time the server flaps again.", SECOND, DAY), 30 * SECOND),
    hold_max: withDefault(duration("Longest hold-down time.", SECOND, 7 * DAY), 10 * MINUTE),
  })),
  adaptive: defaultsTable(table("Self-controlled distribution (scheduler = \"adaptive\"): weights follow measured response times.", {
    interval: withDefault(duration("How often weights are recomputed.", 100, HOUR), 5 * SECOND),
    smoothing: withDefault(num("Weight of the newest sample in the moving averages of response time and capacity (0..1).", 0.01, 1), 0.3),
    min_share: withDefault(num("Smallest share of traffic any healthy server keeps, so a slow server is never starved.", 0, 0.5), 0.02),
  })),
  content: optional(table("Content consistency check: fetch one URL from every server and compare digests.", {
    path: withDefault(str("Path fetched from every server.", { pattern: /^\//, hint: 'a path starting with "/"' }), "/"),
    interval: withDefault(duration("How often the content is compared.", SECOND, DAY), MINUTE),
  })),
  servers: list("The real servers.", serverField, 1, 1024),
});

const alertField = tagged(
  "Where events are sent.",
  "kind",
  {
    on: list("Events that trigger this alert.", oneOf("An event kind.", ALERT_EVENTS), 1, ALERT_EVENTS.length),
    alert_every: withDefault(duration("Repeat interval while the condition lasts; 0s sends once.", 0, DAY), 0),
  },
  {
    log: {},
    webhook: {
      url: str("URL the event is POSTed to as JSON.", { pattern: /^https?:\/\/[^\s/]+/, hint: 'an http:// or https:// URL such as "http://192.0.2.10:9000/hook"' }),
      timeout: withDefault(duration("Time one delivery attempt may take.", 100, MINUTE), 5 * SECOND),
      retries: withDefault(int("Delivery attempts after the first, with exponential backoff.", 0, 20), 5),
    },
    exec: {
      command: command("Command run per event; TANDEM_EVENT, TANDEM_SUBJECT and TANDEM_DETAIL (JSON) are set in its environment."),
      timeout: withDefault(duration("Time the command may take.", 100, 10 * MINUTE), 30 * SECOND),
    },
  },
);

/** The whole config file. */
export const configSchema = table("tandem.toml", {
  version: int("Format version of this file; this release reads 1.", 1, 1),
  cluster: table("The pair as a whole.", {
    name: name("Cluster name; heartbeats from another cluster are rejected."),
    auth_key_file: optional(str("File holding the shared secret (at least 32 bytes) that authenticates heartbeats, state sync and config sync; relative to this file. Required with two nodes.")),
  }),
  node: list("The hosts: one for a single appliance, two for a pair.", nodeField, 1, 2),
  heartbeat: heartbeatField,
  sync: syncField,
  dispatcher: dispatcherField,
  vip: withDefault(list("Virtual IP addresses.", vipField, 0, 64), []),
  service: withDefault(list("Virtual services.", serviceField, 0, 256), []),
  alert: withDefault(list("Alert destinations.", alertField, 0, 64), []),
  web: defaultsTable(table("The web UI, JSON API and Prometheus metrics.", {
    listen: withDefault(listen("Address and port the UI listens on."), { address: "0.0.0.0", port: 8080 }),
    admin_password_hash: optional(str("Password hash (argon2id, as printed by `tandem passwd`) for the admin user; without it the UI is read-only.")),
    metrics: withDefault(bool("Whether /metrics serves Prometheus metrics."), true),
  })),
  store: defaultsTable(table("The sqlite store for config versions and events.", {
    path: withDefault(str("Path of the sqlite database file; on the appliance it lives on the data partition."), "/data/tandem.db"),
    events_keep: withDefault(duration("How long events are kept.", HOUR, 3650 * DAY), 90 * DAY),
  })),
  log: defaultsTable(table("Logging.", {
    level: withDefault(oneOf("Lowest level logged.", ["debug", "info", "warn", "error"]), "info"),
  })),
});

/** The decoded config exactly as written (defaults applied, computed defaults still absent). */
export type DecodedConfig = Decoded<typeof configSchema>;
