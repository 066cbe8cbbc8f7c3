/**
 * Builds DNS response bytes for tests of the DNS codec and the dns probe: names (with or without
 * compression pointers), record data of each type, and whole messages. Runtime-neutral.
 */

/** Wire labels of `name` ("" is the root), ending with the root's 0. */
export function labels(name: string): number[] {
  const out: number[] = [];
  for (const label of name === "" ? [] : name.split(".")) out.push(label.length, ...Array.from(label, (c) => c.charCodeAt(0)));
  out.push(0);
  return out;
}

/** A compression pointer to `offset` (RFC 1035 §4.1.4). */
export function pointer(offset: number): number[] {
  return [0xc0 | (offset >> 8), offset & 0xff];
}

const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u32 = (n: number) => [...u16(Math.floor(n / 0x10000)), ...u16(n & 0xffff)];

/** Record data of the common types. */
export const rdata = {
  a: (ip: string) => ip.split(".").map(Number),
  aaaa: (groups: number[]) => groups.flatMap(u16),
  name: (name: string | number[]) => (typeof name === "string" ? labels(name) : name),
  mx: (preference: number, name: string | number[]) => [...u16(preference), ...rdata.name(name)],
  srv: (priority: number, weight: number, port: number, target: string) => [...u16(priority), ...u16(weight), ...u16(port), ...labels(target)],
  soa: (mname: string, rname: string) => [...labels(mname), ...labels(rname), ...u32(2024010101), ...u32(3600), ...u32(600), ...u32(86400), ...u32(300)],
  txt: (...strings: (string | number[])[]) =>
    strings.flatMap((s) => {
      const bytes = typeof s === "string" ? Array.from(s, (c) => c.charCodeAt(0)) : s;
      return [bytes.length, ...bytes];
    }),
};

/** One answer record: `owner` defaults to a pointer to the question name at offset 12 (the root without a question). */
export interface WireAnswer {
  owner?: number[];
  type: number;
  ttl?: number;
  data: number[];
}

/** A response message; flags default to QR, RD and RA (0x8180) plus `rcode`. */
export function response(o: { id: number; rcode?: number; flags?: number; question?: { name: string; type: number }; answers?: WireAnswer[] }): Uint8Array {
  const question = o.question === undefined ? [] : [...labels(o.question.name), ...u16(o.question.type), ...u16(1)];
  const answers = (o.answers ?? []).flatMap((a) => [...(a.owner ?? (o.question === undefined ? [0] : pointer(12))), ...u16(a.type), ...u16(1), ...u32(a.ttl ?? 60), ...u16(a.data.length), ...a.data]);
  const flags = (o.flags ?? 0x8180) | (o.rcode ?? 0);
  return Uint8Array.from([...u16(o.id), ...u16(flags), ...u16(o.question === undefined ? 0 : 1), ...u16(o.answers?.length ?? 0), 0, 0, 0, 0, ...question, ...answers]);
}
