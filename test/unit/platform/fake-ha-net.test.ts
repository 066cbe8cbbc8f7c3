import { describe, expect, test } from "bun:test";
import type { DatagramPeer } from "../../../src/core/ports.ts";
import { FakeHaNetwork } from "../../../src/platform/fake/fake-ha-net.ts";

/** Two nodes on a heartbeat segment "hb" (eth2) and a public segment "pub" (eth0). */
function pair() {
  const network = new FakeHaNetwork();
  const a = network.addNode("a", [
    { device: "eth0", address: "10.200.0.2/24", segment: "pub" },
    { device: "eth2", address: "10.202.0.2/24", segment: "hb" },
  ]);
  const b = network.addNode("b", [
    { device: "eth0", address: "10.200.0.3/24", segment: "pub" },
    { device: "eth2", address: "10.202.0.3/24", segment: "hb" },
  ]);
  return { network, a, b };
}

type Received = { text: string; from: DatagramPeer }[];

function collector(into: Received) {
  return (bytes: Uint8Array, from: DatagramPeer) => into.push({ text: new TextDecoder().decode(bytes), from });
}

const bytes = (text: string) => new TextEncoder().encode(text);

describe("fake-ha-net datagrams", () => {
  test("a unicast datagram reaches the socket bound to its address and port, after send returned", async () => {
    const { network, a, b } = pair();
    const atB: Received = [];
    const sa = await a.openDatagram({ address: "10.202.0.2", port: 694 }, () => {});
    await b.openDatagram({ address: "10.202.0.3", port: 694 }, collector(atB));
    expect(sa.send(bytes("hello!"), 5, "10.202.0.3", 694)).toBe(true);
    expect(atB).toEqual([]);
    await network.settle();
    expect(atB).toEqual([{ text: "hello", from: { address: "10.202.0.2", port: 694 } }]);
    expect(network.stats).toEqual({ sent: 1, delivered: 1, lost: 0 });
  });

  test("a broadcast reaches every wildcard socket on the segment, the sender's own node included", async () => {
    const { network, a, b } = pair();
    const atA: Received = [];
    const atB: Received = [];
    const sa = await a.openDatagram({ address: "0.0.0.0", port: 694, device: "eth2", broadcast: true }, collector(atA));
    await b.openDatagram({ address: "0.0.0.0", port: 694, device: "eth2" }, collector(atB));
    // A wildcard socket of b on the other segment must not hear it.
    const elsewhere: Received = [];
    await b.openDatagram({ address: "0.0.0.0", port: 694, device: "eth0" }, collector(elsewhere));
    expect(sa.send(bytes("hb"), 2, "10.202.0.255", 694)).toBe(true);
    await network.settle();
    expect(atB.map((r) => r.text)).toEqual(["hb"]);
    expect(atA.map((r) => r.from.address)).toEqual(["10.202.0.2"]);
    expect(elsewhere).toEqual([]);
  });

  test("a broadcast from a socket without the broadcast option is refused", async () => {
    const { a } = pair();
    const sa = await a.openDatagram({ address: "0.0.0.0", port: 694, device: "eth2" }, () => {});
    expect(sa.send(bytes("hb"), 2, "255.255.255.255", 694)).toBe(false);
  });

  test("a multicast datagram reaches the group's members on other nodes, not the sender", async () => {
    const { network, a, b } = pair();
    const atA: Received = [];
    const atB: Received = [];
    const options = { address: "0.0.0.0", port: 694, device: "eth2", multicastGroup: "239.0.0.94" };
    const sa = await a.openDatagram(options, collector(atA));
    await b.openDatagram(options, collector(atB));
    const notJoined: Received = [];
    await b.openDatagram({ address: "0.0.0.0", port: 694, device: "eth0" }, collector(notJoined));
    expect(sa.send(bytes("mc"), 2, "239.0.0.94", 694)).toBe(true);
    await network.settle();
    expect(atB.map((r) => r.text)).toEqual(["mc"]);
    expect(atA).toEqual([]);
    expect(notJoined).toEqual([]);
  });

  test("a cut link loses datagrams silently until healed; a device that is down refuses them", async () => {
    const { network, a, b } = pair();
    const atB: Received = [];
    const sa = await a.openDatagram({ address: "10.202.0.2", port: 694 }, () => {});
    await b.openDatagram({ address: "10.202.0.3", port: 694 }, collector(atB));
    network.cut("hb");
    expect(sa.send(bytes("1"), 1, "10.202.0.3", 694)).toBe(true);
    network.heal("hb");
    expect(sa.send(bytes("2"), 1, "10.202.0.3", 694)).toBe(true);
    network.setDeviceUp("a", "eth2", false);
    expect(sa.send(bytes("3"), 1, "10.202.0.3", 694)).toBe(false);
    await network.settle();
    expect(atB.map((r) => r.text)).toEqual(["2"]);
    expect(network.stats).toEqual({ sent: 2, delivered: 1, lost: 1 });
  });

  test("the loss hook drops chosen datagrams and injection delivers foreign ones", async () => {
    const { network, a, b } = pair();
    const atB: Received = [];
    const sa = await a.openDatagram({ address: "10.202.0.2", port: 694 }, () => {});
    await b.openDatagram({ address: "0.0.0.0", port: 694, device: "eth2" }, collector(atB));
    let n = 0;
    network.datagramFilter = (d) => d.fromNode === undefined || n++ % 2 === 1;
    for (const text of ["a", "b", "c", "d"]) sa.send(bytes(text), 1, "10.202.0.3", 694);
    network.inject("hb", { address: "10.202.0.66", port: 4000 }, { address: "10.202.0.3", port: 694 }, bytes("forged"));
    await network.settle();
    expect(atB.map((r) => `${r.text}@${r.from.address}`)).toEqual(["b@10.202.0.2", "d@10.202.0.2", "forged@10.202.0.66"]);
  });

  test("sends to bad addresses, bad ports, unroutable addresses or from closed sockets return false", async () => {
    const { a } = pair();
    const sa = await a.openDatagram({ address: "10.202.0.2", port: 694 }, () => {});
    expect(sa.send(bytes("x"), 1, "not-an-address", 694)).toBe(false);
    expect(sa.send(bytes("x"), 1, "10.202.0.3", 0)).toBe(false);
    expect(sa.send(bytes("x"), 1, "192.0.2.1", 694)).toBe(false);
    sa.close();
    sa.close();
    expect(sa.send(bytes("x"), 1, "10.202.0.3", 694)).toBe(false);
  });

  test("binding follows Linux: wildcard receivers share a port, overlapping unicast binds clash", async () => {
    const { a } = pair();
    await a.openDatagram({ address: "0.0.0.0", port: 694, device: "eth0" }, () => {});
    await a.openDatagram({ address: "0.0.0.0", port: 694, device: "eth2" }, () => {});
    await a.openDatagram({ address: "10.202.0.2", port: 695 }, () => {});
    await expect(a.openDatagram({ address: "10.202.0.2", port: 695 }, () => {})).rejects.toThrow('Cannot open UDP socket "10.202.0.2:695": Address already in use');
    await expect(a.openDatagram({ address: "10.9.9.9", port: 1 }, () => {})).rejects.toThrow("Cannot assign requested address");
    await expect(a.openDatagram({ address: "0.0.0.0", port: 1, device: "eth9" }, () => {})).rejects.toThrow('"0.0.0.0:1" on "eth9": No such device');
  });
});

