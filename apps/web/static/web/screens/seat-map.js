// The seat map of one concert date, for any size of venue.
//
// What never changes during a sale, the layout (sections, rows, seat ids and numbers, prices), is
// public: it is fetched once per date and kept by the browser's cache. What does, each seat's status,
// is one character per seat in layout order, fetched with If-None-Match (a 304 costs nothing) when
// the screen opens, after every conflict and every few seconds while the buyer chooses. A large venue
// is shown one section at a time, its rows built as they scroll into view, so a 50,000-seat date never
// builds 50,000 buttons.

import { api, humanError } from "../lib/api.js";
import { go, h, money, show } from "../lib/dom.js";
import { onLeave, render, requireLogin, routeGuard } from "../lib/page.js";
import { freeSeats, indexLayout, indexOfSeat, seatAt } from "../lib/layout.js";
import { seatLabel, seatList } from "../lib/seats.js";
import { queueTokenFor } from "../lib/session.js";

const MAX_SEATS = Number(document.body.dataset.maxSeats || 4);
const WHOLE_MAP_SEATS = 1000; // a hall this small is shown whole, without the section picker
const SEATS_PER_STEP = 1200; // seat buttons built at a time as the buyer scrolls down a section
// The status is re-read this often while the buyer chooses, spread ±20% so admitted buyers do not poll
// in step.
const POLL_SECONDS = Number(document.body.dataset.statusPollSeconds || 5);
const STATUS = { A: "AVAILABLE", H: "HELD", R: "RESERVED" };

// Kept between visits of the screen within this page: the indexed layout (a promise of it) and the last
// status of each date, so that coming back (after a hold expired, say) costs a 304, not the whole map.
const layouts = new Map();
const statuses = new Map();
const chosenSections = new Map();

// Performance marks a test (or a curious buyer, in the browser's performance panel) can read: the
// status arrived, and the map answers clicks.
export const MARKS = { statusArrived: "seat-status:arrived", interactive: "seat-map:interactive", ready: "seat-map:ready" };

const base = (concertId, dateId) => `/api/concerts/${concertId}/dates/${dateId}`;

// The layout, once per date for the life of the page (the same read when asked twice at once).
function loadLayout(concertId, dateId, { revalidate = false } = {}) {
  if (!revalidate && layouts.has(dateId)) return layouts.get(dateId);
  // Public: no Authorization, so the browser (and any shared cache) keeps it; "no-cache" revalidates
  // it with its ETag when the status says the layout changed.
  const loading = api("GET", `${base(concertId, dateId)}/seat-layout`, {
    anonymous: true, cache: revalidate ? "no-cache" : "default",
  }).then((result) => {
    if (result.ok) return { layout: indexLayout(result.data) };
    if (layouts.get(dateId) === loading) layouts.delete(dateId);
    return { error: result };
  });
  layouts.set(dateId, loading);
  return loading;
}

// A reservation's seats ({id, seat_num, section, row}) with their number within the row, when this
// page holds the date's layout (the hold screen follows the map); as they are otherwise.
export async function numberedSeats(dateId, seats) {
  const loaded = layouts.has(dateId) ? await layouts.get(dateId) : null;
  if (!loaded?.layout) return seats;
  return seats.map((seat) => {
    const index = indexOfSeat(loaded.layout, seat.id);
    return index === undefined ? seat : { ...seat, number: seatAt(loaded.layout, index).number };
  });
}

// The waiting room reads the layout ahead when the buyer's turn is near, so that at admission the map
// needs only the status.
export function prefetchLayout(concertId, dateId) {
  loadLayout(concertId, dateId);
}

// The status, or the copy already held when the server answers 304.
async function loadStatus(concertId, dateId, token) {
  const known = statuses.get(dateId);
  const result = await api("GET", `${base(concertId, dateId)}/seat-status`, {
    queueToken: token, cache: "no-store", headers: known?.etag ? { "If-None-Match": known.etag } : {},
  });
  if (result.status === 304 && known) return { status: known };
  if (!result.ok) return { error: result };
  const status = { ...result.data, etag: result.headers.get("ETag") };
  statuses.set(dateId, status);
  return { status };
}

