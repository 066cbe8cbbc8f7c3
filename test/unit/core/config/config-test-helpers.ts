import { formatIssue } from "../../../../src/core/config/issues.ts";
import { loadConfigText, type LoadResult } from "../../../../src/core/config/load-config.ts";

/** A valid two-node config used as the base that tests break one key at a time. */
export const BASE = `version = 1

[cluster]
name = "www"
auth_key_file = "authkey"

[[node]]
name = "a"
mac = "52:54:00:00:00:01"
interfaces.public = { device = "eth0", address = "10.0.0.1/24" }
interfaces.private = { device = "eth1", address = "10.1.0.1/24" }

[[node]]
name = "b"
mac = "52:54:00:00:00:02"
interfaces.public = { device = "eth0", address = "10.0.0.2/24" }
interfaces.private = { device = "eth1", address = "10.1.0.2/24" }

[heartbeat]
keepalive = "100ms"
deadtime = "500ms"
links = [{ kind = "udp", interface = "private" }]

[[vip]]
name = "web"
address = "10.0.0.10"
interface = "public"

[[service]]
name = "http"
vip = "web"
port = 80
servers = [
  { address = "10.1.0.11" },
  { address = "10.1.0.12", port = 8080 },
]
`;

/** Loads `text` as "t.toml" and returns the formatted issue lines. */
export function lines(text: string): string[] {
  return loadConfigText(text, "t.toml").issues.map(formatIssue);
}

/** Loads `text` as "t.toml". */
export function load(text: string): LoadResult {
  return loadConfigText(text, "t.toml");
}

/** BASE with the first occurrence of `from` replaced by `to`; fails loudly if `from` is absent. */
export function edit(from: string, to: string, text = BASE): string {
  if (!text.includes(from)) throw new Error(`Test bug: ${JSON.stringify(from)} is not in the text`);
  return text.replace(from, to);
}
