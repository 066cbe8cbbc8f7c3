/**
 * Heartbeat and sync UDP sockets under Bun. Bun's own sockets (Bun.udpSocket, node:dgram) cannot
 * bind to a device, so the socket is made with bun:ffi on glibc (socket, setsockopt, bind): device
 * first, options next, bind last; then Bun adopts the descriptor (`Bun.udpSocket({ fd })`, the
 * path node:dgram's `bind({ fd })` takes), so datagrams are read by Bun's event loop (epoll)
 * without a thread or a poll timer, and `send` is Bun's synchronous one.
 */

import { dlopen, ptr } from "bun:ffi";
import { lazyLibc, lastLibcError } from "./libc-error.ts";
import type { DatagramHandler, DatagramOptions, DatagramSocket } from "../../core/ports.ts";
import { parseIpv4 } from "../../core/packet/ipv4-address.ts";

// linux/socket.h, linux/in.h, asm-generic/socket.h (x86-64 and arm64 agree).
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0x800;
const SOCK_CLOEXEC = 0x80000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_BROADCAST = 6;
const SO_BINDTODEVICE = 25;
const IPPROTO_IP = 0;
const IP_MULTICAST_IF = 32;
const IP_MULTICAST_TTL = 33;
const IP_MULTICAST_LOOP = 34;
const IP_ADD_MEMBERSHIP = 35;
const IP_MULTICAST_ALL = 49;
const IFNAMSIZ = 16;

