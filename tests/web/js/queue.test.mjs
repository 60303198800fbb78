// The waiting room's reading of sold-out answers, held seats and Retry-After (apps/web/static/web/lib/queue.js),
// run by node's test runner in `make test`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { heldSeatsNote, retryAfterMs, soldOut, soldOutText } from "../../../apps/web/static/web/lib/queue.js";

const answer = (data) => ({ ok: true, status: 200, data, error: null });
const refused = (code) => ({ ok: false, status: 409, data: null, error: { code, message: "", details: {} } });

test("a SOLD_OUT status and a 409 SOLD_OUT entry are both sold out", () => {
  assert.equal(soldOut(answer({ status: "SOLD_OUT", position: null, seats_available: 0, seats_held: 0 })), true);
  assert.equal(soldOut(refused("SOLD_OUT")), true);
});

test("anything else is not", () => {
  assert.equal(soldOut(answer({ status: "WAITING", position: 3, seats_available: 0, seats_held: 2 })), false);
  assert.equal(soldOut(answer({ status: "READY", position: 0, seats_available: 0, seats_held: 0 })), false);
  assert.equal(soldOut(refused("BOOKING_CLOSED")), false);
  assert.equal(soldOut({ ok: false, status: 0, data: null, error: null }), false);
});

test("held seats are named while none is free", () => {
  const note = heldSeatsNote({ status: "WAITING", position: 4, seats_available: 0, seats_held: 3 });
  assert.match(note, /3 seats are held/);
  assert.match(heldSeatsNote({ status: "WAITING", seats_available: 0, seats_held: 1 }), /1 seat is held/);
});

test("nothing is said while seats are free, none is held, or the buyer is not waiting", () => {
  assert.equal(heldSeatsNote({ status: "WAITING", seats_available: 5, seats_held: 3 }), "");
  assert.equal(heldSeatsNote({ status: "WAITING", seats_available: 0, seats_held: 0 }), "");
  assert.equal(heldSeatsNote({ status: "READY", seats_available: 0, seats_held: 3 }), "");
  assert.equal(heldSeatsNote(undefined), "");
});

test("the sold-out card says when it was checked again", () => {
  assert.match(soldOutText(null), /keeps their place\.$/);
  assert.match(soldOutText("21:04"), /Still sold out at 21:04\.$/);
});

const refusedWith = (status, retryAfter) => ({
  ok: false, status, data: null, error: { code: status === 429 ? "THROTTLED" : "SERVICE_UNAVAILABLE", retryAfter },
});

test("a busy or rate-limited entry is sent again when its Retry-After says, spread by up to a half", () => {
  assert.equal(retryAfterMs(refusedWith(503, "7"), () => 0), 7000);
  assert.equal(retryAfterMs(refusedWith(503, "7"), () => 1), 10500);
  assert.equal(retryAfterMs(refusedWith(429, "2"), () => 0), 2000);
});

test("without a usable Retry-After it waits 5 s; never under a second or over a minute", () => {
  assert.equal(retryAfterMs(refusedWith(503, null), () => 0), 5000);
  assert.equal(retryAfterMs(refusedWith(503, "soon"), () => 0), 5000);
  assert.equal(retryAfterMs(refusedWith(503, "0"), () => 0), 5000);
  assert.equal(retryAfterMs(refusedWith(503, "0.2"), () => 0), 1000);
  assert.equal(retryAfterMs(refusedWith(503, "3600"), () => 0), 60000);
});

test("anything else is not sent again", () => {
  assert.equal(retryAfterMs({ ok: true, status: 201, data: {}, error: null }), null);
  assert.equal(retryAfterMs(refused("SOLD_OUT")), null);
  assert.equal(retryAfterMs({ ok: false, status: 0, data: null, error: { code: "SERVICE_UNAVAILABLE" } }), null);
  assert.equal(retryAfterMs({ ok: false, status: 500, data: null, error: null }), null);
});
