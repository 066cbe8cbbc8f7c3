/**
 * In-memory heartbeat I/O for fast tests of the heartbeat engine: a `FakeHaNetwork` joins the
 * fake HaNets of several nodes. Datagrams travel over named segments (one per link) between
 * sockets matched by address and port, serial lines are joined in pairs by cables, ARP
 * announcements are recorded, and pings are answered from a table. Everything is delivered on a
 * later microtask, never during the call that sent it, as the kernel would.
 *
 * What it mimics of Linux: a unicast datagram reaches one socket (an exact address beats the
 * wildcard, a device-bound socket beats an unbound one); broadcast and multicast reach every
 * matching socket; a broadcast is also looped back to the sender's own node (sockets on the
 * wildcard address hear their own broadcasts), multicast is not (loopback off); sending a
 * broadcast needs `broadcast: true` (EACCES otherwise); a cut segment or cable loses data
 * silently while a device that is down refuses it (`send` returns false). Not modelled: routing
 * beyond directly connected subnets, datagrams a node sends to its own addresses, baud rates,
 * and time: pings are answered on the next microtask whatever their `timeoutMs`.
 */

import type { DatagramHandler, DatagramOptions, DatagramPeer, DatagramSocket, HaNet, SerialLine } from "../../core/ports.ts";
import { formatIpv4, parseIpv4 } from "../../core/packet/ipv4-address.ts";

/** One network interface of a fake node. */
export interface FakeInterface {
  readonly device: string;
  /** Address and prefix length, such as "10.202.0.2/24". */
  readonly address: string;
  /** Name of the segment (the link) it is plugged into. */
  readonly segment: string;
  /** Its MAC, as ARP announcements record it (default 02:00:00:00:NN:II from the node and interface numbers). */
  readonly mac?: string;
}

/** A datagram on a segment, as the loss hook and the statistics see it. */
export interface FakeDatagram {
  readonly segment: string;
  /** The sending node; undefined for datagrams injected from outside. */
  readonly fromNode: string | undefined;
  readonly from: DatagramPeer;
  readonly to: DatagramPeer;
  /** A copy of the bytes sent. */
  readonly bytes: Uint8Array;
}

/** An ARP announcement a node made. */
export interface FakeArpAnnouncement {
  readonly node: string;
  readonly device: string;
  readonly address: string;
  readonly mac: string;
}

/** A ping a node made and how it was answered. */
export interface FakePing {
  readonly node: string;
  readonly address: string;
  readonly timeoutMs: number;
  readonly reachable: boolean;
}

/** A node's fake HaNet. */
export interface FakeHaNet extends HaNet {
  readonly nodeName: string;
}

interface Iface {
  readonly device: string;
  readonly address: number;
  readonly broadcast: number;
  readonly mask: number;
  readonly segment: string;
  readonly mac: string;
  up: boolean;
}

interface Socket {
  readonly node: Node;
  readonly address: number;
  readonly port: number;
  readonly device: string | undefined;
  readonly broadcast: boolean;
  readonly group: number | undefined;
  readonly onMessage: DatagramHandler;
  closed: boolean;
}

interface SerialEnd {
  readonly node: string;
  readonly device: string;
  readonly link: string;
  peer: SerialEnd | undefined;
  onData: ((chunk: Uint8Array) => void) | undefined;
}

interface Node {
  readonly name: string;
  readonly ifaces: Iface[];
  readonly sockets: Set<Socket>;
}

const LIMITED_BROADCAST = 0xffffffff;

/**
 * The network joining fake nodes. Contract: nodes, segments and cables are set up before use;
 * the hooks and switches (`cut`, `setDeviceUp`, `setReachable`, filters) may change at any time
 * and apply to data sent afterwards. Nothing here throws once set up, except on caller bugs
 * (unknown node, link or device names).
 */
export class FakeHaNetwork {
  /** Decides the fate of each datagram crossing a segment: false loses it. Default: deliver all. */
  datagramFilter: (datagram: FakeDatagram) => boolean = () => true;
  /**
   * Decides the fate of each chunk written to a serial line: undefined loses it, other bytes
   * replace it (to corrupt or split it). Default: deliver as written.
   */
  serialFilter: (chunk: Uint8Array, from: { node: string; device: string }) => Uint8Array | undefined = (chunk) => chunk;
  /** Every ARP announcement made, oldest first. */
  readonly arpAnnouncements: FakeArpAnnouncement[] = [];
  /** Every ping made, oldest first. */
  readonly pings: FakePing[] = [];
  /** Datagrams sent onto a segment, delivered to at least one socket, and lost (cut, filtered, or nobody listening). */
  readonly stats = { sent: 0, delivered: 0, lost: 0 };

