// Log in and sign up.

import { api, humanError, refreshTokens } from "../lib/api.js";
import { fieldErrors, formFields, go, h, show } from "../lib/dom.js";
import { render, routeGuard } from "../lib/page.js";
import { loginForm } from "../lib/login.js";
import { saveTokens } from "../lib/session.js";

export function loginScreen(params) {
  const alive = routeGuard();
  const form = loginForm("Log in", () => {
    show("");
    go(params.get("next") || "#/concerts");
  });
  render(alive, h("h1", {}, "Log in"), h("div", { class: "card" }, form),
    h("p", {}, "No account yet? ", h("a", { href: "#/signup" }, "Sign up")));
}

// The code from the verification e-mail (or its link, #/verify?token=...): once verified, the access
// token is refreshed so that it says so, and the buyer goes back to where the check stopped them.
export function verifyScreen(params) {
  const alive = routeGuard();
  const form = h("form", { "aria-label": "Confirm e-mail" },
    h("label", {}, "Code from the e-mail", h("textarea", { name: "token", required: true, rows: 3 }, params.get("token") || "")),
    h("button", { type: "submit" }, "Confirm my e-mail"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await api("POST", "/api/auth/verify-email", { body: { token: formFields(form).token.trim() } });
    if (!result.ok) return show(humanError(result.error, result.status));
    await refreshTokens();
    show("Thank you, your e-mail address is confirmed.", "ok");
    go(params.get("next") || "#/concerts");
  });
  render(alive, h("h1", {}, "Confirm your e-mail"),
    h("p", {}, "Buying tickets needs a confirmed e-mail address. We sent you an e-mail with a code when you signed up."),
    h("div", { class: "card" }, form));
}

export function signupScreen() {
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
    saveTokens(login.data);
    show("Welcome! We sent you an e-mail to confirm your address. Add money to your wallet to buy tickets.", "ok");
    go("#/wallet");
  });
  render(alive, h("h1", {}, "Sign up"), h("div", { class: "card" }, form));
}
