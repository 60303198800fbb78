// The current screen: what it may paint, and what stops when the buyer moves on.

import { go, show } from "./dom.js";
import { loggedIn } from "./session.js";

const app = document.getElementById("app");
let routeId = 0;
let onLeaving = [];

// A new screen starts: stop the timers and polls of the one before.
export function enterScreen() {
  routeId += 1;
  onLeaving.forEach((stop) => stop());
  onLeaving = [];
}

// A screen that finished loading after the buyer moved on must not paint over the newer screen.
export function routeGuard() {
  const mine = routeId;
  return () => mine === routeId;
}

export function onLeave(stop) {
  onLeaving.push(stop);
}

export function render(alive, ...nodes) {
  if (alive()) app.replaceChildren(...nodes.flat());
}

export function requireLogin() {
  if (loggedIn()) return true;
  show("Please log in first.", "info");
  go(`#/login?next=${encodeURIComponent(location.hash)}`);
  return false;
}
