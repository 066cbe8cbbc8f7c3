/**
 * The 10-byte `struct virtio_net_hdr` that prefixes every TUN read and write once IFF_VNET_HDR is
 * set (linux/virtio_net.h). Its fields are little-endian: TUN uses the host's order for legacy
 * headers, and tandem runs on little-endian hosts (x86-64, arm64); TUNSETVNETLE forces it elsewhere.
 */

import type { PacketView } from "./packet-view.ts";

/** Size of the legacy virtio_net_hdr (no `num_buffers`). */
export const VNET_HDR_LEN = 10;

/** flags: the L4 checksum is partial; sum from `csumStart`, store at `csumStart + csumOffset`. */
export const VNET_HDR_F_NEEDS_CSUM = 1;
/** flags: the checksum was already validated (receive side). */
export const VNET_HDR_F_DATA_VALID = 2;

/** gso_type values (linux/virtio_net.h). */
export const VnetGsoType = {
  None: 0,
  TcpV4: 1,
  Udp: 3,
  TcpV6: 4,
  UdpL4: 5,
  /** Bit or-ed into the type: the super-packet carries ECN CWR. */
  Ecn: 0x80,
} as const;

/** A decoded virtio_net_hdr: plain mutable fields, allocated once and reused. */
export class VirtioNetHdr {
  /** `VNET_HDR_F_*` bits. */
  flags = 0;
  /** `VnetGsoType` value, possibly with the ECN bit. */
  gsoType = 0;
  /** Length of all headers (L2..L4) of a super-packet. */
  hdrLen = 0;
  /** Payload bytes per segment the kernel cuts a super-packet into. */
  gsoSize = 0;
  /** Offset, from the start of the packet after this header, where checksumming starts. */
  csumStart = 0;
  /** Offset of the checksum field from `csumStart`. */
  csumOffset = 0;
}

/** Reads the header at `buf[offset, offset + 10)` into `hdr`; false (nothing read) when `length` < 10. */
export function decodeVirtioNetHdr(buf: Uint8Array, offset: number, length: number, hdr: VirtioNetHdr): boolean {
  if (!(length >= VNET_HDR_LEN && offset >= 0 && offset + VNET_HDR_LEN <= buf.length)) return false;
  hdr.flags = buf[offset];
  hdr.gsoType = buf[offset + 1];
  hdr.hdrLen = buf[offset + 2] | (buf[offset + 3] << 8);
  hdr.gsoSize = buf[offset + 4] | (buf[offset + 5] << 8);
  hdr.csumStart = buf[offset + 6] | (buf[offset + 7] << 8);
  hdr.csumOffset = buf[offset + 8] | (buf[offset + 9] << 8);
  return true;
}

/** Writes `hdr` to `buf[offset, offset + 10)`. Contract: those 10 bytes lie inside `buf`. */
export function encodeVirtioNetHdr(buf: Uint8Array, offset: number, hdr: VirtioNetHdr): void {
  buf[offset] = hdr.flags;
  buf[offset + 1] = hdr.gsoType;
  buf[offset + 2] = hdr.hdrLen;
  buf[offset + 3] = hdr.hdrLen >>> 8;
  buf[offset + 4] = hdr.gsoSize;
  buf[offset + 5] = hdr.gsoSize >>> 8;
  buf[offset + 6] = hdr.csumStart;
  buf[offset + 7] = hdr.csumStart >>> 8;
  buf[offset + 8] = hdr.csumOffset;
  buf[offset + 9] = hdr.csumOffset >>> 8;
}

/**
 * True when NEEDS_CSUM points exactly at the L4 checksum field `view` decoded, so the partial
 * rewrite mode is sound; a NEEDS_CSUM header pointing anywhere else must be dropped
 * (`DropReason.BadVnetHdr`). False when NEEDS_CSUM is not set. `view` must have decoded the packet
 * that starts right after this header.
 */
export function vnetPartialChecksumMatches(hdr: VirtioNetHdr, view: PacketView): boolean {
  if ((hdr.flags & VNET_HDR_F_NEEDS_CSUM) === 0 || view.l4ChecksumOffset < 0) return false;
  return hdr.csumStart === view.l4Offset - view.l3Offset && hdr.csumOffset === view.l4ChecksumOffset - view.l4Offset;
}
