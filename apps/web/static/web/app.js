// The buyer's page. It talks to the public API only (../shared/API.md): the same endpoints, headers
// and error codes as any other client. Hash routes, no build step, no dependencies.

const app = document.getElementById("app");
const nav = document.getElementById("nav");
const notice = document.getElementById("notice");
const MAX_SEATS = Number(document.body.dataset.maxSeats || 4);
const store = sessionStorage;
let stopTimers = [];

// ---- API ----------------------------------------------------------------------------------------

const MESSAGES = {
  NOT_AUTHENTICATED: "Please log in again.",
  INVALID_CREDENTIALS: "That e-mail and password do not match an account.",
  PERMISSION_DENIED: "You are not allowed to do that.",
  QUEUE_TOKEN_REQUIRED: "Your turn in the waiting room has ended. Join the line again to continue.",
  NOT_FOUND: "We could not find that. It may have been removed.",
  EMAIL_TAKEN: "An account with this e-mail already exists. Log in instead.",
  SEAT_UNAVAILABLE: "Someone else just took one of those seats. The map has been refreshed.",
  HOLD_EXPIRED: "Your hold on these seats has expired. Please choose seats again.",
  HOLD_LIMIT_REACHED: "You already hold seats for this date. Pay for or cancel that reservation first.",
  BOOKING_CLOSED: "Booking is not open for this date.",
  INVALID_STATE: "That is no longer possible for this reservation.",
  INSUFFICIENT_BALANCE: "Your wallet does not cover this payment.",
  IDEMPOTENCY_CONFLICT: "This request was already sent with different details.",
  SERVICE_UNAVAILABLE: "We are very busy right now. Nothing was changed; please try again in a moment.",
  INTERNAL_ERROR: "Something went wrong on our side. Please try again.",
};

function humanError(error, status) {
  if (!error) return status >= 500 ? MESSAGES.SERVICE_UNAVAILABLE : "Something went wrong.";
  if (error.code === "THROTTLED") return `Too many tries. Please wait ${error.retryAfter || "a few"} seconds.`;
  if (error.code === "VALIDATION_ERROR") {
    const fields = Object.entries(error.details || {}).map(([f, m]) => `${f}: ${[].concat(m).join(" ")}`);
    return fields.length ? fields.join(" · ") : error.message;
  }
  return MESSAGES[error.code] || error.message;
}

async function refreshTokens() {
  const refresh = store.getItem("refresh");
  if (!refresh) return false;
  const response = await fetch("/api/auth/refresh", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh }),
  });
  if (!response.ok) return false;
  const tokens = await response.json();
  store.setItem("access", tokens.access);
  store.setItem("refresh", tokens.refresh);
  return true;
}

async function api(method, path, { body, queueToken, idempotencyKey, retried } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const access = store.getItem("access");
  if (access) headers.Authorization = `Bearer ${access}`;
  if (queueToken) headers["X-Queue-Token"] = queueToken;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    return { ok: false, status: 0, error: { code: "SERVICE_UNAVAILABLE", message: MESSAGES.SERVICE_UNAVAILABLE } };
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401 && access && !retried && path !== "/api/auth/refresh" && (await refreshTokens())) {
    return api(method, path, { body, queueToken, idempotencyKey, retried: true });
  }
  const error = data && data.error ? { ...data.error, retryAfter: response.headers.get("Retry-After") } : null;
  if (response.status === 401 && path !== "/api/auth/login") logoutLocally();
  return { ok: response.ok, status: response.status, data, error, headers: response.headers };
}

// ---- helpers ------------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value !== false && value != null) el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) el.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return el;
}

function show(message, kind = "error") {
  notice.textContent = message;
  notice.className = kind;
  notice.hidden = !message;
}

let routeId = 0;

// A screen that finished loading after the buyer moved on must not paint over the newer screen.
function routeGuard() {
  const mine = routeId;
  return () => mine === routeId;
}

function render(alive, ...nodes) {
  if (alive()) app.replaceChildren(...nodes.flat());
}

const money = (value) => `₩${Number(value).toLocaleString("en-US", { minimumFractionDigits: 0 })}`;
const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
const loggedIn = () => Boolean(store.getItem("access"));
const go = (hash) => { location.hash = hash; };

function logoutLocally() {
  store.removeItem("access");
  store.removeItem("refresh");
}

