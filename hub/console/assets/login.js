// The login page: the cluster token goes to POST /api/login once and is
// dropped (the form field is emptied; nothing is stored). The hub answers
// with an HttpOnly session cookie and the CSRF token (kept by api.js).

import * as api from "./api.js";
import { clear, el } from "./ui.js";

export function loginPage(main, onDone) {
  clear(main);
  document.title = "Log in · Skyport console";
  const input = el("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true,
                              spellcheck: "false", "aria-describedby": "login-help" });
  const message = el("p", { id: "login-error", class: "error-text", role: "alert" });
  const button = el("button", { type: "submit", id: "login-submit" }, "Log in");
  const form = el("form", { id: "login-form", class: "card narrow" },
    el("h1", {}, "Log in"),
    el("p", { id: "login-help", class: "muted" },
      "The cluster token (the file the daemons read with --token-file). It is sent once; the browser keeps only an HttpOnly session cookie."),
    el("label", { for: "token" }, "Cluster token"), input, message,
    el("div", { class: "actions" }, button));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    message.textContent = "";
    button.disabled = true;
    const token = input.value;
    input.value = "";
    try {
      await api.login(token);
      await onDone();
    } catch (e) {
      message.textContent = e.status === 401 ? `Refused: ${e.message}` : e.message;
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  main.append(form);
  input.focus();
}
