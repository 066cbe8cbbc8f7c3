/** The heartbeat's I/O under Bun: UDP sockets, serial lines, gratuitous ARP and witness pings. */

import type { HaNet } from "../../core/ports.ts";
import { parseIpv4 } from "../../core/packet/ipv4-address.ts";
import { createArpSocket } from "./arp-socket.ts";
import { openSerialLine } from "./serial-line.ts";
import { openUdpDatagram } from "./udp-datagram.ts";

/** The Bun HaNet; its one ARP socket is opened on the first announcement and kept for the process's life. */
export function createBunHaNet(): HaNet {
  const arp = createArpSocket();
  return {
    openDatagram: openUdpDatagram,
    openSerial: openSerialLine,
    announceArp: async (device, address) => arp.announce(device, address),
    ping: pingOnce,
  };
}

/**
 * Runs the system's `ping -c 1 -n -W SECONDS ADDRESS` (iputils and busybox both take these flags;
 * busybox's -W is whole seconds, so it gets the timeout rounded up) and resolves true when it
 * exits 0 within `timeoutMs`; otherwise it is killed by PID and the answer is false. Never
 * rejects: an address that is not a dotted quad, or a ping that cannot start, is false.
 */
export function pingOnce(address: string, timeoutMs: number): Promise<boolean> {
  // Only a strict dotted quad reaches argv, so an "address" can never be read as an option.
  if (parseIpv4(address) === undefined || !(timeoutMs > 0)) return Promise.resolve(false);
  const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn(["ping", "-c", "1", "-n", "-W", seconds, address], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      resolve(false);
    }, timeoutMs);
    proc.exited.then(
      (code) => {
        clearTimeout(timer);
        resolve(code === 0);
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}