function queueTokenFor(dateId) {
  return store.getItem(`queue:${dateId}`);
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

async function logout() {
  await api("POST", "/api/auth/logout", { body: { refresh: store.getItem("refresh") } });
  logoutLocally();
  show("You are logged out.", "ok");
  go("#/login");
}

function requireLogin() {
  if (loggedIn()) return true;
  show("Please log in first.", "info");
  go(`#/login?next=${encodeURIComponent(location.hash)}`);
  return false;
}

function formFields(form) {
  return Object.fromEntries(new FormData(form).entries());
}

function fieldErrors(form, error) {
  form.querySelectorAll(".field-error").forEach((el) => el.remove());
  for (const [field, messages] of Object.entries((error && error.details) || {})) {
    const input = form.querySelector(`[name="${field}"]`);
    if (input) input.after(h("span", { class: "field-error" }, [].concat(messages).join(" ")));
  }
}

// ---- screens ------------------------------------------------------------------------------------

function loginScreen(params) {
  const alive = routeGuard();
  const form = h("form", { "aria-label": "Log in" },
    h("label", {}, "E-mail", h("input", { name: "email", type: "email", required: true, autocomplete: "email" })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", required: true, autocomplete: "current-password" })),
    h("button", { type: "submit" }, "Log in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await api("POST", "/api/auth/login", { body: formFields(form) });
    if (!result.ok) return show(humanError(result.error, result.status));
    store.setItem("access", result.data.access);
    store.setItem("refresh", result.data.refresh);
    show("");
    go(params.get("next") || "#/concerts");
  });
  render(alive, h("h1", {}, "Log in"), h("div", { class: "card" }, form),
    h("p", {}, "No account yet? ", h("a", { href: "#/signup" }, "Sign up")));
}

function signupScreen() {
  const alive = routeGuard();
  const form = h("form", { "aria-label": "Sign up" },
    h("label", {}, "Name", h("input", { name: "name", required: true, autocomplete: "name" })),
    h("label", {}, "E-mail", h("input", { name: "email", type: "email", required: true, autocomplete: "email" })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", required: true, autocomplete: "new-password" })),
    h("button", { type: "submit" }, "Create account"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = formFields(form);
    const result = await api("POST", "/api/auth/signup", { body: fields });
    fieldErrors(form, result.error);
    if (!result.ok) return show(humanError(result.error, result.status));
    const login = await api("POST", "/api/auth/login", { body: { email: fields.email, password: fields.password } });
    if (!login.ok) return show(humanError(login.error, login.status));
    store.setItem("access", login.data.access);
    store.setItem("refresh", login.data.refresh);
    show("Welcome! We sent you an e-mail to confirm your address. Add money to your wallet to buy tickets.", "ok");
    go("#/wallet");
  });
  render(alive, h("h1", {}, "Sign up"), h("div", { class: "card" }, form));
}

async function walletScreen() {
  const alive = routeGuard();
  if (!requireLogin()) return;
  const [balance, ledger] = await Promise.all([
    api("GET", "/api/users/me/balance"), api("GET", "/api/users/me/balance/transactions?page_size=20"),
  ]);
  if (!balance.ok) return show(humanError(balance.error, balance.status));
  const form = h("form", { "aria-label": "Charge wallet" },
    h("label", {}, "Amount to add", h("input", { name: "amount", inputmode: "decimal", required: true, placeholder: "100000" })),
    h("button", { type: "submit" }, "Add money"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = crypto.randomUUID();
    const result = await api("POST", "/api/users/me/balance/charge", { body: formFields(form), idempotencyKey: key });
    fieldErrors(form, result.error);
    if (!result.ok) return show(humanError(result.error, result.status));
    show(`Added. Your balance is now ${money(result.data.balance)}.`, "ok");
    walletScreen();
  });
  const rows = (ledger.data?.results || []).map((entry) => h("tr", {},
    h("td", {}, when(entry.created_at)), h("td", {}, entry.kind), h("td", { class: "num" }, money(entry.amount)),
    h("td", { class: "num" }, money(entry.balance_after))));
  render(alive,
    h("h1", {}, "Wallet"),
    h("div", { class: "card" }, h("p", {}, "Balance"), h("p", { class: "big", id: "balance" }, money(balance.data.balance)), form),
    h("div", { class: "card" }, h("h2", {}, "Ledger"),
      rows.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "When"), h("th", {}, "Kind"),
        h("th", { class: "num" }, "Amount"), h("th", { class: "num" }, "Balance after"))), h("tbody", { id: "ledger" }, rows))
        : h("p", { class: "muted" }, "No movements yet.")),
  );
}

