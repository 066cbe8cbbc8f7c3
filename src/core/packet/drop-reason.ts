/**
 * Why the dispatcher dropped a packet. One registry for the packet layer and the NAT layer so that
 * every code has exactly one metric name; codes start at 1 because 0 is `DecodeResult.Ok`.
 */

/** Drop-reason codes (numbers from 1); `dropReasonNames[code]` is the metric name. Append only. */
export const DropReason = {
  /** Fewer bytes than a header or the IPv4 total length needs. */
  Truncated: 1,
  /** IP version is neither 4 nor 6. */
  BadVersion: 2,
  /** IHL below 5 words. */
  BadIhl: 3,
  /** IPv4 total length smaller than the header. */
  BadTotalLength: 4,
  /** IPv4 header checksum does not verify (RFC 791, RFC 1071). */
  BadIpChecksum: 5,
  /** A non-first IPv4 fragment (no L4 header), or a fragment the NAT layer will not forward. */
  Fragment: 6,
  /** An IP protocol other than TCP, UDP and ICMP. */
  UnsupportedProtocol: 7,
  /** TCP data offset below 5 words or beyond the segment. */
  BadTcpOffset: 8,
  /** UDP length below 8 or beyond the IP payload (RFC 768). */
  BadUdpLength: 9,
  /** ICMP error quoting less than the original IP header plus 8 bytes (RFC 792). */
  IcmpTruncated: 10,
  /** ICMP error quoting something that is not a usable IPv4 TCP/UDP/echo packet. */
  IcmpInnerBad: 11,
  /** TTL would reach 0 when forwarded (RFC 1812 section 5.3.1). */
  TtlExceeded: 12,
  /** An IPv6 packet; the dispatcher is IPv4 only. */
  Ipv6: 13,
  /** virtio_net_hdr missing, or its checksum offload fields do not match the packet. */
  BadVnetHdr: 14,
  /** An ICMP type the NAT layer does not handle. */
  IcmpUnsupported: 15,
  /** No virtual service matches the destination. */
  NoService: 16,
  /** The virtual service has no server that may take a new connection. */
  NoServer: 17,
  /** The connection table is full and nothing could be evicted. */
  TableFull: 18,
  /** A packet that must belong to a tracked connection matched none. */
  NoConnection: 19,
  /** fullnat could not allocate a local address:port toward the server. */
  NoLocalPort: 20,
} as const;

/** A drop-reason code, one of the values of `DropReason`. */
export type DropReasonCode = (typeof DropReason)[keyof typeof DropReason];

/** Metric names indexed by code; index 0 (Ok) is the empty string. Kept in step with `DropReason`. */
export const dropReasonNames: readonly string[] = [
  "",
  "truncated",
  "bad_version",
  "bad_ihl",
  "bad_total_length",
  "bad_ip_checksum",
  "fragment",
  "unsupported_protocol",
  "bad_tcp_offset",
  "bad_udp_length",
  "icmp_truncated",
  "icmp_inner_bad",
  "ttl_exceeded",
  "ipv6",
  "bad_vnet_hdr",
  "icmp_unsupported",
  "no_service",
  "no_server",
  "table_full",
  "no_connection",
  "no_local_port",
];

/** Number of counter slots: one per code plus the unused slot 0. */
export const DROP_REASON_SLOTS = dropReasonNames.length;

/**
 * Per-reason drop counters over a Float64Array (exact up to 2^53). Pass a SharedArrayBuffer of at
 * least `DropCounters.byteLength` bytes to read the counters from another thread; a single writer
 * thread is assumed. `count` never throws: an unknown code is ignored.
 */
export class DropCounters {
  /** Bytes needed for the backing buffer. */
  static readonly byteLength = DROP_REASON_SLOTS * Float64Array.BYTES_PER_ELEMENT;

  /** Raw counters indexed by code; slot 0 is unused. */
  readonly counts: Float64Array;

  constructor(buffer?: ArrayBufferLike) {
    this.counts = buffer === undefined ? new Float64Array(DROP_REASON_SLOTS) : new Float64Array(buffer, 0, DROP_REASON_SLOTS);
  }

  /** Adds one drop for `reason`; codes outside 1..SLOTS-1 are ignored. */
  count(reason: number): void {
    // Out-of-range typed-array writes are no-ops, so a bad code cannot throw or corrupt memory.
    if (reason > 0) this.counts[reason]++;
  }

  /** The count for `reason` (0 for an unknown code). */
  get(reason: number): number {
    return reason > 0 && reason < DROP_REASON_SLOTS ? this.counts[reason] : 0;
  }

  /** Sum of all drops. */
  total(): number {
    let sum = 0;
    for (let i = 1; i < DROP_REASON_SLOTS; i++) sum += this.counts[i];
    return sum;
  }

  /** A copy of every counter keyed by metric name (zeros included). */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 1; i < DROP_REASON_SLOTS; i++) out[dropReasonNames[i]] = this.counts[i];
    return out;
  }

  /** Sets every counter to 0. */
  reset(): void {
    this.counts.fill(0);
  }
}
