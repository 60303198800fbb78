// The waiting room: the buyer's place in line, polled until admission hands out the queue token.

import { api, humanError } from "../lib/api.js";
import { go, h, show } from "../lib/dom.js";
import { onLeave, render, requireLogin, routeGuard } from "../lib/page.js";
import { saveQueueToken } from "../lib/session.js";

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

export async function waitingRoomScreen(concertId, dateId) {
  const alive = routeGuard();
  if (!requireLogin()) return;
  const admitted = (token) => {
    saveQueueToken(dateId, token);
    show("It's your turn! Choose your seats.", "ok");
    go(`#/seats/${concertId}/${dateId}`);
  };
  const entered = await api("POST", "/api/queue", { body: { concert_id: Number(concertId), concert_date_id: Number(dateId) } });
  if (!entered.ok) return show(humanError(entered.error, entered.status));
  if (entered.data.status === "READY") return admitted(entered.data.token); // free capacity, nobody waiting
  const firstPosition = Math.max(entered.data.position, 1);
  const position = h("p", { class: "big", id: "position" });
  const wait = h("p", { class: "muted", id: "wait" });
  const bar = h("div");
  render(alive, h("h1", {}, "Waiting room"),
    h("div", { class: "card" }, h("p", {}, "Your place in line"), position, h("div", { class: "progress", role: "progressbar" }, bar), wait,
      h("p", { class: "muted" }, "Keep this page open: you move on automatically when it is your turn.")));
  let here = true;
  onLeave(() => { here = false; });
  let state = entered.data;
  while (here) {
    if (state.status === "READY") return admitted(state.token);
    if (state.status === "NOT_IN_QUEUE") {
      show("You are no longer in line. Join again to continue.", "info");
      return go(`#/concert/${concertId}`);
    }
    position.textContent = `#${state.position}`;
    wait.textContent = `About ${Math.max(1, Math.round(state.estimated_wait_seconds / 60))} min to go`;
    bar.style.width = `${Math.max(3, Math.round(100 * (1 - (state.position - 1) / firstPosition)))}%`;
    await sleep(Number(state.poll_after_seconds || 0) || 5);
    if (!here) return;
    const polled = await api("GET", `/api/queue/status?concert_id=${concertId}&concert_date_id=${dateId}`);
    if (polled.ok) state = polled.data;
    else show(humanError(polled.error, polled.status));
  }
}
