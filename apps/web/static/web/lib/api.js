// The public API, as any other client sees it: the same endpoints, headers and error codes.

import { accessSecondsLeft, accessToken, forgetTokens, refreshToken, saveTokens } from "./session.js";

export const MESSAGES = {
  NOT_AUTHENTICATED: "Please log in again.",
  INVALID_CREDENTIALS: "That e-mail and password do not match an account.",
  PERMISSION_DENIED: "You are not allowed to do that.",
  EMAIL_NOT_VERIFIED: "Please confirm your e-mail address first: paste the code from the e-mail we sent you.",
  QUEUE_TOKEN_REQUIRED: "Your turn to choose seats has ended, so you are back in the line.",
  NOT_FOUND: "We could not find that. It may have been removed.",
  EMAIL_TAKEN: "An account with this e-mail already exists. Log in instead.",
  SEAT_UNAVAILABLE: "Someone else just took one of those seats. The map has been refreshed.",
  HOLD_EXPIRED: "Your hold on these seats has expired. Please choose seats again.",
  HOLD_LIMIT_REACHED: "You already hold seats for this date. Pay for or cancel that reservation first.",
  BOOKING_CLOSED: "Booking is not open for this date.",
  SOLD_OUT: "This date is sold out. Seats that come back reopen the waiting room.",
  INVALID_STATE: "That is no longer possible for this reservation.",
  INSUFFICIENT_BALANCE: "Your wallet does not cover this payment.",
  ALREADY_CHECKED_IN: "This ticket has been checked in already.",
  TICKET_VOID: "This ticket's booking was cancelled or refunded.",
  INVALID_TICKET: "This is not a valid ticket.",
  IDEMPOTENCY_CONFLICT: "This request was already sent with different details.",
  SERVICE_UNAVAILABLE: "We are very busy right now. Nothing was changed; please try again in a moment.",
  INTERNAL_ERROR: "Something went wrong on our side. Please try again.",
};

const UNREACHABLE = { code: "SERVICE_UNAVAILABLE", message: MESSAGES.SERVICE_UNAVAILABLE };

// A best-available request that found nothing to fit, said with what is left.
export function notEnoughSeats({ section, quantity, available, largest_together: together }) {
  const where = section ? `in ${section}` : "for this date";
  if (!available) return `No seats are left ${where}.`;
  const left = `${available.toLocaleString("en-US")} seat${available === 1 ? " is" : "s are"} free ${where}`;
  return `Not ${quantity} seats together ${where}: ${left}, at most ${together} side by side. `
    + "Choose fewer, allow seats apart, or pick seats on the map.";
}

export function humanError(error, status) {
  if (!error) return status >= 500 || status === 0 ? MESSAGES.SERVICE_UNAVAILABLE : "Something went wrong.";
  if (error.code === "NOT_ENOUGH_SEATS") return notEnoughSeats(error.details || {});
  if (error.code === "THROTTLED") return `Too many tries. Please wait ${error.retryAfter || "a few"} seconds.`;
  if (error.code === "VALIDATION_ERROR") {
    const fields = Object.entries(error.details || {}).map(([f, m]) => `${f}: ${[].concat(m).join(" ")}`);
    return fields.length ? fields.join(" · ") : error.message;
  }
  return MESSAGES[error.code] || error.message;
}

// One rotation at a time: calls that meet a 401 together share it. The server treats a rotated refresh
// token sent again as stolen and ends the whole session, so two parallel rotations would log the buyer out.
let rotation = null;

// Also for a claim the access token carries (the e-mail verified since it was issued).
export function refreshTokens() {
  rotation ??= rotateTokens().finally(() => {
    rotation = null;
  });
  return rotation;
}

async function rotateTokens() {
  const refresh = refreshToken();
  if (!refresh) return false;
  const response = await fetch("/api/auth/refresh", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh }),
  }).catch(() => null);
  if (!response?.ok) return false;
  saveTokens(await response.json());
  return true;
}

// An access token this close to its expiry is renewed before a request, not after the request's 401:
// a waiting room polls for longer than an access token lives, and a poll answered 401 is a wasted
// request on both sides.
export const RENEW_BEFORE_SECONDS = 120;

// One request: JSON in and out, the access token renewed when it is about to expire and refreshed once
// on a 401, errors in API.md's shape.
// `headers` adds request headers (If-None-Match), `cache` is fetch's cache mode, and `anonymous` sends
// no Authorization (public, cacheable resources). With `accept` (an image type, say) a successful
// answer's `data` is its text; errors are JSON all the same.
export async function api(method, path, options = {}) {
  const { body, queueToken, idempotencyKey, headers: extra, cache = "default", anonymous, retried, accept } = options;
  const headers = { Accept: accept ? `${accept}, application/json` : "application/json", ...extra };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!anonymous && refreshToken() && path !== "/api/auth/refresh" && accessSecondsLeft() < RENEW_BEFORE_SECONDS) {
    await refreshTokens();
  }
  const access = anonymous ? null : accessToken();
  if (access) headers.Authorization = `Bearer ${access}`;
  if (queueToken) headers["X-Queue-Token"] = queueToken;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let response;
  try {
    response = await fetch(path, { method, headers, cache, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    return { ok: false, status: 0, data: null, error: UNREACHABLE, headers: new Headers() };
  }
  const asText = accept && response.ok;
  const data = [204, 304].includes(response.status) ? null
    : await (asText ? response.text() : response.json()).catch(() => null);
  // A 401 for a token that another call has already replaced needs no rotation of its own: retry.
  const renewed = () => accessToken() !== access || refreshTokens();
  if (response.status === 401 && access && !retried && path !== "/api/auth/refresh" && (await renewed())) {
    return api(method, path, { ...options, retried: true });
  }
  const error = data?.error ? { ...data.error, retryAfter: response.headers.get("Retry-After") } : null;
  if (response.status === 401 && path !== "/api/auth/login") forgetTokens();
  return { ok: response.ok, status: response.status, data, error, headers: response.headers };
}