describe("fake-ha-net serial lines", () => {
  test("a cable carries bytes both ways between its two ends, and not while cut", async () => {
    const network = new FakeHaNetwork();
    const a = network.addNode("a");
    const b = network.addNode("b");
    network.connectSerial("serial", ["a", "/dev/ttyS1"], ["b", "/dev/ttyS1"]);
    const atA: string[] = [];
    const atB: string[] = [];
    const la = await a.openSerial("/dev/ttyS1", 115200, (c) => atA.push(new TextDecoder().decode(c)));
    const lb = await b.openSerial("/dev/ttyS1", 115200, (c) => atB.push(new TextDecoder().decode(c)));
    expect(la.write(bytes("ping!"), 4)).toBe(true);
    expect(lb.write(bytes("pong"), 4)).toBe(true);
    network.cut("serial");
    expect(la.write(bytes("lost"), 4)).toBe(true);
    network.heal("serial");
    network.serialFilter = (chunk) => chunk.map((x) => x ^ 0x20);
    la.write(bytes("flip"), 4);
    await network.settle();
    expect(atB).toEqual(["ping", "FLIP"]);
    expect(atA).toEqual(["pong"]);
    la.close();
    expect(la.write(bytes("x"), 1)).toBe(false);
  });

  test("opening a serial device that is not cabled or already open is refused", async () => {
    const network = new FakeHaNetwork();
    const a = network.addNode("a");
    network.addNode("b");
    network.connectSerial("serial", ["a", "/dev/ttyS1"], ["b", "/dev/ttyS1"]);
    await expect(a.openSerial("/dev/ttyS0", 115200, () => {})).rejects.toThrow('Cannot open serial line "/dev/ttyS0": No such file or directory');
    const line = await a.openSerial("/dev/ttyS1", 115200, () => {});
    await expect(a.openSerial("/dev/ttyS1", 115200, () => {})).rejects.toThrow("Device or resource busy");
    line.close();
    (await a.openSerial("/dev/ttyS1", 115200, () => {})).close();
  });
});

