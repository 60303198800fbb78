// The line's push as the waiting room uses it (apps/web/static/web/lib/queue-events.js), with a fake
// EventSource: run by node's test runner in `make test`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { lineStream, pollDelay } from "../../../apps/web/static/web/lib/queue-events.js";

// Just what the page uses of an EventSource, driven by the test.
class FakeSource {
  constructor(url) {
    this.url = url;
    this.readyState = 0; // CONNECTING
    this.listeners = {};
  }
  addEventListener(type, listener) {
    (this.listeners[type] ??= []).push(listener);
  }
  close() {
    this.readyState = 2;
  }
  opened() {
    this.readyState = 1;
    this.onopen?.();
  }
  seats(data) {
    for (const listener of this.listeners.seats ?? []) listener({ data: typeof data === "string" ? data : JSON.stringify(data) });
  }
  turn(number) {
    for (const listener of this.listeners.turn ?? []) listener({ data: JSON.stringify({ concert_date_id: 12, number }) });
  }
  failed(readyState) {
    this.readyState = readyState;
    this.onerror?.();
  }
}

function watched(dateId = 12) {
  const sources = [];
  let heard = 0;
  let turns = 0;
  let lost = 0;
  const stream = lineStream(dateId, {
    onSoldOut: () => { heard += 1; },
    onTurn: () => { turns += 1; },
    onLost: () => { lost += 1; },
    connect: (url) => {
      sources.push(new FakeSource(url));
      return sources.at(-1);
    },
  });
  return { stream, sources, heard: () => heard, turns: () => turns, lost: () => lost };
}

const seats = (soldOut) => ({ concert_date_id: 12, sold_out: soldOut, seats_available: soldOut ? 0 : 310, seats_held: 0 });

test("opens the date's stream once, however often it is asked to", () => {
  const { stream, sources } = watched();
  stream.open();
  stream.open();
  assert.equal(sources.length, 1);
  assert.equal(sources[0].url, "/api/queue/events?concert_date_id=12");
});

test("a sold-out event is heard once and closes the stream", () => {
  const { stream, sources, heard } = watched();
  stream.open();
  sources[0].opened();
  sources[0].seats(seats(false));
  assert.equal(heard(), 0);
  assert.equal(stream.soldOut, false);
  sources[0].seats(seats(true));
  assert.equal(heard(), 1);
  assert.equal(stream.soldOut, true);
  assert.equal(sources[0].readyState, 2);
  sources[0].seats(seats(true)); // a late event of the closed stream
  stream.open(); // still the same waiting period: not reopened
  assert.equal(heard(), 1);
  assert.equal(sources.length, 1);
});

test("the next waiting period opens a new stream", () => {
  const { stream, sources, heard } = watched();
  stream.open();
  sources[0].seats(seats(true));
  stream.close();
  assert.equal(stream.soldOut, false);
  stream.open();
  assert.equal(sources.length, 2);
  sources[1].seats(seats(true));
  assert.equal(heard(), 2);
});

test("events that do not say sold out, or say nothing readable, change nothing", () => {
  const { stream, sources, heard } = watched();
  stream.open();
  sources[0].seats("not json");
  sources[0].seats({ sold_out: "true" });
  sources[0].seats("null");
  assert.equal(heard(), 0);
  assert.equal(sources[0].readyState, 0);
});

test("a stream that never opens (a 404 without the push server) is given up for good", () => {
  const { stream, sources } = watched();
  stream.open();
  sources[0].failed(2);
  assert.equal(sources[0].readyState, 2);
  stream.open();
  stream.close();
  stream.open(); // a new waiting period does not ask again either
  assert.equal(sources.length, 1);
});

test("a connection that never opens is closed rather than left to EventSource's retries", () => {
  const { stream, sources } = watched();
  stream.open();
  sources[0].failed(0); // a network error: EventSource would reconnect
  assert.equal(sources[0].readyState, 2);
  stream.open();
  assert.equal(sources.length, 1);
});

