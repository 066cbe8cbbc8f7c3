/**
 * The ports: everything the runtime-neutral core needs from the outside world. Implementations
 * live in `src/platform/{bun,deno,fake}`; the core and engine see only these interfaces.
 */

/** Cancels a timer; calling it twice, or after the timer fired, is harmless. */
export type Cancel = () => void;

/**
 * Time, injected so that tests can drive it. Contract: `monotonicMs` never goes backwards and is
 * the only clock used for timeouts; `wallMs` is for timestamps shown to people and stored.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch, for timestamps. May jump (NTP, manual changes). */
  wallMs(): number;
  /** Milliseconds from an arbitrary origin; never decreases. */
  monotonicMs(): number;
  /** Calls `fn` once after `delayMs` (monotonic); returns a function that cancels it. */
  after(delayMs: number, fn: () => void): Cancel;
}

/** Severity of a log line; `debug` is for per-packet and per-probe detail and is off by default. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Structured fields attached to a log line; values are printed logfmt-style. */
export type LogFields = Readonly<Record<string, string | number | boolean | bigint | null | undefined>>;

/**
 * A structured logger. Contract: never throws, never blocks on I/O for long; lines below the
 * configured level cost no formatting.
 */
export interface Log {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (for example `{ component: "heartbeat" }`). */
  with(fields: LogFields): Log;
}

/**
 * One queue of a packet device (a TUN device in production, in-memory queues in tests): whole IPv4
 * packets in, whole IPv4 packets out, one per call. Contract: an instance belongs to the thread
 * (Worker) that opened it; no method throws on I/O (results are codes); `read` and `write` do not
 * allocate, so a packet loop can call them millions of times per second; only `waitReadable` ever
 * blocks, so it belongs in a Worker, never on the main thread.
 */
export interface PacketDevice {
  /** The kernel's name for the device, such as "tandem0" (the name it actually got). */
  readonly name: string;
  /**
   * Whether every packet read and written starts with a 10-byte `virtio_net_hdr`
   * (`VNET_HDR_LEN`); the IPv4 header then starts at offset 10. Always true with offloads.
   */
  readonly vnetHdr: boolean;
  /**
   * Whether checksum and TSO offloads are on: reads may then be TCP super-packets of up to 64 KiB
   * whose header has NEEDS_CSUM and GSO fields, and writes may be too (the kernel segments them).
   * Read buffers must hold `10 + 65535` bytes.
   */
  readonly offload: boolean;
  /** errno of the last failed read or write (0 before any failure); for logs and counters only. */
  readonly lastErrno: number;
  /**
   * Reads one packet into `buf` from offset 0 and returns its length (header included when
   * `vnetHdr`); returns 0 when no packet is ready (EAGAIN, EINTR, or a transient error), and -1
   * once the device is gone (closed, or deleted by someone else), after which every call returns
   * -1. A packet longer than `buf` is truncated to `buf.length`. Never throws, never blocks.
   */
  read(buf: Uint8Array): number;
  /**
   * Writes the packet `buf[0, length)` (a `virtio_net_hdr` first when `vnetHdr`) and returns
   * `length`; returns 0 when the packet was refused but the device lives on (for example EINVAL
   * for a malformed packet, or the device is down: count it as a drop), and -1 once the device is
   * gone. `length` is clamped to `buf.length`. Never throws, never blocks.
   */
  write(buf: Uint8Array, length: number): number;
  /**
   * Blocks the calling thread until a packet is ready, the device is gone, or `timeoutMs` passed
   * (0 polls, -1 waits without limit); returns true when a `read` would not return 0 (a packet,
   * or -1 for a device gone). Never throws. Call it only after `read` returned 0, so that a busy
   * device costs one syscall per packet and an idle one none per empty poll.
   */
  waitReadable(timeoutMs: number): boolean;
  /** Releases the device (a non-persistent TUN device vanishes with its last queue). Idempotent. */
  close(): void;
}

