// The log-in form of the buyer's page and of the staff page: e-mail and password; on success the tokens
// are saved and loggedIn() decides what comes next; a refusal is shown in the page's message line.

import { api, humanError } from "./api.js";
import { formFields, h, show } from "./dom.js";
import { saveTokens } from "./session.js";

export function loginForm(label, loggedIn) {
  const form = h("form", { "aria-label": label },
    h("label", {}, "E-mail", h("input", { name: "email", type: "email", required: true, autocomplete: "username" })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", required: true, autocomplete: "current-password" })),
    h("button", { type: "submit" }, "Log in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await api("POST", "/api/auth/login", { body: formFields(form) });
    if (!result.ok) return show(humanError(result.error, result.status));
    saveTokens(result.data);
    return loggedIn();
  });
  return form;
}
