// A date's seat layout (GET …/seat-layout) indexed against its status codes (GET …/seat-status): one
// character per seat, in layout order (sections, then rows, then seats). Pure functions, no DOM.

// The layout with the position of every seat in the status codes: sections, then rows, then seats.
export function indexLayout(data) {
  let index = 0;
  const sections = data.sections.map((section, number) => {
    const start = index;
    const rows = section.rows.map((row) => {
      const indexed = { row: row.row, seats: row.seats, start: index };
      index += row.seats.length;
      return indexed;
    });
    return { number, name: section.name, price: section.price, seatPrices: section.seat_prices || {}, rows, start, end: index };
  });
  return { version: data.layout_version, sections, size: index, byId: null };
}

// The last of `items` (sections or rows, in order) starting at or before the position: a binary search.
// An empty section or row starts where the next one does, and is passed over.
function lastAtOrBefore(items, index) {
  let low = 0;
  let high = items.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (items[middle].start <= index) low = middle;
    else high = middle - 1;
  }
  return items[low];
}

// The seat at a position in the codes: {id, seat_num, number, section, row, price}. `number` is the
// seat's number within its row (1 = the row's first seat), as a ticket names it; `seat_num` numbers
// the whole date.
export function seatAt(layout, index) {
  const section = lastAtOrBefore(layout.sections, index);
  const row = lastAtOrBefore(section.rows, index);
  const [id, seatNum] = row.seats[index - row.start];
  return {
    index, id, seat_num: seatNum, number: index - row.start + 1, section: section.name, row: row.row,
    price: section.seatPrices[id] ?? section.price,
  };
}

// The position of a seat id (a conflict's `details.seat_ids` name seats by id), from a map built on
// first use.
export function indexOfSeat(layout, seatId) {
  if (!layout.byId) {
    layout.byId = new Map();
    for (const section of layout.sections) {
      for (const row of section.rows) row.seats.forEach(([id], k) => layout.byId.set(id, row.start + k));
    }
  }
  return layout.byId.get(seatId);
}

// How many seats of a section the codes show available ("A").
export function freeSeats(section, codes) {
  let free = 0;
  for (let i = section.start; i < section.end; i += 1) if (codes.charCodeAt(i) === 65) free += 1;
  return free;
}
