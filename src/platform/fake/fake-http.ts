/**
 * In-memory HTTP for fast CLI tests: servers listen on an address and port with a fetch handler
 * (what `Platform.serve` takes), clients send requests (what `Platform.httpRequest` does).
 *
 * What it mimics: a request nobody listens for is refused; a listener on 0.0.0.0 takes every
 * IPv4 address and one on :: every IPv6 address, an exact address winning; a handler that has
 * not answered within the request's `timeoutMs` on the given clock times out; a handler that
 * throws answers HTTP 500, as Bun.serve does. Not modelled: name resolution (host names only
 * match a listener on exactly that name), redirects, TLS, streaming bodies.
 */

import type { HttpRequest, HttpResult } from "../../cli/platform.ts";
import type { Clock } from "../../core/ports.ts";

/** A fetch handler, as `Platform.serve` takes it. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** One request a client sent, in order, whether or not anything answered it. */
export interface FakeHttpExchange {
  readonly method: string;
  readonly url: string;
  readonly result: HttpResult["kind"];
}

function hostKey(address: string, port: number): string {
  return `${address.replace(/^\[(.*)\]$/, "$1")}|${port}`;
}

/** A set of fake HTTP listeners reachable by URL. */
export class FakeHttpNetwork {
  /** Every request sent so far, in order. */
  readonly exchanges: FakeHttpExchange[] = [];
  private readonly listeners = new Map<string, FetchHandler>();

  constructor(private readonly clock: Clock) {}

  /** Serves `fetch` on `address:port`; returns a function that stops it. Throws when the pair is taken. */
  listen(address: string, port: number, fetch: FetchHandler): () => void {
    const key = hostKey(address, port);
    if (this.listeners.has(key)) throw new Error(`Cannot listen on ${address}:${port}: address already in use`);
    this.listeners.set(key, fetch);
    return () => {
      if (this.listeners.get(key) === fetch) this.listeners.delete(key);
    };
  }

  /** Sends one request; never rejects (see `Platform.httpRequest`). */
  readonly request = async (request: HttpRequest): Promise<HttpResult> => {
    const result = await this.exchange(request);
    this.exchanges.push({ method: request.method, url: request.url, result: result.kind });
    return result;
  };

  private async exchange(request: HttpRequest): Promise<HttpResult> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return { kind: "failed", detail: `invalid URL "${request.url}"` };
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
    const wildcard = host.includes(":") ? "::" : /^[\d.]+$/.test(host) ? "0.0.0.0" : undefined;
    const handler = this.listeners.get(hostKey(host, port)) ?? (wildcard === undefined ? undefined : this.listeners.get(hostKey(wildcard, port)));
    if (!handler) return { kind: "refused", detail: "connection refused" };
    const answer = (async (): Promise<HttpResult> => {
      let response: Response;
      try {
        response = await handler(new Request(request.url, { method: request.method, body: request.body }));
      } catch (error) {
        return { kind: "response", status: 500, body: `Internal Server Error: ${(error as Error).message}` };
      }
      return { kind: "response", status: response.status, body: await response.text() };
    })();
    return await new Promise<HttpResult>((resolve) => {
      const cancel = this.clock.after(request.timeoutMs, () => resolve({ kind: "timeout", detail: `no answer within ${request.timeoutMs} ms` }));
      void answer.then((result) => {
        cancel();
        resolve(result);
      });
    });
  }
}
