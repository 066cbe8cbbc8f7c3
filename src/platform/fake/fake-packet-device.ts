import type { PacketDevice } from "../../core/ports.ts";

/** How to build a fake device. */
export interface FakePacketDeviceOptions {
  readonly name?: string;
  readonly vnetHdr?: boolean;
  readonly offload?: boolean;
}

/**
 * An in-memory PacketDevice for unit tests: `inject` queues packets that `read` returns in order,
 * `write` records copies in `written`. It follows the PacketDevice contract exactly (0 when empty,
 * -1 once `vanish`ed or closed, truncation to the read buffer) but never blocks: `waitReadable`
 * answers at once, since a test drives time itself.
 */
export class FakePacketDevice implements PacketDevice {
  readonly name: string;
  readonly vnetHdr: boolean;
  readonly offload: boolean;
  lastErrno = 0;
  /** Copies of the packets written, oldest first; tests may empty it. */
  readonly written: Uint8Array[] = [];
  /** Number of `read` and `waitReadable` calls, to assert a loop does not spin. */
  readCalls = 0;
  waitCalls = 0;
  readonly #inbound: Uint8Array[] = [];
  #head = 0;
  #gone = false;
  #refuseWrites = 0;

  constructor(options: FakePacketDeviceOptions = {}) {
    this.name = options.name ?? "fake0";
    this.offload = options.offload ?? false;
    this.vnetHdr = (options.vnetHdr ?? false) || this.offload;
  }

  /** Queues copies of `packets` for `read`, as if the kernel had routed them into the device. */
  inject(...packets: Uint8Array[]): void {
    for (const packet of packets) this.#inbound.push(packet.slice());
  }

  /** Packets injected and not read yet. */
  get pending(): number {
    return this.#inbound.length - this.#head;
  }

  /** Returns the packets written so far and forgets them. */
  takeWritten(): Uint8Array[] {
    return this.written.splice(0, this.written.length);
  }

  /** Makes the next `count` writes fail with `errnoValue` (EINVAL by default), as a refused packet does. */
  refuseWrites(count: number, errnoValue = 22): void {
    this.#refuseWrites = count;
    this.lastErrno = errnoValue;
  }

  /** Simulates the device being deleted under the reader: every later call returns -1. */
  vanish(): void {
    this.#gone = true;
    this.lastErrno = 77; // EBADFD, what a TUN fd reports once its device is gone
  }

  read(buf: Uint8Array): number {
    this.readCalls++;
    if (this.#gone) return -1;
    if (this.#head === this.#inbound.length) {
      this.lastErrno = 11; // EAGAIN
      return 0;
    }
    const packet = this.#inbound[this.#head]!;
    this.#inbound[this.#head++] = EMPTY;
    if (this.#head === this.#inbound.length) {
      this.#inbound.length = 0;
      this.#head = 0;
    }
    const n = Math.min(packet.length, buf.length);
    buf.set(packet.subarray(0, n), 0);
    return n;
  }

  write(buf: Uint8Array, length: number): number {
    if (this.#gone) return -1;
    const n = Math.min(length, buf.length);
    if (n <= 0) return 0;
    if (this.#refuseWrites > 0) {
      this.#refuseWrites--;
      return 0;
    }
    this.written.push(buf.slice(0, n));
    return n;
  }

  waitReadable(_timeoutMs: number): boolean {
    this.waitCalls++;
    return this.#gone || this.pending > 0;
  }

  close(): void {
    this.#gone = true;
  }
}

const EMPTY = new Uint8Array(0);
