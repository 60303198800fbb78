// The buyer's page: hash routes to one screen module each, talking to the public API only.
// Plain ES modules, no build step, no dependencies.

import { api, MESSAGES } from "./lib/api.js";
import { go, h, show } from "./lib/dom.js";
import { enterScreen } from "./lib/page.js";
import { forgetTokens, loggedIn, refreshToken } from "./lib/session.js";
import { loginScreen, signupScreen, verifyScreen } from "./screens/account.js";
import { confirmedScreen, holdScreen } from "./screens/checkout.js";
import { concertScreen, concertsScreen } from "./screens/concerts.js";
import { reservationsScreen } from "./screens/reservations.js";
import { seatMapScreen } from "./screens/seat-map.js";
import { waitingRoomScreen } from "./screens/waiting-room.js";
import { walletScreen } from "./screens/wallet.js";

const nav = document.getElementById("nav");

async function logout() {
  await api("POST", "/api/auth/logout", { body: { refresh: refreshToken() } });
  forgetTokens();
  show("You are logged out.", "ok");
  go("#/login");
}

function renderNav() {
  nav.replaceChildren(
    h("a", { href: "#/concerts" }, "Concerts"),
    ...(loggedIn()
      ? [h("a", { href: "#/wallet" }, "Wallet"), h("a", { href: "#/reservations" }, "My reservations"),
        h("button", { type: "button", onclick: logout }, "Log out")]
      : [h("a", { href: "#/login" }, "Log in"), h("a", { href: "#/signup" }, "Sign up")]),
  );
}

// #/name/part1/part2?query → the screen called `name` with the parts.
const SCREENS = {
  login: (parts, params) => loginScreen(params),
  signup: () => signupScreen(),
  verify: (parts, params) => verifyScreen(params),
  wallet: () => walletScreen(),
  concerts: () => concertsScreen(),
  concert: ([concertId]) => concertScreen(concertId),
  queue: ([concertId, dateId]) => waitingRoomScreen(concertId, dateId),
  seats: ([concertId, dateId]) => seatMapScreen(concertId, dateId),
  hold: ([concertId, dateId, reservationId]) => holdScreen(concertId, dateId, reservationId),
  confirmed: ([reservationId]) => confirmedScreen(reservationId),
  reservations: () => reservationsScreen(),
};

async function route() {
  enterScreen();
  renderNav();
  const [path, query] = (location.hash.slice(1) || "/concerts").split("?");
  const [name, ...parts] = path.split("/").filter(Boolean);
  try {
    await (SCREENS[name] || SCREENS.concerts)(parts, new URLSearchParams(query || ""));
  } catch (error) {
    console.error(error);
    show(MESSAGES.INTERNAL_ERROR);
  }
}

window.addEventListener("hashchange", route);
route();
