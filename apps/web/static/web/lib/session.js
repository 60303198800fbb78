// What the page keeps between screens, in this tab's sessionStorage: the login tokens, each concert
// date's queue token and each payment's idempotency key. Closing the tab forgets them all.

const store = sessionStorage;

export const accessToken = () => store.getItem("access");
export const refreshToken = () => store.getItem("refresh");
export const loggedIn = () => Boolean(accessToken());

// Seconds the access token has left, from its `exp` claim (read, not verified: the server verifies it),
// or Infinity when the token is not a readable JWT.
export function accessSecondsLeft(now = Date.now()) {
  try {
    const payload = accessToken().split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const { exp } = JSON.parse(atob(payload));
    return Number.isFinite(exp) ? exp - now / 1000 : Infinity;
  } catch {
    return Infinity;
  }
}

// Login, signup and refresh all answer `{access, refresh}`; the old refresh token no longer works.
export function saveTokens({ access, refresh }) {
  store.setItem("access", access);
  store.setItem("refresh", refresh);
}

export function forgetTokens() {
  store.removeItem("access");
  store.removeItem("refresh");
}

export const queueTokenFor = (dateId) => store.getItem(`queue:${dateId}`);
export const saveQueueToken = (dateId, token) => store.setItem(`queue:${dateId}`, token);

// One key per reservation, kept across retries and reloads: paying twice charges once.
export function paymentKeyFor(reservationId) {
  const name = `pay:${reservationId}`;
  const key = store.getItem(name) || crypto.randomUUID();
  store.setItem(name, key);
  return key;
}
