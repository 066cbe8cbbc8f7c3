/**
 * A small DNS message codec for the dns monitor (RFC 1035): encodes one standard query and
 * decodes the header, question and answer section of a response into text. Decoding never
 * throws on wire input: malformed messages come back as a reason, like the packet layer's drops.
 */

/** Record types the dns monitor may ask for, with their RFC 1035 / 3596 / 2782 codes. */
export const DNS_TYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33 } as const;

/** A record type by name. */
export type DnsTypeName = keyof typeof DNS_TYPES;

/** Response codes by number (RFC 1035 §4.1.1, RFC 2136 §2.2 for 6–10). */
const RCODE_NAMES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"] as const;

const HEADER_BYTES = 12;
/** A name is at most 255 octets on the wire (RFC 1035 §3.1), so at most 127 labels. */
const MAX_NAME_BYTES = 255;
const MAX_LABEL_BYTES = 63;
/** Compression pointers are followed at most this often per name; real names need a few. */
const MAX_POINTER_HOPS = 64;
const CLASS_IN = 1;
const FLAG_QR = 0x8000;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;

/** One query: `id` is the 16-bit message id (pick it at random, RFC 5452 §9.2). */
export interface DnsQuery {
  readonly id: number;
  readonly name: string;
  readonly type: DnsTypeName;
}

/** Result of encoding a query: the wire bytes, or why the name cannot be encoded. */
export type EncodeDnsQueryResult = { readonly ok: true; readonly bytes: Uint8Array } | { readonly ok: false; readonly reason: string };

/** One resource record of the answer section, its data in presentation-like text. */
export interface DnsAnswer {
  /** Owner name, without the trailing dot ("" for the root). */
  readonly name: string;
  readonly type: number;
  /** "A", "MX"...; "TYPE65" for a type this codec does not know (RFC 3597 §5). */
  readonly typeName: string;
  readonly ttl: number;
  /**
   * The data as text: A dotted quad; AAAA RFC 5952 text; CNAME, NS, PTR a name; MX "pref name";
   * SRV "priority weight port target"; SOA the primary server name (mname); TXT its strings
   * concatenated (RFC 7208 §3.3 style, bytes outside printable ASCII as \DDD); others "\# LEN HEX".
   */
  readonly data: string;
}

/** A decoded response (header, first question, answers; authority and additional are not read). */
export interface DnsResponse {
  readonly id: number;
  /** True when the QR bit says this is a response. */
  readonly isResponse: boolean;
  /** True when the TC bit says the message was truncated (answers may be missing). */
  readonly truncated: boolean;
  readonly rcode: number;
  /** "NOERROR", "NXDOMAIN"...; "RCODE12" for an unnamed code. */
  readonly rcodeName: string;
  /** The first question, when the response carries one. */
  readonly question: { readonly name: string; readonly type: number } | undefined;
  readonly answers: readonly DnsAnswer[];
}

/** Result of decoding: the response, or why it is malformed (with the id when the header was whole). */
export type DecodeDnsResponseResult =
  | { readonly ok: true; readonly response: DnsResponse }
  | { readonly ok: false; readonly reason: string; readonly id: number | undefined };

/** The name of a response code ("RCODE12" for one without a name). */
export function dnsRcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

/** The name of a record type ("TYPE65" for one this codec does not know, RFC 3597 §5). */
export function dnsTypeName(type: number): string {
  for (const [name, code] of Object.entries(DNS_TYPES)) if (code === type) return name;
  return `TYPE${type}`;
}

/**
 * Encodes a standard query (opcode QUERY, RD set, one IN question, RFC 1035 §4.1). `name` is
 * ASCII labels separated by dots, a trailing dot optional ("." or "" is the root). Never throws:
 * an empty or over-long label, a name over 255 octets, a non-ASCII name (IDNA is not done here)
 * or an id outside 0..65535 is refused with a reason.
 */
export function encodeDnsQuery(query: DnsQuery): EncodeDnsQueryResult {
  if (!Number.isInteger(query.id) || query.id < 0 || query.id > 0xffff) return { ok: false, reason: `Query id "${query.id}" is not 0 to 65535` };
  const type = DNS_TYPES[query.type];
  if (type === undefined) return { ok: false, reason: `Record type "${String(query.type)}" is not supported` };
  const labels = encodeName(query.name);
  if (typeof labels === "string") return { ok: false, reason: labels };
  const bytes = new Uint8Array(HEADER_BYTES + labels.length + 4);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, query.id);
  view.setUint16(2, FLAG_RD);
  view.setUint16(4, 1); // QDCOUNT; AN, NS and AR counts stay 0.
  bytes.set(labels, HEADER_BYTES);
  view.setUint16(HEADER_BYTES + labels.length, type);
  view.setUint16(HEADER_BYTES + labels.length + 2, CLASS_IN);
  return { ok: true, bytes };
}

