// The buyer's reservations, with cancelling (a paid one is refunded to the wallet), and the tickets of
// the paid ones with their QR codes, printable one ticket per page.

import { api, humanError } from "../lib/api.js";
import { h, money, show } from "../lib/dom.js";
import { render, requireLogin, routeGuard } from "../lib/page.js";
import { seatLabel, seatList } from "../lib/seats.js";
import { numberedSeats } from "./seat-map.js";
import { STATUS_WORDS, ticketTitle } from "../lib/tickets.js";

// The server's SVG, parsed as an image document (never as HTML) and adopted into the page, scalable:
// its fixed size becomes a viewBox, so CSS sets how large it is drawn.
function svgElement(text) {
  const svg = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
  if (svg.nodeName !== "svg") return null;
  if (!svg.hasAttribute("viewBox")) svg.setAttribute("viewBox", `0 0 ${svg.getAttribute("width")} ${svg.getAttribute("height")}`);
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.setAttribute("role", "img");
  return document.importNode(svg, true);
}

async function ticketCard(ticket, reservation) {
  const qr = h("div", { class: "qr" }, "QR code loading…");
  const card = h("article", { class: `ticket ${ticket.status}`, "data-ticket-id": ticket.id, "aria-label": ticketTitle(ticket) },
    h("div", { class: "ticket-text" },
      h("p", { class: "muted" }, `Booking #${reservation.id} · date ${reservation.concert_date_id}`),
      h("p", { class: "ticket-seat" }, seatLabel(ticket.seat)),
      h("p", {}, `Ticket #${ticket.id} · `, h("span", { class: `status ${ticket.status}` }, STATUS_WORDS[ticket.status] || ticket.status)),
      h("p", { class: "ticket-code" }, ticket.code)),
    qr);
  const image = await api("GET", `/api/tickets/${ticket.id}/qr.svg`, { accept: "image/svg+xml" });
  const svg = image.ok && svgElement(image.data);
  qr.replaceChildren(svg || h("span", { class: "muted" }, "The QR code could not be loaded; the code above works at the door."));
  return card;
}

async function ticketsOf(reservation) {
  const result = await api("GET", `/api/reservations/${reservation.id}/tickets`);
  if (!result.ok) return [h("p", { class: "muted" }, `Booking #${reservation.id}: ${humanError(result.error, result.status)}`)];
  return Promise.all(result.data.map((ticket) => ticketCard(ticket, reservation)));
}

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
  const confirmed = result.data.results.filter((reservation) => reservation.status === "CONFIRMED");
  const tickets = (await Promise.all(confirmed.map(ticketsOf))).flat();
  render(alive, h("h1", {}, "My reservations"), h("div", { class: "card" }, rows.length
    ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Booking"), h("th", {}, "Seats"), h("th", { class: "num" }, "Total"),
      h("th", {}, "Status"), h("th", {}, ""))), h("tbody", {}, rows))
    : h("p", { class: "muted" }, "No reservations yet.")),
  tickets.length ? h("section", { id: "tickets", "aria-label": "My tickets" },
    h("div", { class: "tickets-head" }, h("h2", {}, "My tickets"),
      h("button", { type: "button", class: "secondary", onclick: () => window.print() }, "Print tickets")),
    h("p", { class: "muted" }, "Show the QR code at the door, on your phone or printed (one ticket per page)."),
    h("div", { class: "tickets" }, tickets)) : "");
}
