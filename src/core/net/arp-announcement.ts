/**
 * ARP announcements (gratuitous ARP) as whole Ethernet frames, for a raw packet socket: what a
 * node that has just taken over a virtual address broadcasts so that neighbours and switches
 * learn its MAC for that address.
 */

/** Bytes of an Ethernet frame carrying one ARP packet: 14-byte header + 28-byte ARP body (no padding, no FCS). */
export const ARP_ANNOUNCEMENT_BYTES = 42;

/** EtherType of ARP (IEEE 802 numbers; RFC 826). */
export const ETHERTYPE_ARP = 0x0806;

const ETHERTYPE_IPV4 = 0x0800;
const HTYPE_ETHERNET = 1;
const OPER_REQUEST = 1;

/**
 * Parses a MAC address written as six colon-separated hex pairs ("02:00:5e:10:00:01", either
 * case, as /sys/class/net/DEV/address and `ip link` print it) into 6 bytes. Returns undefined for
 * anything else, including dashes, dots, missing leading zeros and surrounding spaces.
 */
export function parseMac(text: string): Uint8Array | undefined {
  if (text.length !== 17) return undefined;
  const mac = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    if (i > 0 && text.charCodeAt(i * 3 - 1) !== 58) return undefined;
    const high = hexDigit(text.charCodeAt(i * 3));
    const low = hexDigit(text.charCodeAt(i * 3 + 1));
    if (high < 0 || low < 0) return undefined;
    mac[i] = high * 16 + low;
  }
  return mac;
}

/** Formats 6 bytes as a lowercase colon-separated MAC address ("02:00:5e:10:00:01"). */
export function formatMac(mac: Uint8Array): string {
  let text = "";
  for (let i = 0; i < 6; i++) text += (i > 0 ? ":" : "") + (mac[i] ?? 0).toString(16).padStart(2, "0");
  return text;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Writes into `out[0, 42)` the Ethernet frame of an ARP announcement of IPv4 `address` (unsigned
 * 32-bit, as `parseIpv4` returns it) from the interface whose MAC is `mac`, and returns 42.
 * Throws a RangeError when `mac` is not 6 bytes or `out` is shorter than ARP_ANNOUNCEMENT_BYTES.
 */
export function writeArpAnnouncement(mac: Uint8Array, address: number, out: Uint8Array): number {
  if (mac.length !== 6) throw new RangeError(`Cannot build an ARP announcement from a MAC of "${mac.length}" bytes: expected 6`);
  if (out.length < ARP_ANNOUNCEMENT_BYTES) {
    throw new RangeError(`Cannot build an ARP announcement in a buffer of "${out.length}" bytes: ${ARP_ANNOUNCEMENT_BYTES} are needed`);
  }
  // Ethernet II header: to everyone on the segment, so every neighbour's cache and every
  // switch's forwarding table sees the new owner (RFC 5227 §2.3: announcements are broadcast).
  out.fill(0xff, 0, 6);
  out.set(mac, 6);
  put16(out, 12, ETHERTYPE_ARP);
  // ARP body (RFC 826). RFC 5227 §3 prefers a request to a reply for announcements: some
  // implementations ignore unsolicited replies, while every one processes requests.
  put16(out, 14, HTYPE_ETHERNET);
  put16(out, 16, ETHERTYPE_IPV4);
  out[18] = 6;
  out[19] = 4;
  put16(out, 20, OPER_REQUEST);
  out.set(mac, 22);
  put32(out, 28, address);
  // RFC 5227 §2.1.1: the target hardware address is ignored and SHOULD be zero; §2.3: an
  // announcement's target protocol address equals the sender's. Linux treats sender == target
  // as gratuitous and overrides an existing neighbour entry at once, without waiting out its
  // locktime (net/ipv4/arp.c, arp_is_garp).
  out.fill(0, 32, 38);
  put32(out, 38, address);
  return ARP_ANNOUNCEMENT_BYTES;
}

function put16(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 8;
  out[offset + 1] = value & 0xff;
}

function put32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}