async function concertsScreen() {
  const alive = routeGuard();
  const result = await api("GET", "/api/concerts?page_size=50");
  if (!result.ok) return show(humanError(result.error, result.status));
  render(alive, h("h1", {}, "Concerts"), ...result.data.results.map((concert) => h("div", { class: "card" },
    h("h2", {}, h("a", { href: `#/concert/${concert.id}` }, concert.name)),
    h("p", {}, `${concert.artist} · ${concert.venue.name}`),
    h("p", { class: "muted" }, concert.first_date ? `${when(concert.first_date)} – ${when(concert.last_date)}` : "No dates yet"))));
}

async function concertScreen(concertId) {
  const alive = routeGuard();
  const [concert, dates] = await Promise.all([
    api("GET", `/api/concerts/${concertId}`), api("GET", `/api/concerts/${concertId}/dates`),
  ]);
  if (!concert.ok) return show(humanError(concert.error, concert.status));
  render(alive,
    h("h1", {}, concert.data.name),
    h("p", {}, `${concert.data.artist} at ${concert.data.venue.name}, ${concert.data.venue.address}`),
    h("p", { class: "muted" }, concert.data.description),
    h("div", { class: "dates" }, dates.data.map((date) => h("div", { class: "card date" },
      h("div", {}, h("strong", {}, when(date.starts_at)),
        h("div", { class: "muted" }, `${date.remaining_seats} of ${date.total_seats} seats left`)),
      date.is_available
        ? h("a", { class: "button", href: `#/queue/${concertId}/${date.id}` }, "Get tickets")
        : h("span", { class: "muted" }, date.remaining_seats ? "Not on sale" : "Sold out")))),
  );
}

async function queueScreen(concertId, dateId) {
  const alive = routeGuard();
  if (!requireLogin()) return;
  const target = { concert_id: Number(concertId), concert_date_id: Number(dateId) };
  const entered = await api("POST", "/api/queue", { body: target });
  if (!entered.ok) return show(humanError(entered.error, entered.status));
  if (entered.data.status === "READY") {  // free capacity and nobody waiting: straight in
    store.setItem(`queue:${dateId}`, entered.data.token);
    show("It's your turn! Choose your seats.", "ok");
    return go(`#/seats/${concertId}/${dateId}`);
  }
  const firstPosition = Math.max(entered.data.position, 1);
  const position = h("p", { class: "big", id: "position" });
  const wait = h("p", { class: "muted", id: "wait" });
  const bar = h("div", { style: "width: 0%" });
  render(alive, h("h1", {}, "Waiting room"),
    h("div", { class: "card" }, h("p", {}, "Your place in line"), position, h("div", { class: "progress", role: "progressbar" }, bar), wait,
      h("p", { class: "muted" }, "Keep this page open: you move on automatically when it is your turn.")));
  let active = true;
  stopTimers.push(() => { active = false; });
  let state = entered.data;
  while (active) {
    if (state.status === "READY") {
      store.setItem(`queue:${dateId}`, state.token);
      show("It's your turn! Choose your seats.", "ok");
      return go(`#/seats/${concertId}/${dateId}`);
    }
    if (state.status === "NOT_IN_QUEUE") {
      show("You are no longer in line. Join again to continue.", "info");
      return go(`#/concert/${concertId}`);
    }
    position.textContent = `#${state.position}`;
    wait.textContent = `About ${Math.max(1, Math.round(state.estimated_wait_seconds / 60))} min to go`;
    bar.style.width = `${Math.max(3, Math.round(100 * (1 - (state.position - 1) / firstPosition)))}%`;
    const pause = Number(state.poll_after_seconds || 0) || 5;
    await new Promise((resolve) => setTimeout(resolve, pause * 1000));
    if (!active) return;
    const polled = await api("GET", `/api/queue/status?concert_id=${concertId}&concert_date_id=${dateId}`);
    if (polled.ok) state = polled.data;
    else show(humanError(polled.error, polled.status));
  }
}

