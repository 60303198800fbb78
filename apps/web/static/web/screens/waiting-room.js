// The waiting room: the buyer's place in line, polled until admission hands out the queue token.
//
// Before the sale opens the buyer waits in the pre-queue: no place yet, because at the opening
// everyone there gets a place drawn at random (arriving first gains nothing, so nobody needs to race
// the opening second). Earlier still, the waiting room is closed and says when it opens.
//
// A sold-out date (no free seat, no hold) tells the line to stop asking: the page says "Sold out" and
// asks again only when the buyer presses "Check again". Seats that come back reopen the line in its
// old order, so a buyer who was in line finds the place kept. Where the line's push is served, a buyer
// waiting in line hears that the date sold out, or that the turn came, at once, not at the next poll
// (lib/queue-events.js).

import { api, humanError, refreshTokens } from "../lib/api.js";
import { go, h, show, when } from "../lib/dom.js";
import { onLeave, render, requireLogin, routeGuard } from "../lib/page.js";
import { heldSeatsNote, retryAfterMs, soldOut, soldOutText } from "../lib/queue.js";
import { lineStream, pollDelay } from "../lib/queue-events.js";
import { saveQueueToken } from "../lib/session.js";
import { prefetchLayout } from "./seat-map.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
// Buyers told when the waiting room opens come back spread over this long after that moment: where
// they land in the pre-queue does not matter, so there is nothing to gain by arriving first.
const REENTRY_SPREAD_MS = 20_000;
const REENTRY_WITHIN_MS = 60 * 60 * 1000; // further off than this, the buyer comes back by themselves
const PREFETCH_WITHIN_SECONDS = 60; // the seat layout is read ahead when the turn is this close (or next)

const minutes = (seconds) => `About ${Math.max(1, Math.round(seconds / 60))} min to go`;

function timeLeft(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const [hours, rest] = [Math.floor(seconds / 3600), seconds % 3600];
  const clock = `${String(Math.floor(rest / 60)).padStart(hours ? 2 : 1, "0")}:${String(rest % 60).padStart(2, "0")}`;
  return hours ? `${hours}:${clock}` : clock;
}