/** The wire form of `name` (length-prefixed labels, then the root's 0), or why it has none. */
function encodeName(name: string): Uint8Array | string {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  const labels = trimmed === "" ? [] : trimmed.split(".");
  const out: number[] = [];
  for (const label of labels) {
    if (label.length === 0) return `Name "${name}" has an empty label`;
    if (label.length > MAX_LABEL_BYTES) return `Name "${name}" has a label longer than ${MAX_LABEL_BYTES} octets`;
    out.push(label.length);
    for (let i = 0; i < label.length; i++) {
      const c = label.charCodeAt(i);
      if (c <= 0x20 || c >= 0x7f) return `Name "${name}" has a character that is not printable ASCII (IDNA is not supported)`;
      out.push(c);
    }
  }
  out.push(0);
  if (out.length > MAX_NAME_BYTES) return `Name "${name}" is longer than ${MAX_NAME_BYTES} octets`;
  return Uint8Array.from(out);
}

/** Thrown inside the decoder only, and always caught by `decodeDnsResponse`. */
class Malformed {
  constructor(readonly reason: string) {}
}

/**
 * Decodes a response: header, the question section (the first question is kept) and the answer
 * section. Never throws: a message cut short, a record running past the end, a label type other
 * than a plain label or a pointer, a compression pointer that does not point backwards (the guard
 * against loops), a name over 255 octets, or record data whose length does not fit its type,
 * yields `{ ok: false, reason }`.
 */
export function decodeDnsResponse(bytes: Uint8Array): DecodeDnsResponseResult {
  if (bytes.length < HEADER_BYTES) return { ok: false, reason: `Message of ${bytes.length} bytes is shorter than the 12-byte header`, id: undefined };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const id = view.getUint16(0);
  const flags = view.getUint16(2);
  const qdcount = view.getUint16(4);
  const ancount = view.getUint16(6);
  try {
    let at = HEADER_BYTES;
    let question: DnsResponse["question"];
    for (let i = 0; i < qdcount; i++) {
      const name = readName(bytes, at, bytes.length, `question ${i + 1}`);
      at = name.end;
      need(bytes, at, 4, `question ${i + 1}`);
      question ??= { name: name.text, type: view.getUint16(at) };
      at += 4;
    }
    const answers: DnsAnswer[] = [];
    for (let i = 0; i < ancount; i++) {
      const record = readRecord(bytes, view, at, i + 1);
      answers.push(record.answer);
      at = record.end;
    }
    const rcode = flags & 0x000f;
    return {
      ok: true,
      response: { id, isResponse: (flags & FLAG_QR) !== 0, truncated: (flags & FLAG_TC) !== 0, rcode, rcodeName: dnsRcodeName(rcode), question, answers },
    };
  } catch (error) {
    if (error instanceof Malformed) return { ok: false, reason: error.reason, id };
    // Anything else is a bug in this decoder; still no throw on wire input.
    return { ok: false, reason: `Decoder error: ${String(error)}`, id };
  }
}

function need(bytes: Uint8Array, at: number, length: number, what: string): void {
  if (at + length > bytes.length) throw new Malformed(`${what} runs past the end of the ${bytes.length}-byte message (needs ${length} bytes at offset ${at})`);
}

/** Reads one answer record at `at`. */
function readRecord(bytes: Uint8Array, view: DataView, at: number, index: number): { answer: DnsAnswer; end: number } {
  const what = `answer ${index}`;
  const owner = readName(bytes, at, bytes.length, what);
  at = owner.end;
  need(bytes, at, 10, what);
  const type = view.getUint16(at);
  const ttl = view.getUint32(at + 4);
  const rdlength = view.getUint16(at + 8);
  at += 10;
  need(bytes, at, rdlength, `${what} data`);
  const data = readData(bytes, view, type, at, at + rdlength, what);
  return { answer: { name: owner.text, type, typeName: dnsTypeName(type), ttl, data }, end: at + rdlength };
}

/** The text of one record's data in `bytes[start, end)`. */
function readData(bytes: Uint8Array, view: DataView, type: number, start: number, end: number, what: string): string {
  const length = end - start;
  const fixed = (expected: number) => {
    if (length !== expected) throw new Malformed(`${what}: ${dnsTypeName(type)} data of ${length} bytes (expected ${expected})`);
  };
  const name = (at: number) => readName(bytes, at, end, what);
  const whole = (text: string, stop: number) => {
    if (stop !== end) throw new Malformed(`${what}: ${dnsTypeName(type)} data has ${end - stop} bytes left over`);
    return text;
  };
  switch (type) {
    case DNS_TYPES.A:
      fixed(4);
      return `${bytes[start]}.${bytes[start + 1]}.${bytes[start + 2]}.${bytes[start + 3]}`;
    case DNS_TYPES.AAAA:
      fixed(16);
      return formatIpv6(view, start);
    case DNS_TYPES.CNAME:
    case DNS_TYPES.NS:
    case DNS_TYPES.PTR: {
      const n = name(start);
      return whole(n.text, n.end);
    }
    case DNS_TYPES.MX: {
      if (length < 3) throw new Malformed(`${what}: MX data of ${length} bytes is too short`);
      const n = name(start + 2);
      return whole(`${view.getUint16(start)} ${n.text}`, n.end);
    }
    case DNS_TYPES.SRV: {
      if (length < 7) throw new Malformed(`${what}: SRV data of ${length} bytes is too short`);
      const n = name(start + 6);
      return whole(`${view.getUint16(start)} ${view.getUint16(start + 2)} ${view.getUint16(start + 4)} ${n.text}`, n.end);
    }
    case DNS_TYPES.SOA: {
      const mname = name(start);
      const rname = name(mname.end);
      // Then SERIAL, REFRESH, RETRY, EXPIRE and MINIMUM, 32 bits each (RFC 1035 §3.3.13).
      if (rname.end + 20 > end) throw new Malformed(`${what}: SOA data ends before its five counters`);
      return whole(mname.text, rname.end + 20);
    }
    case DNS_TYPES.TXT:
      return readTxt(bytes, start, end, what);
    default: {
      // RFC 3597 §5: unknown data as "\# LENGTH HEX".
      let hex = "";
      for (let i = start; i < end; i++) hex += (bytes[i]! < 16 ? "0" : "") + bytes[i]!.toString(16);
      return length === 0 ? "\\# 0" : `\\# ${length} ${hex}`;
    }
  }
}

