import type { HttpRequest, HttpResult } from "../../cli/platform.ts";

/** Sends one HTTP request with Deno's fetch. Contract: never rejects; refused, timed-out and failed exchanges are results. */
export async function denoHttpRequest(request: HttpRequest): Promise<HttpResult> {
  try {
    const response = await fetch(request.url, {
      method: request.method,
      body: request.body,
      headers: request.headers,
      redirect: "manual",
      signal: AbortSignal.timeout(request.timeoutMs),
    });
    return { kind: "response", status: response.status, body: await response.text() };
  } catch (error) {
    const e = error as { name?: string; message?: string; cause?: { message?: string } } | undefined;
    if (e?.name === "TimeoutError") return { kind: "timeout", detail: `no answer within ${request.timeoutMs} ms` };
    // Deno reports only "fetch failed"; the OS error is in the cause's message.
    const detail = e?.cause?.message ?? e?.message ?? String(error);
    if (/connection refused/i.test(detail)) return { kind: "refused", detail: "connection refused" };
    return { kind: "failed", detail };
  }
}