/** What a finished host command returned. */
export interface CommandResult {
  /** Exit status; 128 + N when killed by signal N. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs programs on the host (iproute2 for routes, rules and neighbours). Contract: resolves once
 * the program has exited, whatever its status; rejects only when it could not be started (not
 * installed, not executable), with a message naming the program. Never runs a shell.
 */
export interface HostCommands {
  /** Runs `argv[0]` (a name on PATH or an absolute path) with `argv[1..]`, feeding it `stdin`. */
  run(argv: readonly string[], stdin?: string): Promise<CommandResult>;
}

/**
 * Kernel parameters, named by their path under /proc/sys ("net/ipv4/ip_forward",
 * "net/ipv4/conf/eth0.100/rp_filter"): slashes, not sysctl(8)'s dots, because device names may
 * contain dots. Contract: values are plain text without the trailing newline.
 */
export interface Sysctls {
  /** The current value, trimmed; undefined when the parameter does not exist (device gone). */
  read(name: string): Promise<string | undefined>;
  /** Sets the value; rejects with a message naming the parameter when the kernel refuses it. */
  write(name: string, value: string): Promise<void>;
}

/** Small text files such as journals. Contract: paths are absolute; nothing is cached. */
export interface TextFiles {
  /** The file's content; undefined when it does not exist. Rejects on other errors. */
  read(path: string): Promise<string | undefined>;
  /**
   * Replaces the file's content atomically and durably (temporary file, fsync, rename): after a
   * crash the file holds either the old or the new content, never a mix.
   */
  replace(path: string, text: string): Promise<void>;
  /** Deletes the file; a missing file is fine. */
  remove(path: string): Promise<void>;
}

/** Where a datagram came from. */
export interface DatagramPeer {
  readonly address: string;
  readonly port: number;
}

/** Called for every datagram received; `bytes` is only valid during the call. */
export type DatagramHandler = (bytes: Uint8Array, from: DatagramPeer) => void;

/** How a heartbeat or sync UDP socket is bound. */
export interface DatagramOptions {
  /** Local address to bind ("0.0.0.0" for broadcast and multicast receivers). */
  readonly address: string;
  readonly port: number;
  /** Bind to this device too (SO_BINDTODEVICE), so that a link is one interface and no other. */
  readonly device?: string;
  /** Allow sending to broadcast addresses (SO_BROADCAST). */
  readonly broadcast?: boolean;
  /** Join this multicast group on `device` and send to it with TTL 1 and loopback off. */
  readonly multicastGroup?: string;
}

/**
 * A UDP socket of the heartbeat or the state sync. Contract: `send` never throws and never
 * blocks: a datagram the kernel refuses (no route, interface down, buffer full) counts as lost
 * and returns false; the socket lives on. Received datagrams arrive on the main event loop.
 */
export interface DatagramSocket {
  send(bytes: Uint8Array, length: number, address: string, port: number): boolean;
  /** Stops receiving and releases the port. Idempotent. */
  close(): void;
}

/**
 * A serial line in raw mode (8N1, no flow control, no echo). Contract: `write` never throws and
 * never blocks for long: when the line cannot take the bytes now they are dropped (a heartbeat
 * is sent again soon) and it returns false. Bytes read arrive as chunks of any size.
 */
export interface SerialLine {
  write(bytes: Uint8Array, length: number): boolean;
  /** Stops reading and closes the device. Idempotent. */
  close(): void;
}

/**
 * The I/O of the heartbeat: UDP sockets, serial lines, gratuitous ARP and witness pings.
 * Contract: opening rejects with a message naming the address, port or device and the reason.
 */
export interface HaNet {
  openDatagram(options: DatagramOptions, onMessage: DatagramHandler): Promise<DatagramSocket>;
  openSerial(device: string, baud: number, onData: (chunk: Uint8Array) => void): Promise<SerialLine>;
  /**
   * Broadcasts one gratuitous ARP for `address` from `device`'s MAC (an ARP announcement,
   * RFC 5227 §3: a request whose sender and target address are both `address`), so that
   * neighbours and switches learn the address moved. Rejects when the device is missing or down.
   */
  announceArp(device: string, address: string): Promise<void>;
  /** Sends one ICMP echo request to `address`; resolves true when a reply came within `timeoutMs`. Never rejects. */
  ping(address: string, timeoutMs: number): Promise<boolean>;
}
