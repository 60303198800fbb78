// The waiting room's words, without the DOM (node's test runner runs these): whether an answer means
// the date is sold out, what the line says while every seat left is held, and when to try again.

// An entry's or a poll's result ({ok, data, error}) says the date is sold out: a status read answers
// SOLD_OUT, an entry 409 SOLD_OUT (API.md, "Waiting queue").
export const soldOut = (result) =>
  result.ok ? result.data?.status === "SOLD_OUT" : result.error?.code === "SOLD_OUT";

const seats = (n) => `${n.toLocaleString("en-US")} seat${n === 1 ? "" : "s"}`;

// While no seat is free but some are held, the line waits for holds to end: say so, or say nothing.
export function heldSeatsNote(state) {
  if (state?.status !== "WAITING" || state.seats_available !== 0 || !(state.seats_held > 0)) return "";
  return `No seat is free right now, but ${seats(state.seats_held)} ${state.seats_held === 1 ? "is" : "are"} held by `
    + "other buyers and may come back when their holds end. Keep your place: this page checks now and then.";
}

// The sold-out card's words: when it was last checked, if the buyer asked again.
export function soldOutText(checkedAt) {
  const base = "Every seat of this date has been sold. Seats that come back (a cancellation, a refund, new "
    + "seats) reopen the line in its old order: whoever is in line keeps their place.";
  return checkedAt ? `${base} Still sold out at ${checkedAt}.` : base;
}

// How long to wait before sending a refused entry again, in ms, or null when it is not to be sent again:
// a busy service (503: overloaded, or a part of it briefly down) and a rate limit (429) changed nothing
// and say when to come back (`Retry-After`, seconds). Spread a little, so that buyers refused together do
// not come back together; at least a second, at most a minute.
export const RETRY_STATUSES = [429, 503];
export function retryAfterMs(result, random = Math.random) {
  if (result.ok || !RETRY_STATUSES.includes(result.status)) return null;
  const told = Number(result.error?.retryAfter ?? result.headers?.get?.("Retry-After"));
  const seconds = Math.min(60, Math.max(1, Number.isFinite(told) && told > 0 ? told : 5));
  return Math.round(1000 * seconds * (1 + 0.5 * random()));
}
