// The seat map's layout index (apps/web/static/web/lib/layout.js), run by node's test runner in
// `make test`: positions in the status codes map to the right seats, both ways.
import assert from "node:assert/strict";
import { test } from "node:test";

import { freeSeats, indexLayout, indexOfSeat, seatAt } from "../../../apps/web/static/web/lib/layout.js";

const LAYOUT = {
  concert_date_id: 7,
  layout_version: 3,
  sections: [
    { name: "VIP", price: "150000.00", seat_prices: { 12: "120000.00" }, rows: [{ row: "A", seats: [[11, 1], [12, 2]] }] },
    { name: "Empty", price: "1.00", seat_prices: {}, rows: [] },
    {
      name: "Floor", price: "50000.00", seat_prices: {},
      rows: [{ row: "A", seats: [[21, 3], [22, 4], [23, 5]] }, { row: "B", seats: [] }, { row: "C", seats: [[31, 6]] }],
    },
  ],
};

test("positions run through sections, then rows, then seats", () => {
  const layout = indexLayout(LAYOUT);
  assert.equal(layout.size, 6);
  assert.equal(layout.version, 3);
  const seats = [...Array(layout.size).keys()].map((index) => seatAt(layout, index));
  assert.deepEqual(seats.map((seat) => seat.id), [11, 12, 21, 22, 23, 31]);
  assert.deepEqual(seats.map((seat) => `${seat.section} ${seat.row}-${seat.seat_num}`),
    ["VIP A-1", "VIP A-2", "Floor A-3", "Floor A-4", "Floor A-5", "Floor C-6"]);
});

test("a seat's own price overrides its section's", () => {
  const layout = indexLayout(LAYOUT);
  assert.equal(seatAt(layout, 0).price, "150000.00");
  assert.equal(seatAt(layout, 1).price, "120000.00");
});

test("seat ids find their positions, unknown ids none", () => {
  const layout = indexLayout(LAYOUT);
  for (let index = 0; index < layout.size; index += 1) assert.equal(indexOfSeat(layout, seatAt(layout, index).id), index);
  assert.equal(indexOfSeat(layout, 999), undefined);
});

test("free seats are counted per section from the codes", () => {
  const layout = indexLayout(LAYOUT);
  const [vip, empty, floor] = layout.sections;
  assert.deepEqual([vip, empty, floor].map((section) => freeSeats(section, "AHARAA")), [1, 0, 3]);
});

test("a large layout stays consistent", () => {
  const sections = Array.from({ length: 25 }, (_, s) => ({
    name: `S${s + 1}`, price: "50000.00", seat_prices: {},
    rows: Array.from({ length: 40 }, (__, r) => ({ row: `R${r}`, seats: Array.from({ length: 50 }, (___, k) => [s * 10000 + r * 100 + k, k + 1]) })),
  }));
  const layout = indexLayout({ layout_version: 1, sections });
  assert.equal(layout.size, 50000);
  for (const index of [0, 49, 50, 1999, 2000, 31337, 49999]) {
    const seat = seatAt(layout, index);
    assert.equal(indexOfSeat(layout, seat.id), index);
    assert.equal(seat.section, `S${Math.floor(index / 2000) + 1}`);
  }
});

test("a seat is labelled as a ticket reads: section, row, its number within the row", async () => {
  const { seatLabel, seatList } = await import("../../../apps/web/static/web/lib/seats.js");
  const layout = indexLayout(LAYOUT);
  const seats = [...Array(layout.size).keys()].map((index) => seatAt(layout, index));
  assert.deepEqual(seats.map(seatLabel), ["VIP A-1", "VIP A-2", "Floor A-1", "Floor A-2", "Floor A-3", "Floor C-1"]);
  assert.equal(seatList(seats.slice(2, 4)), "Floor A-1, Floor A-2");
  // A seat named by the API only (a reservation's seats) keeps its date-wide number.
  assert.equal(seatLabel({ section: "Floor", row: "A", seat_num: 12002 }), "Floor A-12002");
});
