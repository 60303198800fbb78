// The buyer's reservations, with cancelling (a paid one is refunded to the wallet).

import { api, humanError } from "../lib/api.js";
import { h, money, show } from "../lib/dom.js";
import { render, requireLogin, routeGuard } from "../lib/page.js";
import { seatList } from "../lib/seats.js";
import { numberedSeats } from "./seat-map.js";

export async function reservationsScreen() {
  const alive = routeGuard();
  if (!requireLogin()) return;
  const result = await api("GET", "/api/reservations?page_size=50");
  if (!result.ok) return show(humanError(result.error, result.status));
  const cancel = async (reservation) => {
    const wasPaid = reservation.status === "CONFIRMED";
    const done = await api("POST", `/api/reservations/${reservation.id}/cancel`);
    if (!done.ok) return show(humanError(done.error, done.status));
    show(wasPaid ? `Cancelled. ${money(reservation.total_price)} was refunded to your wallet.` : "Cancelled; the seats are released.", "ok");
    reservationsScreen();
  };
  // Seats by their number within the row where this page holds the date's layout (after buying here).
  const seats = await Promise.all(result.data.results.map((r) => numberedSeats(String(r.concert_date_id), r.seats)));
  const rows = result.data.results.map((reservation, i) => h("tr", { "data-reservation-id": reservation.id },
    h("td", {}, `#${reservation.id}`), h("td", {}, seatList(seats[i])),
    h("td", { class: "num" }, money(reservation.total_price)),
    h("td", {}, h("span", { class: `status ${reservation.status}` }, reservation.status)),
    h("td", {}, ["HELD", "CONFIRMED"].includes(reservation.status)
      ? h("button", { type: "button", class: "secondary", onclick: () => cancel(reservation) }, "Cancel") : "")));
  render(alive, h("h1", {}, "My reservations"), h("div", { class: "card" }, rows.length
    ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Booking"), h("th", {}, "Seats"), h("th", { class: "num" }, "Total"),
      h("th", {}, "Status"), h("th", {}, ""))), h("tbody", {}, rows))
    : h("p", { class: "muted" }, "No reservations yet.")));
}