/** TXT data: one or more <character-string>s (RFC 1035 §3.3.14), concatenated. */
function readTxt(bytes: Uint8Array, start: number, end: number, what: string): string {
  if (start === end) throw new Malformed(`${what}: TXT data is empty (at least one string is required)`);
  let text = "";
  for (let at = start; at < end; ) {
    const length = bytes[at]!;
    if (at + 1 + length > end) throw new Malformed(`${what}: TXT string of ${length} bytes runs past its record`);
    for (let i = at + 1; i <= at + length; i++) text += presentByte(bytes[i]!, false);
    at += 1 + length;
  }
  return text;
}

/** A byte as presentation text: printable ASCII as is, others as \DDD, "\\" (and "\." in names) escaped (RFC 1035 §5.1). */
function presentByte(b: number, inName: boolean): string {
  if (b === 0x5c || (inName && b === 0x2e)) return `\\${String.fromCharCode(b)}`;
  if (b > 0x20 && b < 0x7f) return String.fromCharCode(b);
  if (b === 0x20 && !inName) return " ";
  return `\\${String(b).padStart(3, "0")}`;
}

/**
 * Reads a (possibly compressed, RFC 1035 §4.1.4) name at `at`; its inline labels must end by
 * `limit`. Guards against hostile messages: every pointer must point before itself, at most
 * 64 pointers are followed, and the labels read may total at most 255 octets, so a pointer loop
 * ends in a reason, never in a hang. Returns the text
 * (no trailing dot) and where the name ends in the message (after the first pointer, if any).
 */
function readName(bytes: Uint8Array, at: number, limit: number, what: string): { text: string; end: number } {
  let text = "";
  let wireBytes = 0;
  let hops = 0;
  let end: number | undefined;
  let cursor = at;
  let bound = limit;
  for (;;) {
    if (cursor >= bound) throw new Malformed(`${what}: Name at offset ${at} runs past the end of its ${end === undefined ? "section" : "message"}`);
    const length = bytes[cursor]!;
    const kind = length & 0xc0;
    if (kind === 0xc0) {
      if (cursor + 1 >= bound) throw new Malformed(`${what}: Compression pointer at offset ${cursor} is cut short`);
      const target = ((length & 0x3f) << 8) | bytes[cursor + 1]!;
      if (target >= cursor) throw new Malformed(`${what}: Compression pointer at offset ${cursor} points forward to ${target} (loop guard)`);
      if (++hops > MAX_POINTER_HOPS) throw new Malformed(`${what}: Name at offset ${at} follows more than ${MAX_POINTER_HOPS} compression pointers`);
      end ??= cursor + 2;
      cursor = target;
      // Pointed-to labels may lie anywhere earlier in the message, not only within the record.
      bound = bytes.length;
      continue;
    }
    if (kind !== 0) throw new Malformed(`${what}: Label type 0x${kind.toString(16)} at offset ${cursor} is not supported`);
    wireBytes += 1 + length;
    if (wireBytes > MAX_NAME_BYTES) throw new Malformed(`${what}: Name at offset ${at} is longer than ${MAX_NAME_BYTES} octets`);
    if (length === 0) return { text, end: end ?? cursor + 1 };
    if (cursor + 1 + length > bound) throw new Malformed(`${what}: Label at offset ${cursor} runs past the end of its ${end === undefined ? "section" : "message"}`);
    if (text !== "") text += ".";
    for (let i = cursor + 1; i <= cursor + length; i++) text += presentByte(bytes[i]!, true);
    cursor += 1 + length;
  }
}

/** RFC 5952 §4 text of the 16-byte address at `at`: lower case, no leading zeros, longest zero run (≥ 2) as "::". */
function formatIpv6(view: DataView, at: number): string {
  const groups = Array.from({ length: 8 }, (_, i) => view.getUint16(at + 2 * i));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => groups.slice(from, to).map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}
