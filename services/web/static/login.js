// Sign in: the token field posts to /api/v1/session, which sets the session cookie; then the
// page loads again, now signed in. Used by the login page and by the dialog api.js shows on 401.

import { api } from "./api.js";
import { el } from "./ui.js";

/** Where to go after signing in on the login page: ?next=/path (same site only), else "/". */
function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

function afterSignIn() {
  if (document.body.dataset.page === "login") location.assign(nextPath());
  else location.reload();
}

/** Wires a form holding a token input, a submit button and an error paragraph. */
export function bindLoginForm(form, input, errorEl) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    errorEl.textContent = "";
    input.removeAttribute("aria-invalid");
    if (!token) {
      errorEl.textContent = "Enter your access token.";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      await api("/api/v1/session", { method: "POST", json: { token }, login: false });
      afterSignIn();
    } catch (err) {
      errorEl.textContent =
        err.status === 401
          ? "That token was not accepted. Check it and try again."
          : `Could not sign in: ${err.message}`;
      input.setAttribute("aria-invalid", "true");
      input.select();
      input.focus();
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });
}

/** A modal dialog with the sign-in form, for when an API call answers 401. */
export function buildLoginDialog() {
  const input = el("input", {
    id: "dialog-token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: "",
    "aria-describedby": "dialog-login-error",
  });
  const errorEl = el("p", { id: "dialog-login-error", class: "field-error", role: "alert" });
  const form = el(
    "form",
    { id: "login-dialog-form", class: "stack", method: "post", novalidate: "" },
    el("div", { class: "field" }, el("label", { for: "dialog-token" }, "Access token"), input),
    errorEl,
    el(
      "div",
      { class: "button-row" },
      el("button", { type: "submit", class: "button-primary" }, "Sign in"),
      el("a", { class: "button button-quiet", href: `/login?next=${encodeURIComponent(location.pathname)}` }, "Sign-in page"),
    ),
  );
  const dialog = el(
    "dialog",
    { id: "login-dialog", class: "dialog", "aria-labelledby": "login-dialog-title" },
    el("h2", { id: "login-dialog-title" }, "Sign in"),
    el("p", {}, "You are not signed in, or your session has ended. Enter your access token to go on."),
    form,
  );
  bindLoginForm(form, input, errorEl);
  return dialog;
}

const pageForm = document.getElementById("login-form");
if (pageForm) {
  bindLoginForm(pageForm, document.getElementById("token"), document.getElementById("login-error"));
  document.getElementById("token").focus();
}
