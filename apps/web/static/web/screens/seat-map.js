// The seat map: choose up to MAX_SEATS seats and hold them.

import { api, humanError } from "../lib/api.js";
import { go, h, money, show } from "../lib/dom.js";
import { render, requireLogin, routeGuard } from "../lib/page.js";
import { seatLabel, seatList } from "../lib/seats.js";
import { queueTokenFor } from "../lib/session.js";

const MAX_SEATS = Number(document.body.dataset.maxSeats || 4);

const legend = () => h("div", { class: "legend" },
  h("span", { class: "AVAILABLE" }, "Available"), h("span", { class: "selected" }, "Your choice"),
  h("span", { class: "HELD" }, "Held"), h("span", { class: "RESERVED" }, "Sold"));

export async function seatMapScreen(concertId, dateId, takenSeatIds = []) {
  const alive = routeGuard();
  if (!requireLogin()) return;
  const token = queueTokenFor(dateId);
  if (!token) return go(`#/queue/${concertId}/${dateId}`);
  const result = await api("GET", `/api/concerts/${concertId}/dates/${dateId}/seats`, { queueToken: token });
  if (!result.ok) {
    show(humanError(result.error, result.status));
    if (result.error?.code === "QUEUE_TOKEN_REQUIRED") go(`#/queue/${concertId}/${dateId}`);
    return;
  }
  const seats = result.data;
  const seatsById = new Map(seats.map((seat) => [seat.id, seat]));
  const selected = new Set();
  const holdButton = h("button", { type: "button", disabled: true, id: "hold" }, "Hold seats");
  const summary = h("p", { id: "selection", class: "muted" }, `Choose up to ${MAX_SEATS} seats.`);
  const bySection = new Map();
  for (const seat of seats) {
    if (!bySection.has(seat.section)) bySection.set(seat.section, new Map());
    const rows = bySection.get(seat.section);
    if (!rows.has(seat.row)) rows.set(seat.row, []);
    rows.get(seat.row).push(seat);
  }
  const update = () => {
    const chosen = [...selected].map((id) => seatsById.get(id));
    const total = chosen.reduce((sum, seat) => sum + Number(seat.price), 0);
    summary.textContent = chosen.length
      ? `${chosen.length} seat(s): ${seatList(chosen)} · ${money(total)}`
      : `Choose up to ${MAX_SEATS} seats.`;
    holdButton.disabled = chosen.length === 0;
  };
  const seatButton = (seat) => h("button", {
    type: "button", class: `seat ${seat.status}${takenSeatIds.includes(seat.id) ? " taken" : ""}`,
    disabled: seat.status !== "AVAILABLE", "data-seat-id": seat.id, "aria-pressed": "false",
    "aria-label": `${seatLabel(seat)}, ${money(seat.price)}, ${seat.status.toLowerCase()}`,
    title: `${seatLabel(seat)} · ${money(seat.price)}`,
  }, String(seat.seat_num));
  const map = h("div", { class: "seat-map" }, [...bySection].map(([section, rows]) => h("div", { class: "section card" },
    h("h2", {}, `${section} · ${money([...rows.values()][0][0].price)}`),
    [...rows].map(([row, rowSeats]) => h("div", { class: "row" }, h("span", { class: "row-label" }, row),
      rowSeats.map(seatButton))))));
  map.addEventListener("click", (event) => {
    const button = event.target.closest("button.seat");
    if (!button) return;
    const id = Number(button.dataset.seatId);
    if (selected.has(id)) selected.delete(id);
    else if (selected.size >= MAX_SEATS) return show(`You can choose at most ${MAX_SEATS} seats.`, "info");
    else selected.add(id);
    button.classList.toggle("selected", selected.has(id));
    button.setAttribute("aria-pressed", String(selected.has(id)));
    update();
  });
  holdButton.addEventListener("click", async () => {
    holdButton.disabled = true;
    const hold = await api("POST", "/api/reservations", {
      body: { concert_date_id: Number(dateId), seat_ids: [...selected] }, queueToken: token,
    });
    if (hold.ok) {
      show("");
      return go(`#/hold/${concertId}/${dateId}/${hold.data.id}`);
    }
    show(humanError(hold.error, hold.status));
    if (hold.error?.code === "SEAT_UNAVAILABLE") return seatMapScreen(concertId, dateId, hold.error.details.seat_ids || []);
    if (hold.error?.code === "QUEUE_TOKEN_REQUIRED") return go(`#/queue/${concertId}/${dateId}`);
    holdButton.disabled = false;
  });
  render(alive, h("h1", {}, "Choose your seats"), legend(), map, h("div", { class: "card" }, summary, holdButton));
}
