/**
 * The heartbeat links of one node, opened from the config: UDP sockets (unicast to the peer's
 * address on the link's interface role, the subnet broadcast, or a multicast group) and serial
 * lines (framed with COBS + CRC-32). Every link delivers whole frames to one callback, tagged with
 * its index, and sends whole frames; what a link cannot send counts as lost, never as an error.
 */

import type { TandemConfig } from "../core/config/resolve-config.ts";
import { encodeSerialFrame, MAX_SERIAL_FRAME_BYTES, SerialDeframer } from "../core/ha/serial-framer.ts";
import type { DatagramSocket, HaNet, SerialLine } from "../core/ports.ts";

/** Counters of one link, for the API and metrics. */
export interface HaLinkCounters {
  sent: number;
  sendFailed: number;
  received: number;
  /** Serial only: frames the deframer threw away (CRC, encoding, length). */
  badFrames: number;
}

/** One open link. */
export interface HaLink {
  readonly index: number;
  /** "udp eth2 10.202.0.2 -> 10.202.0.3:694" or "serial /dev/ttyS1": for logs and the API. */
  readonly label: string;
  readonly counters: HaLinkCounters;
  send(frame: Uint8Array, length: number): void;
  close(): void;
}

/** Called with each frame a link received; `bytes` is only valid during the call. */
export type HaFrameHandler = (link: number, bytes: Uint8Array, length: number) => void;

type Node = TandemConfig["node"][number];

/** The subnet broadcast address of `address/prefix`, dotted. */
function broadcastOf(address: string, prefix: number): string {
  const n = address.split(".").reduce((a, o) => a * 256 + Number(o), 0);
  const host = prefix >= 32 ? 0 : 2 ** (32 - prefix) - 1;
  const b = (n - (n % (host + 1)) + host) >>> 0;
  return [b >>> 24, (b >>> 16) & 255, (b >>> 8) & 255, b & 255].join(".");
}

/**
 * Opens every link of `config.heartbeat.links` for `node` (talking to `peer`). Contract: all or
 * nothing: when one link cannot be opened the ones already open are closed and it rejects with a
 * message naming the link.
 */
export async function openHaLinks(config: TandemConfig, node: Node, peer: Node | undefined, net: HaNet, onFrame: HaFrameHandler): Promise<HaLink[]> {
  const links: HaLink[] = [];
  try {
    for (const [index, spec] of config.heartbeat.links.entries()) {
      const counters: HaLinkCounters = { sent: 0, sendFailed: 0, received: 0, badFrames: 0 };
      if (spec.kind === "serial") {
        const deframer = new SerialDeframer();
        const out = new Uint8Array(MAX_SERIAL_FRAME_BYTES);
        const line: SerialLine = await net.openSerial(spec.device, spec.baud, (chunk) => {
          deframer.push(chunk, (payload) => {
            counters.received++;
            onFrame(index, payload, payload.length);
          });
          counters.badFrames = deframer.counters.badCrc + deframer.counters.badEncoding + deframer.counters.tooLong + deframer.counters.tooShort;
        }).catch((error: unknown) => {
          throw new Error(`Cannot open heartbeat link ${index} (serial "${spec.device}"): ${(error as Error).message}`);
        });
        links.push({
          index,
          label: `serial ${spec.device}`,
          counters,
          send(frame, length) {
            const n = encodeSerialFrame(frame, length, out);
            if (line.write(out, n)) counters.sent++;
            else counters.sendFailed++;
          },
          close: () => line.close(),
        });
        continue;
      }
      const own = node.interfaces[spec.interface]!;
      const peerItf = peer?.interfaces[spec.interface];
      const destination = spec.mode === "multicast" ? spec.group! : spec.mode === "broadcast" ? broadcastOf(own.address.address, own.address.prefix) : peerItf?.address.address;
      const bindAddress = spec.mode === "unicast" ? own.address.address : "0.0.0.0";
      const socket: DatagramSocket = await net
        .openDatagram(
          { address: bindAddress, port: spec.port, device: own.device, broadcast: spec.mode === "broadcast", multicastGroup: spec.mode === "multicast" ? spec.group : undefined },
          (bytes) => {
            counters.received++;
            onFrame(index, bytes, bytes.length);
          },
        )
        .catch((error: unknown) => {
          throw new Error(`Cannot open heartbeat link ${index} (udp ${own.device} ${bindAddress}:${spec.port}): ${(error as Error).message}`);
        });
      links.push({
        index,
        label: `udp ${own.device} ${own.address.address} -> ${destination ?? "(no peer)"}:${spec.port}`,
        counters,
        send(frame, length) {
          if (destination === undefined) return;
          if (socket.send(frame, length, destination, spec.port)) counters.sent++;
          else counters.sendFailed++;
        },
        close: () => socket.close(),
      });
    }
  } catch (error) {
    for (const link of links) link.close();
    throw error;
  }
  return links;
}
