import type { HttpRequest, HttpResult } from "../../cli/platform.ts";

/** Sends one HTTP request with Bun's fetch. Contract: never rejects; refused, timed-out and failed exchanges are results. */
export async function bunHttpRequest(request: HttpRequest): Promise<HttpResult> {
  try {
    const response = await fetch(request.url, {
      method: request.method,
      body: request.body,
      headers: request.headers,
      redirect: "manual",
      // One signal for the whole exchange: a server that stalls mid-body counts as a timeout too.
      signal: AbortSignal.timeout(request.timeoutMs),
    });
    return { kind: "response", status: response.status, body: await response.text() };
  } catch (error) {
    const e = error as { name?: string; code?: string; message?: string } | undefined;
    if (e?.name === "TimeoutError") return { kind: "timeout", detail: `no answer within ${request.timeoutMs} ms` };
    if (e?.code === "ECONNREFUSED" || e?.code === "ConnectionRefused") return { kind: "refused", detail: "connection refused" };
    return { kind: "failed", detail: e?.message ?? String(error) };
  }
}