async function seatsScreen(concertId, dateId, takenSeatIds = []) {
  const alive = routeGuard();
  if (!requireLogin()) return;
  const token = queueTokenFor(dateId);
  if (!token) return go(`#/queue/${concertId}/${dateId}`);
  const result = await api("GET", `/api/concerts/${concertId}/dates/${dateId}/seats`, { queueToken: token });
  if (!result.ok) {
    show(humanError(result.error, result.status));
    if (result.error?.code === "QUEUE_TOKEN_REQUIRED") go(`#/queue/${concertId}/${dateId}`);
    return;
  }
  const selected = new Set();
  const holdButton = h("button", { type: "button", disabled: true, id: "hold" }, "Hold seats");
  const summary = h("p", { id: "selection", class: "muted" }, `Choose up to ${MAX_SEATS} seats.`);
  const seats = result.data;
  const bySection = new Map();
  for (const seat of seats) {
    if (!bySection.has(seat.section)) bySection.set(seat.section, new Map());
    const rows = bySection.get(seat.section);
    if (!rows.has(seat.row)) rows.set(seat.row, []);
    rows.get(seat.row).push(seat);
  }
  const update = () => {
    const chosen = seats.filter((seat) => selected.has(seat.id));
    const total = chosen.reduce((sum, seat) => sum + Number(seat.price), 0);
    summary.textContent = chosen.length
      ? `${chosen.length} seat(s): ${chosen.map((s) => `${s.section} ${s.row}-${s.seat_num}`).join(", ")} · ${money(total)}`
      : `Choose up to ${MAX_SEATS} seats.`;
    holdButton.disabled = chosen.length === 0;
  };
  const sections = [...bySection].map(([section, rows]) => h("div", { class: "section card" },
    h("h2", {}, `${section} · ${money([...rows.values()][0][0].price)}`),
    [...rows].map(([row, rowSeats]) => h("div", { class: "row" }, h("span", { class: "row-label" }, row),
      rowSeats.map((seat) => {
        const button = h("button", {
          type: "button", class: `seat ${seat.status}${takenSeatIds.includes(seat.id) ? " taken" : ""}`,
          disabled: seat.status !== "AVAILABLE", "data-seat-id": seat.id, "aria-pressed": "false",
          "aria-label": `${section} row ${row} seat ${seat.seat_num}, ${money(seat.price)}, ${seat.status.toLowerCase()}`,
          title: `${section} ${row}-${seat.seat_num} · ${money(seat.price)}`,
        }, String(seat.seat_num));
        button.addEventListener("click", () => {
          if (selected.has(seat.id)) selected.delete(seat.id);
          else if (selected.size >= MAX_SEATS) return show(`You can choose at most ${MAX_SEATS} seats.`, "info");
          else selected.add(seat.id);
          button.classList.toggle("selected", selected.has(seat.id));
          button.setAttribute("aria-pressed", String(selected.has(seat.id)));
          update();
        });
        return button;
      })))));
  holdButton.addEventListener("click", async () => {
    holdButton.disabled = true;
    const hold = await api("POST", "/api/reservations", {
      body: { concert_date_id: Number(dateId), seat_ids: [...selected] }, queueToken: token,
    });
    if (hold.ok) {
      show("");
      return go(`#/hold/${concertId}/${dateId}/${hold.data.id}`);
    }
    show(humanError(hold.error, hold.status));
    if (hold.error?.code === "SEAT_UNAVAILABLE") return seatsScreen(concertId, dateId, hold.error.details.seat_ids || []);
    if (hold.error?.code === "QUEUE_TOKEN_REQUIRED") return go(`#/queue/${concertId}/${dateId}`);
    holdButton.disabled = false;
  });
  render(alive, h("h1", {}, "Choose your seats"),
    h("div", { class: "legend" },
      h("span", { style: "--c:#2e7d32" }, "Available"), h("span", { style: "--c:#5b3df5" }, "Your choice"),
      h("span", { style: "--c:#f9a825" }, "Held"), h("span", { style: "--c:#9e9e9e" }, "Sold")),
    sections, h("div", { class: "card" }, summary, holdButton));
}

