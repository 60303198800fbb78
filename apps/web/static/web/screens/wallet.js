// The wallet: balance, charging it, and the ledger.

import { api, humanError } from "../lib/api.js";
import { fieldErrors, formFields, h, money, show, when } from "../lib/dom.js";
import { render, requireLogin, routeGuard } from "../lib/page.js";

export async function walletScreen() {
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
    const result = await api("POST", "/api/users/me/balance/charge", {
      body: formFields(form), idempotencyKey: crypto.randomUUID(),
    });
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
