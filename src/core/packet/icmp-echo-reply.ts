/** Answering ICMP echo requests addressed to a VIP, in place. */

import { checksumAdjust, wordDelta16 } from "./checksum.ts";
import { IcmpType, IpProtocol } from "./packet-view.ts";
import type { PacketView } from "./packet-view.ts";

/** TTL of replies the dispatcher originates (Linux's default `ip_default_ttl`). */
export const ECHO_REPLY_TTL = 64;

/**
 * Turns the decoded echo request in `buf` into its echo reply in place (RFC 792, RFC 1122
 * section 3.2.2.6): swaps source and destination, sets type 0 and TTL 64, and updates both
 * checksums incrementally; identifier, sequence, data and IP options are kept. Returns false and
 * writes nothing unless `view` is an ICMP echo request. Precondition: `view` decoded this `buf`.
 */
export function icmpEchoReply(buf: Uint8Array, view: PacketView): boolean {
  if (view.protocol !== IpProtocol.Icmp || view.icmpType !== IcmpType.Echo) return false;
  const o = view.l3Offset;
  const src = view.src;
  const dst = view.dst;
  // Swapping two header words leaves their one's-complement sum, hence the checksum, unchanged.
  for (let i = 0; i < 4; i++) {
    const b = buf[o + 12 + i];
    buf[o + 12 + i] = buf[o + 16 + i];
    buf[o + 16 + i] = b;
  }
  view.src = dst;
  view.dst = src;
  const ttlDelta = wordDelta16((view.ttl << 8) | IpProtocol.Icmp, (ECHO_REPLY_TTL << 8) | IpProtocol.Icmp);
  buf[o + 8] = ECHO_REPLY_TTL;
  view.ttl = ECHO_REPLY_TTL;
  writeChecksum(buf, o + 10, ttlDelta);
  const l4 = view.l4Offset;
  const code = view.icmpCode;
  buf[l4] = IcmpType.EchoReply;
  view.icmpType = IcmpType.EchoReply;
  // With NEEDS_CSUM the kernel sums the ICMP bytes itself, type included; nothing to adjust.
  if (!view.l4ChecksumPartial) {
    writeChecksum(buf, view.l4ChecksumOffset, wordDelta16((IcmpType.Echo << 8) | code, (IcmpType.EchoReply << 8) | code));
  }
  return true;
}

/** RFC 1624 eqn. 3 on the checksum stored at `at`. */
function writeChecksum(buf: Uint8Array, at: number, delta: number): void {
  const next = checksumAdjust((buf[at] << 8) | buf[at + 1], delta);
  buf[at] = next >>> 8;
  buf[at + 1] = next;
}
