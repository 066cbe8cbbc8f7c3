/**
 * A Linux TUN device through bun:ffi on glibc: open(2), ioctl(2), read(2), write(2), poll(2).
 * Each Worker that imports this module gets its own dlopen (module instances are per Worker), so
 * `openTun` works inside the dispatcher's Worker; a device belongs to the thread that opened it.
 */

import { CString, dlopen, ptr, read as peek, type Pointer } from "bun:ffi";
import type { PacketDevice } from "../../core/ports.ts";

// linux/if_tun.h, linux/if.h, asm-generic/fcntl.h, asm-generic/errno*.h, asm-generic/poll.h (x86-64 and arm64 agree).
const O_RDWR = 0x2;
const O_NONBLOCK = 0x800;
const O_CLOEXEC = 0x80000;
const TUNSETIFF = 0x400454ca;
const TUNSETOFFLOAD = 0x400454d0;
const IFF_TUN = 0x0001;
const IFF_MULTI_QUEUE = 0x0100;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;
const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_TSO6 = 0x04;
const IFNAMSIZ = 16;
const IFREQ_SIZE = 40;
const POLLIN = 0x1;
const EINTR = 4;
const EBADF = 9;
const EAGAIN = 11;
const EBADFD = 77;

/** Bytes a read buffer needs to hold any packet of an offloading device: header plus 64 KiB. */
export const TUN_MAX_PACKET = 10 + 65535;