  readonly #nodes = new Map<string, Node>();
  readonly #cut = new Set<string>();
  readonly #links = new Set<string>();
  readonly #serialEnds = new Map<string, SerialEnd>();
  readonly #reachable = new Map<string, boolean>();
  readonly #arpOwners = new Map<string, string>();
  #pending = 0;

  /** Adds a node with its interfaces and returns its HaNet. Throws on a duplicate name or a malformed address. */
  addNode(name: string, interfaces: readonly FakeInterface[] = []): FakeHaNet {
    if (this.#nodes.has(name)) throw new Error(`Fake node "${name}" already exists`);
    const nodeNumber = this.#nodes.size + 1;
    const ifaces = interfaces.map((itf, i): Iface => {
      const [text = "", prefixText = "24"] = itf.address.split("/");
      const address = parseIpv4(text);
      const prefix = Number(prefixText);
      if (address === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
        throw new Error(`Fake interface "${itf.device}" of "${name}" has address "${itf.address}": expected A.B.C.D/N`);
      }
      const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      this.#links.add(itf.segment);
      const mac = itf.mac ?? `02:00:00:00:${hex2(nodeNumber)}:${hex2(i + 1)}`;
      return { device: itf.device, address, mask, broadcast: (address | ~mask) >>> 0, segment: itf.segment, mac, up: true };
    });
    const node: Node = { name, ifaces, sockets: new Set() };
    this.#nodes.set(name, node);
    return this.#haNet(node);
  }

  /** Joins serial device `a[1]` of node `a[0]` to `b[1]` of node `b[0]` with a cable named `link`. */
  connectSerial(link: string, a: readonly [node: string, device: string], b: readonly [node: string, device: string]): void {
    for (const [node, device] of [a, b]) {
      this.#node(node);
      if (this.#serialEnds.has(`${node} ${device}`)) throw new Error(`Serial device "${device}" of "${node}" is already cabled`);
    }
    const endA: SerialEnd = { node: a[0], device: a[1], link, peer: undefined, onData: undefined };
    const endB: SerialEnd = { node: b[0], device: b[1], link, peer: endA, onData: undefined };
    endA.peer = endB;
    this.#serialEnds.set(`${a[0]} ${a[1]}`, endA);
    this.#serialEnds.set(`${b[0]} ${b[1]}`, endB);
    this.#links.add(link);
  }

  /** Cuts a segment or serial cable: everything sent over it from now on is lost silently. */
  cut(link: string): void {
    this.#link(link);
    this.#cut.add(link);
  }

  /** Mends a link cut by `cut`. */
  heal(link: string): void {
    this.#link(link);
    this.#cut.delete(link);
  }

  /** Takes a node's interface down (sends through it fail, nothing reaches it, ARP on it rejects) or up. */
  setDeviceUp(node: string, device: string, up: boolean): void {
    const iface = this.#node(node).ifaces.find((i) => i.device === device);
    if (!iface) throw new Error(`Fake node "${node}" has no interface "${device}"`);
    iface.up = up;
  }

  /** Sets whether pings of `address` are answered, from every node or only from `fromNode`. Unknown addresses do not answer. */
  setReachable(address: string, reachable: boolean, fromNode?: string): void {
    this.#reachable.set(`${fromNode ?? "*"} ${address}`, reachable);
  }

  /** The node whose ARP announcement of `address` came last, as neighbours and switches would believe. */
  arpOwner(address: string): string | undefined {
    return this.#arpOwners.get(address);
  }

  /** Puts a datagram on `segment` as if a foreign host sent it (it passes `datagramFilter` too). */
  inject(segment: string, from: DatagramPeer, to: DatagramPeer, bytes: Uint8Array): void {
    this.#link(segment);
    this.#carry({ segment, fromNode: undefined, from, to, bytes: bytes.slice() }, undefined);
  }

  /** Delivers `bytes` to a node's open serial line as if they came down the cable. */
  injectSerial(node: string, device: string, bytes: Uint8Array): void {
    const end = this.#serialEnds.get(`${node} ${device}`);
    if (!end) throw new Error(`Fake node "${node}" has no serial device "${device}"`);
    this.#later(() => end.onData?.(bytes.slice()));
  }

  /** Resolves once every datagram, serial chunk and answer queued so far (and any they cause) has been delivered. */
  async settle(): Promise<void> {
    while (this.#pending > 0) await new Promise<void>((resolve) => queueMicrotask(resolve));
  }

  #node(name: string): Node {
    const node = this.#nodes.get(name);
    if (!node) throw new Error(`Unknown fake node "${name}"`);
    return node;
  }

  #link(name: string): void {
    if (!this.#links.has(name)) throw new Error(`Unknown fake link "${name}": expected one of ${[...this.#links].join(", ")}`);
  }

  #later(fn: () => void): void {
    this.#pending++;
    queueMicrotask(() => {
      this.#pending--;
      fn();
    });
  }

  #haNet(node: Node): FakeHaNet {
    return {
      nodeName: node.name,
      openDatagram: async (options, onMessage) => this.#open(node, options, onMessage),
      openSerial: async (device, baud, onData) => this.#openSerial(node, device, baud, onData),
      announceArp: async (device, address) => this.#announce(node, device, address),
      ping: (address, timeoutMs) => this.#ping(node, address, timeoutMs),
    };
  }

