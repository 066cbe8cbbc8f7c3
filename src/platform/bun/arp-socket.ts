/**
 * Gratuitous ARP under Bun: one AF_PACKET raw socket through bun:ffi on glibc, kept open and
 * reused for every announcement, sending whole Ethernet frames built by core/net/arp-announcement.
 */

import { readFileSync } from "node:fs";
import { ptr } from "bun:ffi";
import { lazyLibc, lastLibcError } from "./libc-error.ts";
import { ARP_ANNOUNCEMENT_BYTES, ETHERTYPE_ARP, parseMac, writeArpAnnouncement } from "../../core/net/arp-announcement.ts";
import { parseIpv4 } from "../../core/packet/ipv4-address.ts";

// linux/socket.h, linux/if_packet.h, linux/if_arp.h (x86-64 and arm64 agree).
const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const MSG_DONTWAIT = 0x40;
const SOCKADDR_LL_BYTES = 20;

const LIBC_SYMBOLS = {
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  sendto: { args: ["i32", "ptr", "u64", "i32", "ptr", "u32"], returns: "i64" },
  close: { args: ["i32"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
  strerror: { args: ["i32"], returns: "ptr" },
} as const;

const bindLibc = lazyLibc(LIBC_SYMBOLS);


/** Sends ARP announcements; see `createArpSocket`. */
export interface ArpSocket {
  /**
   * Broadcasts one ARP announcement of `address` from `device`'s MAC. Never blocks. Throws
   * `Cannot announce "ADDRESS" on "DEVICE": REASON` when the device is missing, down or has no
   * MAC, the address is not IPv4, or the kernel refuses the frame.
   */
  announce(device: string, address: string): void;
  /** Closes the raw socket; a later `announce` opens a new one. Idempotent. */
  close(): void;
}

/**
 * Returns an ArpSocket whose AF_PACKET socket is opened on the first announcement (it needs
 * CAP_NET_RAW) and reused after. Protocol 0 makes it send-only: the kernel queues no received
 * frames on it, so it costs nothing between takeovers.
 */
export function createArpSocket(): ArpSocket {
  let fd = -1;
  // Over explicit ArrayBuffers: a small typed array may keep its bytes inline and move them
  // when `.buffer` is first read, which would leave a pointer handed to C dangling.
  const frame = new Uint8Array(new ArrayBuffer(ARP_ANNOUNCEMENT_BYTES));
  const sll = new Uint8Array(new ArrayBuffer(SOCKADDR_LL_BYTES));
  return {
    announce(device, address) {
      const fail = (reason: string) => new Error(`Cannot announce "${address}" on "${device}": ${reason}`);
      const ipv4 = parseIpv4(address);
      if (ipv4 === undefined) throw fail("the address is not a dotted-quad IPv4 address");
      const { ifindex, mac } = readDevice(device, fail);
      const c = bindLibc();
      if (fd < 0) {
        fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
        if (fd < 0) throw fail(`cannot open a packet socket: ${lastLibcError(c)}`);
      }
      writeArpAnnouncement(mac, ipv4, frame);
      // struct sockaddr_ll: family, protocol (network order), ifindex, hatype, pkttype, halen,
      // addr[8]. With SOCK_RAW the frame carries its own Ethernet header; the kernel only needs
      // the interface, but the destination is filled in as the header says.
      const view = new DataView(sll.buffer);
      view.setUint16(0, AF_PACKET, true);
      view.setUint16(2, ETHERTYPE_ARP, false);
      view.setInt32(4, ifindex, true);
      sll[10] = 0;
      sll[11] = 6;
      sll.fill(0xff, 12, 18);
      const sent = Number(c.sendto(fd, ptr(frame), frame.length, MSG_DONTWAIT, ptr(sll), sll.length));
      // ENETDOWN for a device that is down, ENXIO for one deleted since we read its index.
      if (sent !== frame.length) throw fail(sent < 0 ? lastLibcError(c) : `only ${sent} of ${frame.length} bytes were sent`);
    },
    close() {
      // fd >= 0 means libc was bound by announce.
      if (fd >= 0) bindLibc().close(fd);
      fd = -1;
    },
  };
}

/** The interface index and MAC of `device`, from sysfs (the sysfs of the network namespace it was mounted in). */
function readDevice(device: string, fail: (reason: string) => Error): { ifindex: number; mac: Uint8Array } {
  // A device name never holds "/" and is never "." or ".."; checked so that it cannot leave /sys/class/net.
  if (device === "" || device === "." || device === ".." || device.includes("/") || device.length > 15) throw fail("no such device");
  let ifindexText: string;
  let macText: string;
  try {
    ifindexText = readFileSync(`/sys/class/net/${device}/ifindex`, "utf8").trim();
    macText = readFileSync(`/sys/class/net/${device}/address`, "utf8").trim();
  } catch {
    throw fail("no such device");
  }
  const ifindex = Number(ifindexText);
  const mac = parseMac(macText);
  if (!Number.isInteger(ifindex) || ifindex <= 0) throw fail(`sysfs gives interface index "${ifindexText}"`);
  if (mac === undefined || mac.every((b) => b === 0)) throw fail("the device has no Ethernet address");
  return { ifindex, mac };
}
