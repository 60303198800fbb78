// The door's reading of check-in answers and the camera's repeat filter
// (apps/web/static/web/lib/tickets.js), run by node's test runner in `make test`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { repeatFilter, ticketTitle, verdict } from "../../../apps/web/static/web/lib/tickets.js";

const SEAT = { id: 250, seat_num: 5, section: "Floor", row: "A" };
const time = (iso) => `time(${iso})`;
const failed = (status, code, details = {}) => ({ ok: false, status, data: null, error: { code, message: "", details } });

test("a first scan is green with the seat", () => {
  const shown = verdict({ ok: true, status: 200, data: { ticket_id: 17, concert_date_id: 3, seat: SEAT, checked_in_at: "x" } }, time);
  assert.deepEqual(shown, { tone: "green", headline: "Welcome in", detail: "Floor A-5", ticketId: 17 });
});

test("a second scan is amber with the first scan's time", () => {
  const shown = verdict(failed(409, "ALREADY_CHECKED_IN", { checked_in_at: "2026-12-02T19:02:13Z" }), time);
  assert.equal(shown.tone, "amber");
  assert.equal(shown.detail, "Checked in at time(2026-12-02T19:02:13Z)");
});

test("void, forged and malformed codes are red", () => {
  assert.equal(verdict(failed(409, "TICKET_VOID"), time).tone, "red");
  assert.equal(verdict(failed(400, "INVALID_TICKET"), time).tone, "red");
  assert.equal(verdict(failed(400, "VALIDATION_ERROR"), time).headline, "Not a valid ticket");
});

test("no answer, or not staff, is grey: nothing was decided about the ticket", () => {
  assert.equal(verdict({ ok: false, status: 0, data: null, error: { code: "SERVICE_UNAVAILABLE" } }, time).tone, "grey");
  assert.equal(verdict(failed(403, "PERMISSION_DENIED"), time).headline, "Staff only");
  assert.equal(verdict({ ok: false, status: 502, data: null, error: null }, time).tone, "grey");
});

test("the camera's repeats of one code within the window are one scan", () => {
  let now = 0;
  const fresh = repeatFilter(3000, () => now);
  assert.equal(fresh("a"), true);
  now = 1000;
  assert.equal(fresh("a"), false);
  assert.equal(fresh("b"), true);
  now = 1500;
  assert.equal(fresh("a"), true); // another code came between
  now = 5000;
  assert.equal(fresh("a"), true); // the window has passed: a real second scan
});

test("a ticket is named by its seat and number", () => {
  assert.equal(ticketTitle({ id: 17, seat: SEAT }), "Floor A-5 · ticket #17");
});