test("a dropped stream gets one reconnect; a reconnect that fails too is given up", () => {
  const { stream, sources, heard } = watched();
  stream.open();
  sources[0].opened();
  sources[0].failed(0); // dropped: EventSource reconnects by itself
  assert.equal(sources[0].readyState, 0);
  sources[0].opened(); // and got back: drops again later are survived the same way
  sources[0].failed(0);
  sources[0].failed(0); // this reconnect failed
  assert.equal(sources[0].readyState, 2);
  stream.open();
  assert.equal(sources.length, 1);
  assert.equal(heard(), 0);
});

test("a reconnect refused (503) is given up", () => {
  const { stream, sources } = watched();
  stream.open();
  sources[0].opened();
  sources[0].failed(2);
  stream.open();
  assert.equal(sources.length, 1);
});

test("closing on leaving stops the stream, and late events are not heard", () => {
  const { stream, sources, heard } = watched();
  stream.open();
  stream.close();
  assert.equal(sources[0].readyState, 2);
  sources[0].seats(seats(true));
  assert.equal(heard(), 0);
});

test("with the buyer's number the stream asks for the turn, and a turn wakes the page", () => {
  const { stream, sources, turns, heard } = watched();
  stream.open(4711);
  stream.open(4711);
  assert.equal(sources.length, 1);
  assert.equal(sources[0].url, "/api/queue/events?concert_date_id=12&number=4711");
  sources[0].opened();
  sources[0].turn(4711);
  assert.equal(turns(), 1);
  assert.equal(heard(), 0);
  assert.equal(sources[0].readyState, 1); // still open: the poll decides, and sold out may still come
});

test("a number learnt after the stream opened (the pre-queue's draw) opens it again once, with the number", () => {
  const { stream, sources, turns } = watched();
  stream.open(); // pre-queued: no number yet
  sources[0].opened();
  stream.open(null);
  assert.equal(sources.length, 1);
  stream.open(88);
  assert.equal(sources.length, 2);
  assert.equal(sources[0].readyState, 2);
  assert.equal(sources[1].url, "/api/queue/events?concert_date_id=12&number=88");
  stream.open(88);
  assert.equal(sources.length, 2);
  sources[0].turn(88); // a late event of the closed stream
  assert.equal(turns(), 0);
  sources[1].turn(88);
  assert.equal(turns(), 1);
});

test("toldTurn: only while a stream given the number is connected; a drop wakes the page once", () => {
  const { stream, sources, lost } = watched();
  stream.open();
  sources[0].opened();
  assert.equal(stream.toldTurn, false); // no number: the turn cannot be told
  stream.open(7);
  assert.equal(stream.toldTurn, false); // asked, not connected yet
  sources[1].opened();
  assert.equal(stream.toldTurn, true);
  assert.equal(lost(), 0);
  sources[1].failed(0); // dropped: EventSource reconnects, and until it does the page polls as told
  assert.equal(stream.toldTurn, false);
  assert.equal(lost(), 1); // the page asks at once rather than at the end of a longer pause
  sources[1].opened(); // reconnected
  assert.equal(stream.toldTurn, true);
  stream.close();
  assert.equal(stream.toldTurn, false);
  assert.equal(lost(), 1); // closing is not losing
  stream.open(7);
  sources[2].opened();
  sources[2].failed(0);
  sources[2].failed(0); // the reconnect failed too: given up, and woken once
  assert.equal(lost(), 2);
  assert.equal(stream.toldTurn, false);
});

test("a page told its turn polls half as often, at most a minute later; otherwise as told", () => {
  assert.equal(pollDelay(3, false), 3);
  assert.equal(pollDelay(180, false), 180);
  assert.equal(pollDelay(3, true), 6);
  assert.equal(pollDelay(45, true), 90);
  assert.equal(pollDelay(180, true), 240); // within the heartbeat (540 s) and the admitted place's 300 s
});
