// A hold: the countdown and paying; then the confirmation.

import { api, humanError, MESSAGES } from "../lib/api.js";
import { go, h, money, show } from "../lib/dom.js";
import { onLeave, render, requireLogin, routeGuard } from "../lib/page.js";
import { seatLabel } from "../lib/seats.js";
import { numberedSeats } from "./seat-map.js";
import { paymentKeyFor, queueTokenFor } from "../lib/session.js";

export async function holdScreen(concertId, dateId, reservationId) {
  const alive = routeGuard();
  if (!requireLogin()) return;
  const result = await api("GET", `/api/reservations/${reservationId}`);
  if (!result.ok) return show(humanError(result.error, result.status));
  const reservation = result.data;
  if (reservation.status === "CONFIRMED") return go(`#/confirmed/${reservationId}`);
  if (reservation.status !== "HELD") {
    show(MESSAGES.HOLD_EXPIRED);
    return go(`#/seats/${concertId}/${dateId}`);
  }
  const seats = await numberedSeats(dateId, reservation.seats);
  const countdown = h("p", { class: "countdown", id: "countdown" });
  const payButton = h("button", { type: "button", id: "pay" }, `Pay ${money(reservation.total_price)}`);
  const expires = new Date(reservation.expires_at).getTime();
  const tick = () => {
    const left = Math.max(0, Math.round((expires - Date.now()) / 1000));
    countdown.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    if (left === 0) {
      stop();
      show(MESSAGES.HOLD_EXPIRED);
      go(`#/seats/${concertId}/${dateId}`);
    }
  };
  const timer = setInterval(tick, 1000);
  const stop = () => clearInterval(timer);
  onLeave(stop);
  payButton.addEventListener("click", async () => {
    payButton.disabled = true;
    const paid = await api("POST", "/api/payments", {
      body: { reservation_id: Number(reservationId) }, queueToken: queueTokenFor(dateId),
      idempotencyKey: paymentKeyFor(reservationId),
    });
    if (paid.ok) {
      stop();
      show("");
      return go(`#/confirmed/${reservationId}`);
    }
    payButton.disabled = false;
    const code = paid.error?.code;
    if (code === "INSUFFICIENT_BALANCE") {
      return show([MESSAGES.INSUFFICIENT_BALANCE, " ", h("a", { href: "#/wallet" }, "Add money to your wallet"),
        " and come back: your hold stays until the timer runs out."]);
    }
    show(humanError(paid.error, paid.status));
    if (code === "HOLD_EXPIRED") { stop(); go(`#/seats/${concertId}/${dateId}`); }
    if (code === "QUEUE_TOKEN_REQUIRED") { stop(); go(`#/queue/${concertId}/${dateId}`); }
  });
  render(alive, h("h1", {}, "Your seats are held"),
    h("div", { class: "card" },
      h("p", {}, "Time left to pay"), countdown,
      h("ul", {}, seats.map((seat) => h("li", {}, `${seatLabel(seat)} · ${money(seat.price)}`))),
      h("p", {}, h("strong", {}, `Total ${money(reservation.total_price)}`)), payButton,
      h("p", { class: "muted" }, "Paying takes the total from your wallet.")));
  tick();
}

export async function confirmedScreen(reservationId) {
  const alive = routeGuard();
  const result = await api("GET", `/api/reservations/${reservationId}`);
  if (!result.ok) return show(humanError(result.error, result.status));
  const balance = await api("GET", "/api/users/me/balance");
  const seats = await numberedSeats(String(result.data.concert_date_id), result.data.seats);
  render(alive, h("h1", {}, "You're going!"),
    h("div", { class: "card", id: "confirmation" },
      h("p", {}, `Booking #${result.data.id} is `, h("span", { class: `status ${result.data.status}` }, result.data.status)),
      h("ul", {}, seats.map((seat) => h("li", {}, seatLabel(seat)))),
      h("p", {}, `Paid ${money(result.data.total_price)}. Wallet balance: ${balance.ok ? money(balance.data.balance) : "-"}.`),
      h("p", { class: "muted" }, "A confirmation e-mail is on its way."),
      h("a", { class: "button secondary", href: "#/reservations" }, "My reservations")));
}