const legend = () => h("div", { class: "legend" },
  h("span", { class: "AVAILABLE" }, "Available"), h("span", { class: "selected" }, "Your choice"),
  h("span", { class: "HELD" }, "Held"), h("span", { class: "RESERVED" }, "Sold"));

export async function seatMapScreen(concertId, dateId) {
  const alive = routeGuard();
  if (!requireLogin()) return;
  const token = queueTokenFor(dateId);
  if (!token) return go(`#/queue/${concertId}/${dateId}`);
  const queueEnded = () => go(`#/queue/${concertId}/${dateId}`);
  const failed = ({ error }) => {
    show(humanError(error.error, error.status));
    if (error.error?.code === "QUEUE_TOKEN_REQUIRED") queueEnded();
  };

  Object.values(MARKS).forEach((name) => performance.clearMarks(name));
  performance.clearMeasures(MARKS.ready);
  const [loaded, first] = await Promise.all([
    loadLayout(concertId, dateId),
    loadStatus(concertId, dateId, token).then((read) => { performance.mark(MARKS.statusArrived); return read; }),
  ]);
  if (loaded.error) return failed(loaded);
  if (first.error) return failed(first);
  let layout = loaded.layout;
  let { codes } = first.status;
  if (first.status.layout_version !== layout.version) {
    const fresh = await loadLayout(concertId, dateId, { revalidate: true });
    if (fresh.error) return failed(fresh);
    layout = fresh.layout;
  }
  if (!alive()) return;
  if (codes.length !== layout.size) { // a layout change still on its way to every web process
    return show("The seat map is being updated. Please reload the page in a moment.", "info");
  }

  const selected = new Set(); // positions in the codes
  const taken = new Set(); // seats someone else took while this buyer looked at them
  const buttons = new Map(); // position → the button built for it (the shown section only)
  const whole = layout.size <= WHOLE_MAP_SEATS || layout.sections.length === 1;
  let current = whole ? null : layout.sections[chosenSections.get(dateId) ?? firstWithFreeSeats()];

  function firstWithFreeSeats() {
    return (layout.sections.find((section) => freeSeats(section, codes) > 0) || layout.sections[0]).number;
  }

  // ---- painting seats --------------------------------------------------------------------------

  // `title` is "Floor B-14 · ₩50,000"; the accessible name adds the status.
  const paint = (button, index) => {
    const status = STATUS[codes[index]] || "RESERVED";
    const isSelected = selected.has(index);
    button.className = `seat ${status}${isSelected ? " selected" : ""}${taken.has(index) ? " taken" : ""}`;
    button.disabled = status !== "AVAILABLE";
    button.setAttribute("aria-pressed", String(isSelected));
    button.setAttribute("aria-label", `${button.title.replace(" · ", ", ")}, ${status.toLowerCase()}`);
  };

  // A seat is shown by its number within its row, as the ticket names it (not the date-wide seat_num).
  const seatButton = (section, row, k, sectionPrice) => {
    const index = row.start + k;
    const [id] = row.seats[k];
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.index = index;
    button.dataset.seatId = id;
    button.textContent = k + 1;
    const price = id in section.seatPrices ? money(section.seatPrices[id]) : sectionPrice;
    button.title = `${seatLabel({ section: section.name, row: row.row, number: k + 1 })} · ${price}`;
    paint(button, index);
    buttons.set(index, button);
    return button;
  };

  const rowElement = (section, row) => {
    const seats = h("div", { class: "row-seats" });
    const sectionPrice = money(section.price);
    for (let k = 0; k < row.seats.length; k += 1) seats.append(seatButton(section, row, k, sectionPrice));
    return h("div", { class: "row" }, h("span", { class: "row-label" }, row.row), seats);
  };

  // Rows are built a step at a time: the next step when the end of the built ones nears the screen.
  const nextSteps = new WeakMap(); // sentinel element → build the next step
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      observer.unobserve(entry.target);
      nextSteps.get(entry.target)();
    }
  }, { rootMargin: "1200px 0px" });

  let timer = null;
  let stopped = false;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    observer.disconnect();
  };
  onLeave(stop);

  const appendRows = (container, section, from) => {
    const fragment = document.createDocumentFragment();
    let built = 0;
    let next = from;
    while (next < section.rows.length && (built === 0 || built + section.rows[next].seats.length <= SEATS_PER_STEP)) {
      fragment.append(rowElement(section, section.rows[next]));
      built += section.rows[next].seats.length;
      next += 1;
    }
    container.append(fragment);
    if (next < section.rows.length) {
      const sentinel = h("div", { class: "more-rows", "aria-hidden": "true" });
      nextSteps.set(sentinel, () => { sentinel.remove(); appendRows(container, section, next); });
      container.append(sentinel);
      observer.observe(sentinel);
    }
  };

  const sectionCard = (section) => {
    const rows = h("div", { class: "rows" });
    appendRows(rows, section, 0);
    return h("section", { class: "section card", "aria-label": section.name, "data-section": section.name },
      h("h2", {}, `${section.name} · ${money(section.price)}`), bestAvailable(section), rows);
  };

  // ---- best available: the first choice of every section ------------------------------------------

  // The server chooses the best seats free now (the first row with them side by side, nearest its
  // centre) and holds them in the same request; a seat lost to another buyer meanwhile makes it choose
  // again, so the only refusal is that nothing fits (NOT_ENOUGH_SEATS).
  const bestAvailable = (section) => {
    const quantity = h("select", { name: "quantity", "aria-label": `How many seats in ${section.name}` },
      Array.from({ length: MAX_SEATS }, (_, n) => h("option", { value: n + 1, selected: n === 1 }, String(n + 1))));
    const apart = h("input", { type: "checkbox", name: "apart" });
    const button = h("button", { type: "button", class: "best-available" }, "Best available");
    button.addEventListener("click", () => holdBestAvailable(section, Number(quantity.value), !apart.checked, button));
    return h("div", { class: "best-available-bar", role: "group", "aria-label": `Best available in ${section.name}` },
      h("label", {}, "Seats ", quantity), button,
      h("label", { class: "muted" }, apart, " seats may be apart"),
      h("span", { class: "muted" }, "or pick seats on the map below"));
  };

  const holdBestAvailable = async (section, quantity, together, button) => {
    button.disabled = true;
    const hold = await api("POST", "/api/reservations", {
      body: { concert_date_id: Number(dateId), quantity, section: section.name, together }, queueToken: token,
    });
    if (hold.ok) {
      show("");
      return go(`#/hold/${concertId}/${dateId}/${hold.data.id}`);
    }
    button.disabled = false;
    const code = hold.error?.code;
    show(humanError(hold.error, hold.status), code === "NOT_ENOUGH_SEATS" ? "info" : "error");
    if (code === "QUEUE_TOKEN_REQUIRED") return queueEnded();
    if (code === "NOT_ENOUGH_SEATS") await refresh();
  };

  const map = h("div", { class: "seat-map" });
  const showSections = () => {
    observer.disconnect();
    buttons.clear();
    map.replaceChildren(...(current ? [sectionCard(current)] : layout.sections.map(sectionCard)));
  };

  // ---- the section picker (large venues) -------------------------------------------------------

  const picker = whole ? null : h("div", { class: "section-picker", role: "group", "aria-label": "Sections" });
  const pickerButtons = picker ? layout.sections.map((section) => h("button", {
    type: "button", class: "secondary", "data-section": section.name,
    onclick: () => {
      current = section;
      chosenSections.set(dateId, section.number);
      paintPicker();
      showSections();
    },
  })) : [];
  const paintPicker = () => {
    layout.sections.forEach((section, number) => {
      const free = freeSeats(section, codes);
      const button = pickerButtons[number];
      button.replaceChildren(h("strong", {}, section.name), ` ${money(section.price)} · `,
        free ? `${free.toLocaleString("en-US")} free` : "sold out");
      button.setAttribute("aria-pressed", String(section === current));
    });
  };
  if (picker) picker.append(...pickerButtons);

  // ---- choosing and holding --------------------------------------------------------------------

  const holdButton = h("button", { type: "button", disabled: true, id: "hold" }, "Hold seats");
  const summary = h("p", { id: "selection", class: "muted" });
  const paintSummary = () => {
    const chosen = [...selected].map((index) => seatAt(layout, index));
    const total = chosen.reduce((sum, seat) => sum + Number(seat.price), 0);
    summary.textContent = chosen.length
      ? `${chosen.length} seat(s): ${seatList(chosen)} · ${money(total)}`
      : `Choose up to ${MAX_SEATS} seats.`;
    holdButton.disabled = chosen.length === 0;
  };

  map.addEventListener("click", (event) => {
    const button = event.target.closest("button.seat");
    if (!button) return;
    const index = Number(button.dataset.index);
    if (selected.has(index)) selected.delete(index);
    else if (selected.size >= MAX_SEATS) return show(`You can choose at most ${MAX_SEATS} seats.`, "info");
    else selected.add(index);
    paint(button, index);
    paintSummary();
  });

  // A newer status: repaint what changed; a chosen seat someone else took is dropped, and said so.
  const applyStatus = async (status) => {
    if (status.layout_version !== layout.version) {
      // Staff changed seats or prices: start over on the new layout, once it is served (a web process
      // may take a few seconds to see the change; until then the next read tries again).
      const fresh = await loadLayout(concertId, dateId, { revalidate: true });
      if (stopped || fresh.layout?.version !== status.layout_version) return [];
      stop();
      show("The seat map has changed. Please choose again.", "info");
      seatMapScreen(concertId, dateId);
      return null;
    }
    const before = codes;
    codes = status.codes;
    if (codes === before) return [];
    const lost = [...selected].filter((index) => codes[index] !== "A");
    for (const index of lost) {
      selected.delete(index);
      taken.add(index);
    }
    for (const [index, button] of buttons) {
      if (before[index] !== codes[index] || lost.includes(index)) paint(button, index);
    }
    if (picker) paintPicker();
    paintSummary();
    return lost.map((index) => seatAt(layout, index));
  };

  const refresh = async () => {
    const read = await loadStatus(concertId, dateId, token);
    if (!alive() || stopped) return null;
    if (read.error) {
      failed(read);
      return null;
    }
    return applyStatus(read.status);
  };

  holdButton.addEventListener("click", async () => {
    holdButton.disabled = true;
    const seatIds = [...selected].map((index) => seatAt(layout, index).id);
    const hold = await api("POST", "/api/reservations", { body: { concert_date_id: Number(dateId), seat_ids: seatIds }, queueToken: token });
    if (hold.ok) {
      show("");
      return go(`#/hold/${concertId}/${dateId}/${hold.data.id}`);
    }
    const code = hold.error?.code;
    show(humanError(hold.error, hold.status));
    if (code === "QUEUE_TOKEN_REQUIRED") return queueEnded();
    if (code === "SEAT_UNAVAILABLE") {
      for (const id of hold.error.details?.seat_ids || []) {
        const index = indexOfSeat(layout, id);
        if (index === undefined) continue;
        selected.delete(index);
        taken.add(index);
        buttons.get(index)?.classList.add("taken");
      }
      await refresh();
    }
    paintSummary();
  });

  // ---- polling while the buyer chooses -----------------------------------------------------------

  const schedule = () => {
    timer = setTimeout(poll, POLL_SECONDS * (0.8 + 0.4 * Math.random()) * 1000);
  };
  // A hidden tab does not poll (an admitted buyer who stays away long enough then loses the place, as
  // the queue intends); coming back reads the status at once.
  let polling = false;
  const poll = async () => {
    clearTimeout(timer);
    if (polling) return;
    polling = true;
    if (!document.hidden) {
      const lost = await refresh();
      if (lost?.length) show(`${seatList(lost)} was just taken by someone else. Please choose another seat.`, "info");
    }
    polling = false;
    if (!stopped && !document.hidden) schedule();
  };
  const onVisibility = () => { if (!document.hidden && !stopped) poll(); };
  document.addEventListener("visibilitychange", onVisibility);
  onLeave(() => document.removeEventListener("visibilitychange", onVisibility));

  paintSummary();
  if (picker) paintPicker();
  showSections();
  render(alive, h("h1", {}, "Choose your seats"), legend(), picker || [], map, h("div", { class: "card hold-bar" }, summary, holdButton));
  requestAnimationFrame(() => setTimeout(() => {
    performance.mark(MARKS.interactive);
    performance.measure(MARKS.ready, MARKS.statusArrived, MARKS.interactive);
  }, 0));
  schedule();
}
