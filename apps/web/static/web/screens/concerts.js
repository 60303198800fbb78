// The catalogue: every concert, then one concert's dates.

import { api, humanError } from "../lib/api.js";
import { h, show, when } from "../lib/dom.js";
import { render, routeGuard } from "../lib/page.js";

export async function concertsScreen() {
  const alive = routeGuard();
  const result = await api("GET", "/api/concerts?page_size=50");
  if (!result.ok) return show(humanError(result.error, result.status));
  render(alive, h("h1", {}, "Concerts"), ...result.data.results.map((concert) => h("div", { class: "card" },
    h("h2", {}, h("a", { href: `#/concert/${concert.id}` }, concert.name)),
    h("p", {}, `${concert.artist} · ${concert.venue.name}`),
    h("p", { class: "muted" }, concert.first_date ? `${when(concert.first_date)} – ${when(concert.last_date)}` : "No dates yet"))));
}

// On sale: into the line. Not yet: the sale's opening, and the way into the pre-queue (the waiting
// room itself says when that opens, if it is too early even for that).
function dateAction(concertId, date) {
  const queue = `#/queue/${concertId}/${date.id}`;
  if (date.is_available) return h("a", { class: "button", href: queue }, "Get tickets");
  if (!date.remaining_seats) return h("span", { class: "muted" }, "Sold out");
  const now = Date.now();
  if (new Date(date.booking_opens_at).getTime() > now && new Date(date.starts_at).getTime() > now) {
    return h("div", { class: "date-action" }, h("span", { class: "muted" }, `Sale opens ${when(date.booking_opens_at)}`),
      h("a", { class: "button secondary", href: queue }, "Join the waiting room"));
  }
  return h("span", { class: "muted" }, "Not on sale");
}

export async function concertScreen(concertId) {
  const alive = routeGuard();
  const [concert, dates] = await Promise.all([
    api("GET", `/api/concerts/${concertId}`), api("GET", `/api/concerts/${concertId}/dates`),
  ]);
  if (!concert.ok) return show(humanError(concert.error, concert.status));
  if (!dates.ok) return show(humanError(dates.error, dates.status));
  render(alive,
    h("h1", {}, concert.data.name),
    h("p", {}, `${concert.data.artist} at ${concert.data.venue.name}, ${concert.data.venue.address}`),
    h("p", { class: "muted" }, concert.data.description),
    h("div", { class: "dates" }, dates.data.map((date) => h("div", { class: "card date" },
      h("div", {}, h("strong", {}, when(date.starts_at)),
        h("div", { class: "muted" }, `${date.remaining_seats} of ${date.total_seats} seats left`)),
      dateAction(concertId, date)))),
  );
}
