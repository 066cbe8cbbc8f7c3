/** Counters kept per service and per server, in this order within each stride. */
export const StatField = {
  Connections: 0,
  PacketsIn: 1,
  PacketsOut: 2,
  BytesIn: 3,
  BytesOut: 4,
  Dropped: 5,
  /** Passive health: the server answered a client's SYN with a RST (nothing listens). */
  Refused: 6,
  /** Passive health: the client had to repeat its SYN because the server did not answer it. */
  Timeouts: 7,
  /** Passive health: the server reset a connection before sending any data (instead of a response). */
  Resets: 8,
  /** Response time: sum in ms of the times from a request's first data to the server's first data after it. */
  ResponseTimeSumMs: 9,
  /** Response time: how many such request/response turns were measured. */
  ResponseTimes: 10,
} as const;

const STRIDE = 12;
const HEADER = 8;

/**
 * Per-service and per-server traffic counters in one Float64Array, so the packet Worker writes
 * them and the main thread reads them from the same SharedArrayBuffer with no messages. Layout:
 * a header slot, then `STRIDE` slots per service, then per server (services' servers in order).
 * Contract: one writer; readers may see a counter one packet stale, which is fine for stats.
 */
export class DispatchStats {
  readonly values: Float64Array;
  private readonly serverBase: Int32Array;
  private readonly serviceCount: number;

  /** Builds the layout for `serverCounts[s]` servers in service s, over `buffer` when given. */
  constructor(serverCounts: readonly number[], buffer?: ArrayBufferLike) {
    this.serviceCount = serverCounts.length;
    this.serverBase = new Int32Array(serverCounts.length);
    let next = HEADER + STRIDE * serverCounts.length;
    serverCounts.forEach((n, s) => {
      this.serverBase[s] = next;
      next += STRIDE * n;
    });
    const bytes = next * 8;
    this.values = buffer ? new Float64Array(buffer, 0, next) : new Float64Array(next);
    if (buffer && buffer.byteLength < bytes) throw new RangeError(`Stats buffer too small: ${buffer.byteLength} < ${bytes} bytes`);
  }

  /** Bytes a buffer must have for this layout. */
  static byteLength(serverCounts: readonly number[]): number {
    return (HEADER + STRIDE * serverCounts.length + STRIDE * serverCounts.reduce((a, b) => a + b, 0)) * 8;
  }

  /** Slot index of `field` of service `s`. */
  serviceSlot(s: number, field: number): number {
    return HEADER + STRIDE * s + field;
  }

  /** Slot index of `field` of server `i` of service `s`. */
  serverSlot(s: number, i: number, field: number): number {
    return this.serverBase[s]! + STRIDE * i + field;
  }

  /** Adds one packet of `bytes` in direction `dir` (0 in: client→server, 1 out) to a service and server. */
  packet(s: number, i: number, dir: number, bytes: number): void {
    const v = this.values;
    const p = dir === 0 ? StatField.PacketsIn : StatField.PacketsOut;
    const b = dir === 0 ? StatField.BytesIn : StatField.BytesOut;
    const so = HEADER + STRIDE * s;
    const ro = this.serverBase[s]! + STRIDE * i;
    v[so + p]!++;
    v[so + b] = v[so + b]! + bytes;
    v[ro + p]!++;
    v[ro + b] = v[ro + b]! + bytes;
  }

  /** Counts a new connection to server `i` of service `s`. */
  connection(s: number, i: number): void {
    this.values[HEADER + STRIDE * s + StatField.Connections]!++;
    this.values[this.serverBase[s]! + STRIDE * i + StatField.Connections]!++;
  }

  /** Counts one passive-health failure (`StatField.Refused`, `Timeouts` or `Resets`) of server `i` of service `s`. */
  passive(s: number, i: number, field: number): void {
    this.values[this.serverBase[s]! + STRIDE * i + field]!++;
  }

  /** Adds one response time of `ms` to server `i` of service `s` and to the service. */
  responseTime(s: number, i: number, ms: number): void {
    const v = this.values;
    const so = HEADER + STRIDE * s;
    const ro = this.serverBase[s]! + STRIDE * i;
    v[so + StatField.ResponseTimeSumMs] = v[so + StatField.ResponseTimeSumMs]! + ms;
    v[so + StatField.ResponseTimes]!++;
    v[ro + StatField.ResponseTimeSumMs] = v[ro + StatField.ResponseTimeSumMs]! + ms;
    v[ro + StatField.ResponseTimes]!++;
  }

  /** Counts a packet of service `s` that was dropped (no server, table full, ...). */
  dropped(s: number): void {
    this.values[HEADER + STRIDE * s + StatField.Dropped]!++;
  }

  /** Number of services in the layout. */
  get services(): number {
    return this.serviceCount;
  }
}