describe("fake-ha-net ARP and pings", () => {
  test("announcements are recorded and the last one owns the address; a missing or down device rejects", async () => {
    const { network, a, b } = pair();
    await a.announceArp("eth0", "10.200.0.10");
    await b.announceArp("eth0", "10.200.0.10");
    expect(network.arpOwner("10.200.0.10")).toBe("b");
    expect(network.arpAnnouncements).toEqual([
      { node: "a", device: "eth0", address: "10.200.0.10", mac: "02:00:00:00:01:01" },
      { node: "b", device: "eth0", address: "10.200.0.10", mac: "02:00:00:00:02:01" },
    ]);
    await expect(a.announceArp("eth7", "10.200.0.10")).rejects.toThrow('Cannot announce "10.200.0.10" on "eth7": no such device');
    network.setDeviceUp("a", "eth0", false);
    await expect(a.announceArp("eth0", "10.200.0.10")).rejects.toThrow("Network is down");
    expect(network.arpOwner("10.200.0.10")).toBe("b");
  });

  test("pings are answered from the reachability table, per node when set so", async () => {
    const { network, a, b } = pair();
    network.setReachable("10.200.0.1", true);
    network.setReachable("10.200.0.1", false, "b");
    expect(await a.ping("10.200.0.1", 500)).toBe(true);
    expect(await b.ping("10.200.0.1", 500)).toBe(false);
    expect(await a.ping("10.200.0.99", 500)).toBe(false);
    expect(network.pings.map((p) => `${p.node}:${p.address}:${p.reachable}`)).toEqual(["a:10.200.0.1:true", "b:10.200.0.1:false", "a:10.200.0.99:false"]);
  });

  test("settle also waits for deliveries that deliveries cause", async () => {
    const { network, a, b } = pair();
    const atA: Received = [];
    const sa = await a.openDatagram({ address: "10.202.0.2", port: 694 }, collector(atA));
    const sb = await b.openDatagram({ address: "10.202.0.3", port: 694 }, (data, from) => sb.send(data, data.length, from.address, from.port));
    sa.send(bytes("echo"), 4, "10.202.0.3", 694);
    await network.settle();
    expect(atA.map((r) => r.text)).toEqual(["echo"]);
  });
});