export async function waitingRoomScreen(concertId, dateId) {
  const alive = routeGuard();
  if (!requireLogin()) return;
  let here = true;
  onLeave(() => { here = false; });
  const admitted = (token) => {
    saveQueueToken(dateId, token);
    show("It's your turn! Choose your seats.", "ok");
    go(`#/seats/${concertId}/${dateId}`);
  };
  const target = { concert_id: Number(concertId), concert_date_id: Number(dateId) };
  // An entry the service was too busy for (503) or rate-limited (429) changed nothing: say so, and send
  // it again when the answer says, while the buyer stays on the page.
  const enter = async () => {
    for (let tried = false; ; tried = true) {
      const answer = await api("POST", "/api/queue", { body: target });
      const wait = retryAfterMs(answer);
      if (wait === null || !here) {
        if (tried) show(""); // the "trying again" notice is over
        return answer;
      }
      show(`The waiting room is very busy. Nothing was lost: trying again in ${Math.ceil(wait / 1000)} s…`, "info");
      await sleep(wait);
    }
  };

  let entered = await enter();
  const opensAt = entered.error?.code === "BOOKING_CLOSED" && entered.error.details?.queue_opens_at;
  if (opensAt) {
    // Too early even for the pre-queue: say when it opens, and come back then if that is soon.
    const wait = new Date(opensAt).getTime() - Date.now();
    render(alive, h("h1", {}, "Waiting room"), h("div", { class: "card", id: "queue-closed" },
      h("p", {}, `The waiting room opens at ${when(opensAt)}.`),
      h("p", { class: "muted" }, "Everyone in it when the sale opens gets a place in line drawn at random, so there is no need to be first.",
        wait < REENTRY_WITHIN_MS ? " Keep this page open: you join automatically." : "")));
    if (wait >= REENTRY_WITHIN_MS) return;
    await sleep(wait + Math.random() * REENTRY_SPREAD_MS);
    if (!here) return;
    entered = await enter();
  }
  if (entered.error?.code === "EMAIL_NOT_VERIFIED" && (await refreshTokens()) && here) {
    entered = await enter(); // verified since the token was issued?
  }
  if (entered.error?.code === "EMAIL_NOT_VERIFIED") {
    show(humanError(entered.error, entered.status));
    return go(`#/verify?next=${encodeURIComponent(`#/queue/${concertId}/${dateId}`)}`);
  }
  if (!entered.ok && !soldOut(entered)) return show(humanError(entered.error, entered.status));
  if (entered.data?.status === "READY") return admitted(entered.data.token); // free capacity, nobody waiting

  const statusPath = `/api/queue/status?concert_id=${concertId}&concert_date_id=${dateId}`;
  // "Check again": one poll; a buyer not in line (refused while sold out) enters once it has reopened.
  const checkOnce = async () => {
    const polled = await api("GET", statusPath);
    if (!polled.ok) {
      show(humanError(polled.error, polled.status));
      return { status: "SOLD_OUT" };
    }
    if (polled.data.status !== "NOT_IN_QUEUE") return polled.data;
    const again = await enter();
    if (again.ok) return again.data;
    if (!soldOut(again)) show(humanError(again.error, again.status));
    return { status: "SOLD_OUT" };
  };
  let pressed = null;
  const checkAgain = h("button", { type: "button", id: "check-again", onclick: () => pressed?.() }, "Check again");
  const soldOutWords = h("p", { class: "muted", id: "sold-out-text" });
  const soldOutCard = h("div", { class: "card", id: "sold-out", hidden: true },
    h("p", { class: "big" }, "Sold out"), soldOutWords, checkAgain);

  const title = h("p", { id: "place-title" });
  const position = h("p", { class: "big", id: "position" });
  const opensIn = h("p", { class: "big", id: "opens-in" });
  const bar = h("div");
  const progress = h("div", { class: "progress", role: "progressbar", "aria-label": "Progress in line" }, bar);
  const wait = h("p", { class: "muted", id: "wait" });
  const held = h("p", { class: "muted", id: "held-seats", hidden: true });
  const lineCard = h("div", { class: "card", id: "in-line" }, title, opensIn, position, progress, wait, held,
    h("p", { class: "muted" }, "Keep this page open: you move on automatically when it is your turn."));
  render(alive, h("h1", {}, "Waiting room"), lineCard, soldOutCard);
  let firstPosition = null;
  let state = soldOut(entered) ? { status: "SOLD_OUT" } : entered.data;
  let checkedAt = null;
  let clock = null;
  const stopClock = () => clearInterval(clock);
  onLeave(stopClock);
  let wake = () => {};
  const stream = lineStream(dateId, { onSoldOut: () => wake(), onTurn: () => wake(), onLost: () => wake() });
  onLeave(stream.close);
  while (here) {
    if (state.status !== "WAITING") stream.close(); // only a buyer waiting in line listens
    if (state.status === "READY") return admitted(state.token);
    if (state.status === "NOT_IN_QUEUE") {
      show("You are no longer in line. Join again to continue.", "info");
      return go(`#/concert/${concertId}`);
    }
    stopClock();
    if (state.status === "SOLD_OUT") {
      // Told to stop asking: nothing more until the buyer presses "Check again".
      [lineCard.hidden, soldOutCard.hidden, checkAgain.disabled] = [true, false, false];
      soldOutWords.textContent = soldOutText(checkedAt);
      await new Promise((resolve) => { pressed = resolve; });
      if (!here) return;
      checkAgain.disabled = true;
      state = await checkOnce();
      checkedAt = new Date().toLocaleTimeString([], { timeStyle: "short" });
      continue;
    }
    [lineCard.hidden, soldOutCard.hidden] = [false, true];
    held.textContent = heldSeatsNote(state);
    held.hidden = !held.textContent;
    if (state.position == null && state.opens_at) {
      // The pre-queue: the place is drawn when the sale opens.
      const opens = new Date(state.opens_at).getTime();
      title.textContent = `The sale opens at ${when(state.opens_at)}. Your place in line will be drawn then.`;
      const tick = () => {
        const left = opens - Date.now();
        opensIn.textContent = left > 0 ? `Opens in ${timeLeft(left)}` : "Drawing places…";
      };
      tick();
      clock = setInterval(tick, 1000);
      [opensIn.hidden, position.hidden, progress.hidden] = [false, true, true];
      wait.textContent = "Everyone here before the opening gets a random place, ahead of those who come later.";
    } else {
      firstPosition ??= Math.max(state.position, 1);
      title.textContent = "Your place in line";
      position.textContent = `#${state.position}`;
      [opensIn.hidden, position.hidden, progress.hidden] = [true, false, false];
      bar.style.width = `${Math.max(3, Math.round(100 * (1 - (state.position - 1) / firstPosition)))}%`;
      wait.textContent = state.estimated_wait_seconds == null ? "" : minutes(state.estimated_wait_seconds);
      if (state.position === 1 || (state.estimated_wait_seconds ?? Infinity) <= PREFETCH_WITHIN_SECONDS) {
        prefetchLayout(concertId, dateId);
      }
    }
    stream.open(state.number); // once per waiting period (again once the number is known); a no-op while it is open or after it failed
    const woken = new Promise((resolve) => { wake = resolve; });
    const pollAfter = Number(state.poll_after_seconds) || 5;
    await Promise.race([sleep(1000 * pollDelay(pollAfter, stream.toldTurn)), woken]);
    if (!here) return;
    if (!stream.soldOut) {
      const polled = await api("GET", statusPath);
      if (polled.ok) state = polled.data;
      else show(humanError(polled.error, polled.status));
    }
    // The stream said the date sold out (perhaps while the poll was out): shown as a SOLD_OUT answer is.
    // A poll that admitted the buyer or found them out of line still decides.
    if (stream.soldOut && state.status === "WAITING") state = { status: "SOLD_OUT" };
  }
}