const LIBC_SYMBOLS = {
  open: { args: ["cstring", "i32"], returns: "i32" },
  ioctl: { args: ["i32", "u64", "u64"], returns: "i32" },
  read: { args: ["i32", "ptr", "u64"], returns: "i32" },
  write: { args: ["i32", "ptr", "u64"], returns: "i32" },
  poll: { args: ["ptr", "u64", "i32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
  strerror: { args: ["i32"], returns: "ptr" },
} as const;

type Libc = ReturnType<typeof dlopen<typeof LIBC_SYMBOLS>>["symbols"];

interface LibcBinding {
  readonly fn: Libc;
  /** This thread's errno; glibc's errno lives at a fixed per-thread address. */
  readonly errnoPtr: Pointer;
}

let binding: LibcBinding | undefined;

function libc(): LibcBinding {
  if (binding) return binding;
  const fn = dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  const errnoPtr = fn.__errno_location();
  if (typeof errnoPtr !== "number") throw new Error("Cannot use libc: __errno_location returned no pointer");
  binding = { fn, errnoPtr };
  return binding;
}

function errno(b: LibcBinding): number {
  return peek.i32(b.errnoPtr, 0);
}

function describeErrno(b: LibcBinding, code: number): string {
  const message = b.fn.strerror(code);
  return typeof message === "number" ? new CString(message).toString() : `errno ${code}`;
}

/** How to open a TUN device queue. */
export interface TunOptions {
  /** Device name, 1 to 15 bytes; the device is created unless a multi-queue one of that name exists. */
  readonly name: string;
  /** Prefix every packet with a 10-byte virtio_net_hdr (IFF_VNET_HDR). */
  readonly vnetHdr?: boolean;
  /** Turn on checksum and TSO offloads (TUNSETOFFLOAD CSUM|TSO4|TSO6); needs `vnetHdr`. */
  readonly offload?: boolean;
  /**
   * Open one queue of a multi-queue device (IFF_MULTI_QUEUE): each Worker calls `openTun` with
   * the same name and options and gets its own queue; the kernel spreads flows over the queues.
   */
  readonly multiQueue?: boolean;
}

/** An open TUN queue: a PacketDevice plus its file descriptor. */
export interface TunDevice extends PacketDevice {
  /** The file descriptor, -1 once closed. */
  readonly fd: number;
}

/**
 * Creates a non-persistent TUN device (IFF_TUN | IFF_NO_PI, optionally IFF_VNET_HDR and offloads)
 * or attaches a queue to a multi-queue one, opened non-blocking and close-on-exec; the kernel
 * deletes the device, with its addresses and routes, when its last queue's fd closes, including
 * when the process is killed. The device is left down with the kernel's default MTU. Throws
 * `Cannot create TUN device "NAME": REASON` when the kernel refuses (no permission, busy name).
 */
export function openTun(options: TunOptions): TunDevice {
  const { name, vnetHdr = false, offload = false, multiQueue = false } = options;
  const nameBytes = new TextEncoder().encode(name);
  if (nameBytes.length < 1 || nameBytes.length >= IFNAMSIZ || nameBytes.includes(0) || name.includes("/")) {
    throw new Error(`Cannot create TUN device "${name}": a device name has 1 to 15 bytes and no "/"`);
  }
  if (offload && !vnetHdr) {
    throw new Error(`Cannot create TUN device "${name}": offloads need vnetHdr, the kernel reports super-packets in that header`);
  }
  const b = libc();
  const fd = b.fn.open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw new Error(`Cannot open "/dev/net/tun": ${describeErrno(b, errno(b))}`);
  try {
    // struct ifreq: char ifr_name[16], then the union whose first member is short ifr_flags.
    const ifr = new Uint8Array(IFREQ_SIZE);
    ifr.set(nameBytes, 0);
    const flags = IFF_TUN | IFF_NO_PI | (vnetHdr ? IFF_VNET_HDR : 0) | (multiQueue ? IFF_MULTI_QUEUE : 0);
    new DataView(ifr.buffer).setUint16(IFNAMSIZ, flags, true);
    if (b.fn.ioctl(fd, TUNSETIFF, ptr(ifr)) < 0) {
      const code = errno(b);
      throw new Error(`Cannot create TUN device "${name}": ${describeErrno(b, code)}${hint(code)}`);
    }
    const end = ifr.indexOf(0);
    const actual = new TextDecoder().decode(ifr.subarray(0, end >= 0 && end < IFNAMSIZ ? end : IFNAMSIZ));
    // TUNSETOFFLOAD takes its flags by value in the ioctl argument, not through a pointer.
    if (offload && b.fn.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) {
      throw new Error(`Cannot enable offloads on TUN device "${actual}": ${describeErrno(b, errno(b))}`);
    }
    return new FfiTunDevice(b, fd, actual, vnetHdr, offload);
  } catch (error) {
    b.fn.close(fd);
    throw error;
  }
}

function hint(code: number): string {
  if (code === 1) return " (creating a TUN device needs CAP_NET_ADMIN)";
  if (code === 16) return " (another process holds a device of that name)";
  if (code === 22) return " (a device of that name exists with other flags, or is not a TUN device)";
  return "";
}

class FfiTunDevice implements TunDevice {
  fd: number;
  lastErrno = 0;
  readonly #b: LibcBinding;
  // ptr() is cached per buffer: the dispatcher reuses one read and one write buffer, so the
  // per-packet cost is the FFI call alone.
  #readBuf: Uint8Array | undefined;
  #readPtr: Pointer | 0 = 0;
  #writeBuf: Uint8Array | undefined;
  #writePtr: Pointer | 0 = 0;
  readonly #pollfd = new Int32Array(2);
  readonly #pollPtr: Pointer;
  #gone = false;

  constructor(
    b: LibcBinding,
    fd: number,
    readonly name: string,
    readonly vnetHdr: boolean,
    readonly offload: boolean,
  ) {
    this.#b = b;
    this.fd = fd;
    this.#pollfd[0] = fd;
    this.#pollfd[1] = POLLIN; // short events = POLLIN, short revents = 0 (little-endian)
    this.#pollPtr = ptr(this.#pollfd);
  }

  read(buf: Uint8Array): number {
    if (this.#gone) return -1;
    if (buf !== this.#readBuf) {
      this.#readBuf = buf;
      this.#readPtr = buf.byteLength > 0 ? ptr(buf) : 0;
    }
    if (this.#readPtr === 0) return 0;
    const n = this.#b.fn.read(this.fd, this.#readPtr, buf.byteLength);
    return n >= 0 ? n : this.#failed();
  }

  write(buf: Uint8Array, length: number): number {
    if (this.#gone) return -1;
    if (buf !== this.#writeBuf) {
      this.#writeBuf = buf;
      this.#writePtr = buf.byteLength > 0 ? ptr(buf) : 0;
    }
    const n = length > buf.byteLength ? buf.byteLength : length;
    if (n <= 0 || this.#writePtr === 0) return 0;
    const written = this.#b.fn.write(this.fd, this.#writePtr, n);
    return written >= 0 ? written : this.#failed();
  }

  waitReadable(timeoutMs: number): boolean {
    if (this.#gone) return true;
    // revents is cleared by the kernel on every call; POLLERR/POLLHUP/POLLNVAL also wake us,
    // and the next read then reports the device gone.
    const ready = this.#b.fn.poll(this.#pollPtr, 1, timeoutMs < 0 ? -1 : Math.floor(timeoutMs));
    return ready > 0;
  }

  close(): void {
    if (this.fd >= 0) {
      this.#b.fn.close(this.fd);
      this.fd = -1;
      this.#pollfd[0] = -1;
    }
    this.#gone = true;
  }

  /** Classifies a failed read or write: only a dead descriptor counts as gone, so that a
   * clobbered or unexpected errno can never stop the packet loop by mistake. */
  #failed(): number {
    const code = errno(this.#b);
    this.lastErrno = code;
    if (code === EAGAIN || code === EINTR) return 0;
    if (code === EBADFD || code === EBADF) {
      this.#gone = true;
      return -1;
    }
    return 0;
  }
}