async function holdScreen(concertId, dateId, reservationId) {
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
  stopTimers.push(stop);
  payButton.addEventListener("click", async () => {
    payButton.disabled = true;
    const key = store.getItem(`pay:${reservationId}`) || crypto.randomUUID();
    store.setItem(`pay:${reservationId}`, key);
    const paid = await api("POST", "/api/payments", {
      body: { reservation_id: Number(reservationId) }, queueToken: queueTokenFor(dateId), idempotencyKey: key,
    });
    if (paid.ok) {
      stop();
      show("");
      return go(`#/confirmed/${reservationId}`);
    }
    payButton.disabled = false;
    const code = paid.error?.code;
    if (code === "INSUFFICIENT_BALANCE") {
      notice.replaceChildren(MESSAGES.INSUFFICIENT_BALANCE, " ", h("a", { href: "#/wallet" }, "Add money to your wallet"), " and come back: your hold stays until the timer runs out.");
      notice.className = "error";
      notice.hidden = false;
      return;
    }
    show(humanError(paid.error, paid.status));
    if (code === "HOLD_EXPIRED") { stop(); go(`#/seats/${concertId}/${dateId}`); }
    if (code === "QUEUE_TOKEN_REQUIRED") { stop(); go(`#/queue/${concertId}/${dateId}`); }
  });
  render(alive, h("h1", {}, "Your seats are held"),
    h("div", { class: "card" },
      h("p", {}, "Time left to pay"), countdown,
      h("ul", {}, reservation.seats.map((seat) => h("li", {}, `${seat.section} ${seat.row}-${seat.seat_num} · ${money(seat.price)}`))),
      h("p", {}, h("strong", {}, `Total ${money(reservation.total_price)}`)), payButton,
      h("p", { class: "muted" }, "Paying takes the total from your wallet.")));
  tick();
}

async function confirmedScreen(reservationId) {
  const alive = routeGuard();
  const result = await api("GET", `/api/reservations/${reservationId}`);
  if (!result.ok) return show(humanError(result.error, result.status));
  const balance = await api("GET", "/api/users/me/balance");
  render(alive, h("h1", {}, "You're going!"),
    h("div", { class: "card", id: "confirmation" },
      h("p", {}, `Booking #${result.data.id} is `, h("span", { class: `status ${result.data.status}` }, result.data.status)),
      h("ul", {}, result.data.seats.map((seat) => h("li", {}, `${seat.section} ${seat.row}-${seat.seat_num}`))),
      h("p", {}, `Paid ${money(result.data.total_price)}. Wallet balance: ${balance.ok ? money(balance.data.balance) : "-"}.`),
      h("p", { class: "muted" }, "A confirmation e-mail is on its way."),
      h("a", { class: "button secondary", href: "#/reservations" }, "My reservations")));
}

async function reservationsScreen() {
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
  const rows = result.data.results.map((reservation) => h("tr", { "data-reservation-id": reservation.id },
    h("td", {}, `#${reservation.id}`), h("td", {}, reservation.seats.map((s) => `${s.section} ${s.row}-${s.seat_num}`).join(", ")),
    h("td", { class: "num" }, money(reservation.total_price)),
    h("td", {}, h("span", { class: `status ${reservation.status}` }, reservation.status)),
    h("td", {}, ["HELD", "CONFIRMED"].includes(reservation.status)
      ? h("button", { type: "button", class: "secondary", onclick: () => cancel(reservation) }, "Cancel") : "")));
  render(alive, h("h1", {}, "My reservations"), h("div", { class: "card" }, rows.length
    ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Booking"), h("th", {}, "Seats"), h("th", { class: "num" }, "Total"),
        h("th", {}, "Status"), h("th", {}, ""))), h("tbody", {}, rows))
    : h("p", { class: "muted" }, "No reservations yet.")));
}

// ---- router -------------------------------------------------------------------------------------

async function route() {
  routeId += 1;
  stopTimers.forEach((stop) => stop());
  stopTimers = [];
  renderNav();
  const [path, query] = (location.hash.slice(1) || "/concerts").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  const screens = {
    login: () => loginScreen(params), signup: signupScreen, wallet: walletScreen, concerts: concertsScreen,
    concert: () => concertScreen(parts[1]), queue: () => queueScreen(parts[1], parts[2]),
    seats: () => seatsScreen(parts[1], parts[2]), hold: () => holdScreen(parts[1], parts[2], parts[3]),
    confirmed: () => confirmedScreen(parts[1]), reservations: reservationsScreen,
  };
  try {
    await (screens[parts[0]] || concertsScreen)();
  } catch (error) {
    console.error(error);
    show(MESSAGES.INTERNAL_ERROR);
  }
}

window.addEventListener("hashchange", route);
route();
