import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { contentVerdict, type ContentSample } from "../../../../src/core/health/content-verdict.ts";

const s = (server: string, digest: string | undefined, detail = ""): ContentSample => ({ server, digest, detail });

describe("content verdict", () => {
  test("the one server whose digest differs from the other two is named", () => {
    assert.deepEqual(contentVerdict([s("a", "x"), s("b", "y"), s("c", "x")]), { majority: "x", divergent: ["b"], unfetched: [], compared: 3 });
  });

  test("identical content gives no divergence", () => {
    assert.deepEqual(contentVerdict([s("a", "x"), s("b", "x"), s("c", "x")]).divergent, []);
  });

  test("a server that could not be fetched is unfetched, not divergent", () => {
    const v = contentVerdict([s("a", "x"), s("b", undefined, "connect ECONNREFUSED"), s("c", "x")]);
    assert.deepEqual(v, { majority: "x", divergent: [], unfetched: [{ server: "b", detail: "connect ECONNREFUSED" }], compared: 2 });
  });

  test("without a strict majority every fetched server is divergent", () => {
    assert.deepEqual(contentVerdict([s("a", "x"), s("b", "y")]), { majority: undefined, divergent: ["a", "b"], unfetched: [], compared: 2 });
    assert.deepEqual(contentVerdict([s("a", "x"), s("b", "y"), s("c", "z")]).divergent, ["a", "b", "c"]);
  });

  test("one fetched server has nothing to be compared with", () => {
    assert.deepEqual(contentVerdict([s("a", "x"), s("b", undefined, "timeout")]).divergent, []);
  });
});