const LIBC_SYMBOLS = {
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
  bind: { args: ["i32", "ptr", "u32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  if_nametoindex: { args: ["cstring"], returns: "u32" },
  __errno_location: { args: [], returns: "ptr" },
  strerror: { args: ["i32"], returns: "ptr" },
} as const;

type Libc = ReturnType<typeof dlopen<typeof LIBC_SYMBOLS>>["symbols"];

const bindLibc = lazyLibc(LIBC_SYMBOLS);

/**
 * Opens a UDP socket as `options` say and calls `onMessage` on the main event loop for every
 * datagram received. With `device`, SO_BINDTODEVICE is set before bind(2), so the socket neither
 * receives from nor sends through any other interface, and two links may bind the same
 * address:port on different devices. A wildcard address ("0.0.0.0", for broadcast and multicast
 * receivers) also gets SO_REUSEADDR and IP_MULTICAST_ALL off; a unicast address binds exclusively,
 * so a second process on the same address fails loudly. With `multicastGroup`, the group is joined
 * on `device` (by index; without `device` the kernel picks the interface by route) and sent to
 * with TTL 1 and loopback off. Rejects with `Cannot open UDP socket "ADDRESS:PORT" on "DEVICE": REASON`.
 */
export async function openUdpDatagram(options: DatagramOptions, onMessage: DatagramHandler): Promise<DatagramSocket> {
  const where = `"${options.address}:${options.port}"${options.device === undefined ? "" : ` on "${options.device}"`}`;
  const fail = (reason: string) => new Error(`Cannot open UDP socket ${where}: ${reason}`);
  const address = parseIpv4(options.address);
  if (address === undefined) throw fail("the address is not a dotted-quad IPv4 address");
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw fail("the port is not 0 to 65535");
  const group = options.multicastGroup === undefined ? undefined : parseIpv4(options.multicastGroup);
  if (options.multicastGroup !== undefined && (group === undefined || group >>> 28 !== 0xe)) {
    throw fail(`multicast group "${options.multicastGroup}" is not an IPv4 multicast address (224.0.0.0/4)`);
  }
  const c = bindLibc();
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw fail(lastLibcError(c));
  try {
    configure(c, fd, options, address, group, fail);
  } catch (error) {
    c.close(fd);
    throw error;
  }
  try {
    return await adopt(fd, onMessage);
  } catch (error) {
    c.close(fd);
    throw fail(`Bun cannot adopt the socket: ${(error as Error)?.message ?? String(error)}`);
  }
}

/** Applies the socket options in the order the kernel needs them, then binds. Throws via `fail`. */
function configure(c: Libc, fd: number, options: DatagramOptions, address: number, group: number | undefined, fail: (reason: string) => Error): void {
  const set = (level: number, name: number, value: Uint8Array, what: string) => {
    if (c.setsockopt(fd, level, name, ptr(value), value.byteLength) < 0) throw fail(`${what}: ${lastLibcError(c)}`);
  };
  // Every buffer handed to C is made over an explicit ArrayBuffer: a small typed array may keep
  // its bytes inline and move them when `.buffer` is first read, leaving a pointer dangling.
  const int = (value: number) => {
    const bytes = new Uint8Array(new ArrayBuffer(4));
    new DataView(bytes.buffer).setInt32(0, value, true);
    return bytes;
  };
  let ifindex = 0;
  if (options.device !== undefined) {
    const name = new TextEncoder().encode(`${options.device}\0`);
    if (name.length > IFNAMSIZ || name.length < 2 || name.indexOf(0) !== name.length - 1) throw fail("a device name has 1 to 15 bytes");
    ifindex = c.if_nametoindex(name);
    if (ifindex === 0) throw fail(lastLibcError(c));
    // Before bind(2): the port is then only taken on this device, and no datagram of
    // another interface can slip into the queue between bind and this option.
    set(SOL_SOCKET, SO_BINDTODEVICE, name, "SO_BINDTODEVICE");
  }
  if (address === 0) {
    // Broadcast and multicast go to every matching socket, so sharing a wildcard port loses
    // nothing; it lets several receivers (one per link when no device is given) coexist.
    set(SOL_SOCKET, SO_REUSEADDR, int(1), "SO_REUSEADDR");
    // Linux otherwise delivers a group joined by any socket to every wildcard socket of the port.
    set(IPPROTO_IP, IP_MULTICAST_ALL, int(0), "IP_MULTICAST_ALL");
  }
  if (options.broadcast) set(SOL_SOCKET, SO_BROADCAST, int(1), "SO_BROADCAST");
  if (group !== undefined) {
    // struct ip_mreqn { in_addr multiaddr; in_addr address; int ifindex; }: Linux accepts it for
    // both options, so the interface is named by index, not by one of its addresses.
    const mreqn = new Uint8Array(new ArrayBuffer(12));
    const view = new DataView(mreqn.buffer);
    view.setUint32(0, group, false);
    view.setInt32(8, ifindex, true);
    set(IPPROTO_IP, IP_ADD_MEMBERSHIP, mreqn, `joining "${options.multicastGroup}"`);
    set(IPPROTO_IP, IP_MULTICAST_IF, mreqn, "IP_MULTICAST_IF");
    // TTL 1: heartbeats never leave the segment (RFC 1112 §6.1); no loopback: a node must not
    // hear its own heartbeats as if they came from the peer.
    set(IPPROTO_IP, IP_MULTICAST_TTL, int(1), "IP_MULTICAST_TTL");
    set(IPPROTO_IP, IP_MULTICAST_LOOP, int(0), "IP_MULTICAST_LOOP");
  }
  // struct sockaddr_in: family (host order), port and address (network order), 8 zero bytes.
  const sin = new Uint8Array(new ArrayBuffer(16));
  const view = new DataView(sin.buffer);
  view.setUint16(0, AF_INET, true);
  view.setUint16(2, options.port, false);
  view.setUint32(4, address, false);
  if (c.bind(fd, ptr(sin), sin.byteLength) < 0) throw fail(lastLibcError(c));
}

/** Hands the bound descriptor to Bun's event loop; Bun owns and closes it from then on. */
async function adopt(fd: number, onMessage: DatagramHandler): Promise<DatagramSocket> {
  // `fd` is not in Bun's published types, but it is what node:dgram's documented
  // `socket.bind({ fd })` passes to Bun.udpSocket.
  const adoptOptions = {
    fd,
    binaryType: "uint8array",
    socket: {
      data(_socket: unknown, bytes: Uint8Array, port: number, address: string) {
        onMessage(bytes, { address, port });
      },
    },
  } as unknown as Bun.udp.SocketOptions<"uint8array">;
  const socket = await Bun.udpSocket(adoptOptions);
  let closed = false;
  return {
    send(bytes, length, toAddress, toPort) {
      if (closed) return false;
      const n = length >= bytes.length ? bytes.length : length > 0 ? length : 0;
      try {
        // false from Bun means EAGAIN (buffer full); kernel refusals (ENETUNREACH, ENETDOWN,
        // EINVAL for a bad address) throw, and the contract turns both into "lost".
        return socket.send(n === bytes.length ? bytes : bytes.subarray(0, n), toPort, toAddress);
      } catch {
        return false;
      }
    },
    close() {
      if (closed) return;
      closed = true;
      socket.close();
    },
  };
}
