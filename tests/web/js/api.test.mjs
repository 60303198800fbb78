// The page's API client (apps/web/static/web/lib/api.js), run by node's test runner in `make test`:
// requests that meet an expired access token together rotate the refresh token once, not once each
// (a rotated refresh token sent again ends the whole session on the server).
import assert from "node:assert/strict";
import { test } from "node:test";

const stored = new Map();
globalThis.sessionStorage = {
  getItem: (key) => (stored.has(key) ? stored.get(key) : null),
  setItem: (key, value) => stored.set(key, String(value)),
  removeItem: (key) => stored.delete(key),
};

const { api } = await import("../../../apps/web/static/web/lib/api.js");

function json(status, body) {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

// A server whose current access token is `live`; each refresh token works once and rotates.
function server() {
  const state = { live: "access-2", refreshes: [], validRefresh: "refresh-1" };
  state.fetch = async (path, init) => {
    await new Promise((resolve) => setTimeout(resolve, 5)); // answers interleave, as on a network
    if (path === "/api/auth/refresh") {
      const { refresh } = JSON.parse(init.body);
      state.refreshes.push(refresh);
      if (refresh !== state.validRefresh) {
        return json(401, { error: { code: "NOT_AUTHENTICATED", message: "Session ended.", details: {} } });
      }
      state.validRefresh = `refresh-${state.refreshes.length + 1}`;
      return json(200, { access: state.live, refresh: state.validRefresh });
    }
    if (init.headers.Authorization !== `Bearer ${state.live}`) {
      return json(401, { error: { code: "NOT_AUTHENTICATED", message: "Expired.", details: {} } });
    }
    return json(200, { path });
  };
  return state;
}

test("parallel requests with an expired access token share one refresh", async () => {
  const remote = server();
  globalThis.fetch = remote.fetch;
  stored.clear();
  stored.set("access", "access-1");
  stored.set("refresh", "refresh-1");

  const answers = await Promise.all(["/a", "/b", "/c"].map((path) => api("GET", path)));

  assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200]);
  assert.deepEqual(remote.refreshes, ["refresh-1"]);
  assert.equal(stored.get("access"), "access-2");
  assert.equal(stored.get("refresh"), "refresh-2");
});

test("a refused refresh logs out once and answers 401", async () => {
  const remote = server();
  remote.validRefresh = "something-else";
  globalThis.fetch = remote.fetch;
  stored.clear();
  stored.set("access", "access-1");
  stored.set("refresh", "refresh-1");

  const answers = await Promise.all(["/a", "/b"].map((path) => api("GET", path)));

  assert.deepEqual(answers.map((answer) => answer.status), [401, 401]);
  assert.deepEqual(remote.refreshes, ["refresh-1"]);
  assert.equal(stored.get("access"), undefined);
});

function jwtExpiringIn(seconds) {
  const payload = Buffer.from(JSON.stringify({ exp: Date.now() / 1000 + seconds })).toString("base64url");
  return `header.${payload}.signature`;
}

test("an access token about to expire is renewed before the request, with no 401 in between", async () => {
  const remote = server();
  const calls = [];
  const fetchOf = remote.fetch;
  globalThis.fetch = (path, init) => {
    calls.push(path);
    return fetchOf(path, init);
  };
  stored.clear();
  stored.set("access", jwtExpiringIn(30));
  stored.set("refresh", "refresh-1");

  const answers = await Promise.all(["/a", "/b"].map((path) => api("GET", path)));

  assert.deepEqual(answers.map((answer) => answer.status), [200, 200]);
  assert.deepEqual(remote.refreshes, ["refresh-1"]);
  assert.deepEqual(calls, ["/api/auth/refresh", "/a", "/b"]);
});

test("an access token with time left is sent as it is", async () => {
  const remote = server();
  remote.live = jwtExpiringIn(600);
  globalThis.fetch = remote.fetch;
  stored.clear();
  stored.set("access", remote.live);
  stored.set("refresh", "refresh-1");

  const answer = await api("GET", "/a");

  assert.equal(answer.status, 200);
  assert.deepEqual(remote.refreshes, []);
});