  #open(node: Node, options: DatagramOptions, onMessage: DatagramHandler): DatagramSocket {
    const where = `"${options.address}:${options.port}"${options.device === undefined ? "" : ` on "${options.device}"`}`;
    const address = parseIpv4(options.address);
    const group = options.multicastGroup === undefined ? undefined : parseIpv4(options.multicastGroup);
    if (address === undefined) throw new Error(`Cannot open UDP socket ${where}: the address is not a dotted-quad IPv4 address`);
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) throw new Error(`Cannot open UDP socket ${where}: the port is not 0 to 65535`);
    if (options.multicastGroup !== undefined && (group === undefined || group >>> 28 !== 0xe)) {
      throw new Error(`Cannot open UDP socket ${where}: multicast group "${options.multicastGroup}" is not an IPv4 multicast address (224.0.0.0/4)`);
    }
    if (options.device !== undefined && !node.ifaces.some((i) => i.device === options.device)) throw new Error(`Cannot open UDP socket ${where}: No such device`);
    if (address !== 0 && !node.ifaces.some((i) => i.address === address)) throw new Error(`Cannot open UDP socket ${where}: Cannot assign requested address`);
    for (const other of node.sockets) {
      // Linux: wildcard receivers share a port (SO_REUSEADDR); anything else overlapping clashes.
      const devicesOverlap = other.device === undefined || options.device === undefined || other.device === options.device;
      const addressesOverlap = other.address === 0 || address === 0 || other.address === address;
      if (other.port === options.port && devicesOverlap && addressesOverlap && !(other.address === 0 && address === 0)) {
        throw new Error(`Cannot open UDP socket ${where}: Address already in use`);
      }
    }
    const socket: Socket = { node, address, port: options.port, device: options.device, broadcast: options.broadcast ?? false, group, onMessage, closed: false };
    node.sockets.add(socket);
    return {
      send: (bytes, length, toAddress, toPort) => this.#send(socket, bytes, length, toAddress, toPort),
      close: () => {
        socket.closed = true;
        node.sockets.delete(socket);
      },
    };
  }

  #send(socket: Socket, bytes: Uint8Array, length: number, toAddress: string, toPort: number): boolean {
    const to = parseIpv4(toAddress);
    if (socket.closed || to === undefined || !Number.isInteger(toPort) || toPort < 1 || toPort > 65535) return false;
    const iface = this.#egress(socket, to);
    if (!iface?.up) return false;
    const isBroadcast = to === LIMITED_BROADCAST || to === iface.broadcast;
    if (isBroadcast && !socket.broadcast) return false;
    const n = length >= bytes.length ? bytes.length : length > 0 ? length : 0;
    const datagram: FakeDatagram = {
      segment: iface.segment,
      fromNode: socket.node.name,
      from: { address: formatIpv4(socket.address === 0 ? iface.address : socket.address), port: socket.port },
      to: { address: toAddress, port: toPort },
      bytes: bytes.slice(0, n),
    };
    this.#carry(datagram, socket.node);
    return true;
  }

  /** The interface a datagram to `to` leaves by: the bound device, else the route to it, else the bound address's. */
  #egress(socket: Socket, to: number): Iface | undefined {
    const ifaces = socket.node.ifaces;
    if (socket.device !== undefined) return ifaces.find((i) => i.device === socket.device);
    const onLink = ifaces.find((i) => (to & i.mask) >>> 0 === (i.address & i.mask) >>> 0 && to !== LIMITED_BROADCAST);
    if (onLink) return onLink;
    if (to === LIMITED_BROADCAST || to >>> 28 === 0xe) return ifaces.find((i) => i.address === socket.address) ?? ifaces[0];
    return undefined;
  }

  /** Puts a datagram on its segment and queues it for every socket that would receive it. */
  #carry(datagram: FakeDatagram, sender: Node | undefined): void {
    this.stats.sent++;
    if (this.#cut.has(datagram.segment) || !this.datagramFilter(datagram)) {
      this.stats.lost++;
      return;
    }
    const to = parseIpv4(datagram.to.address) ?? 0;
    const port = datagram.to.port;
    const receivers: Socket[] = [];
    for (const node of this.#nodes.values()) {
      for (const iface of node.ifaces) {
        if (iface.segment !== datagram.segment || !iface.up) continue;
        receivers.push(...this.#receivers(node, iface, to, port, node === sender));
      }
    }
    if (receivers.length === 0) {
      this.stats.lost++;
      return;
    }
    this.stats.delivered++;
    for (const socket of receivers) {
      this.#later(() => {
        if (!socket.closed) socket.onMessage(datagram.bytes.slice(), datagram.from);
      });
    }
  }

  /** The sockets of `node` that take a datagram to `to:port` arriving on `iface`. */
  #receivers(node: Node, iface: Iface, to: number, port: number, isSender: boolean): Socket[] {
    const candidates = [...node.sockets].filter((s) => !s.closed && s.port === port && (s.device === undefined || s.device === iface.device));
    if (to === LIMITED_BROADCAST || to === iface.broadcast) {
      // Broadcasts loop back to the sender's own node, as on Linux.
      return candidates.filter((s) => s.address === 0 || s.address === to);
    }
    if (to >>> 28 === 0xe) {
      if (isSender) return []; // IP_MULTICAST_LOOP off
      return candidates.filter((s) => s.group === to && (s.address === 0 || s.address === to));
    }
    if (isSender || iface.address !== to) return [];
    // One receiver, as Linux scores them: exact address first, then a device-bound socket.
    const score = (s: Socket) => (s.address === to ? 2 : 0) + (s.device !== undefined ? 1 : 0);
    const best = candidates.filter((s) => s.address === to || s.address === 0).sort((x, y) => score(y) - score(x))[0];
    return best ? [best] : [];
  }

  #openSerial(node: Node, device: string, baud: number, onData: (chunk: Uint8Array) => void): SerialLine {
    const end = this.#serialEnds.get(`${node.name} ${device}`);
    if (!end) throw new Error(`Cannot open serial line "${device}": No such file or directory`);
    if (!Number.isInteger(baud) || baud <= 0) throw new Error(`Cannot open serial line "${device}": baud rate "${baud}" is not one termios can set`);
    if (end.onData) throw new Error(`Cannot open serial line "${device}": Device or resource busy`);
    end.onData = onData;
    let open = true;
    return {
      write: (bytes, length) => {
        if (!open) return false;
        const n = length >= bytes.length ? bytes.length : length > 0 ? length : 0;
        if (n === 0 || this.#cut.has(end.link)) return true;
        const chunk = this.serialFilter(bytes.slice(0, n), { node: node.name, device });
        const peer = end.peer;
        if (chunk !== undefined && peer) this.#later(() => peer.onData?.(chunk));
        return true;
      },
      close: () => {
        if (!open) return;
        open = false;
        end.onData = undefined;
      },
    };
  }

  #announce(node: Node, device: string, address: string): void {
    const iface = node.ifaces.find((i) => i.device === device);
    if (!iface) throw new Error(`Cannot announce "${address}" on "${device}": no such device`);
    if (!iface.up) throw new Error(`Cannot announce "${address}" on "${device}": Network is down`);
    if (parseIpv4(address) === undefined) throw new Error(`Cannot announce "${address}" on "${device}": the address is not a dotted-quad IPv4 address`);
    this.arpAnnouncements.push({ node: node.name, device, address, mac: iface.mac });
    if (!this.#cut.has(iface.segment)) this.#arpOwners.set(address, node.name);
  }

  #ping(node: Node, address: string, timeoutMs: number): Promise<boolean> {
    const reachable = this.#reachable.get(`${node.name} ${address}`) ?? this.#reachable.get(`* ${address}`) ?? false;
    this.pings.push({ node: node.name, address, timeoutMs, reachable });
    return new Promise((resolve) => this.#later(() => resolve(reachable)));
  }
}

function hex2(n: number): string {
  return (n & 0xff).toString(16).padStart(2, "0");
}
