// /signin and /signup (one page; the path picks the form). After success, go
// to ?next= (a path on this site) or home.

import { api, ApiError } from "../api";
import { byId } from "../dom";
import { signedInAs } from "../offline";

const signingUp = location.pathname.replace(/\/+$/, "") === "/signup";
const form = byId<HTMLFormElement>("auth-form");
const username = byId<HTMLInputElement>("username");
const password = byId<HTMLInputElement>("password");
const errorBox = byId<HTMLElement>("auth-error");
const submit = byId<HTMLButtonElement>("auth-submit");
const switcher = byId<HTMLElement>("auth-switch");

/** Only paths on this site: never send people elsewhere after signing in. */
function nextPath(): string {
  const next = new URLSearchParams(location.search).get("next") ?? "/";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

function otherPage(path: string): string {
  const next = new URLSearchParams(location.search).get("next");
  return next ? `${path}?next=${encodeURIComponent(next)}` : path;
}

const title = signingUp ? "Create an account" : "Sign in";
document.title = `${title} · Coedit`;
byId<HTMLElement>("auth-title").textContent = title;
submit.textContent = signingUp ? "Create account" : "Sign in";
password.autocomplete = signingUp ? "new-password" : "current-password";
byId<HTMLElement>("password-hint").hidden = !signingUp;
const link = document.createElement("a");
link.href = otherPage(signingUp ? "/signin" : "/signup");
link.textContent = signingUp ? "Sign in" : "Create an account";
switcher.append(signingUp ? "Already have an account? " : "New here? ", link);

function showError(text: string): void {
  errorBox.textContent = text;
  errorBox.hidden = !text;
}

const MESSAGES: Record<number, string> = {
  401: "Wrong username or password.",
  409: "That username is taken. Choose another one.",
  429: "Too many attempts. Wait a few minutes, then try again.",
};

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = username.value.trim();
  if (!name || !password.value) {
    showError("Enter a username and a password.");
    (name ? password : username).focus();
    return;
  }
  submit.disabled = true;
  showError("");
  try {
    await api(signingUp ? "/api/auth/signup" : "/api/auth/signin", {
      method: "POST",
      body: { username: name, password: password.value },
    });
    signedInAs(name);
    location.href = nextPath();
  } catch (err) {
    let text = "Something went wrong. Try again.";
    if (err instanceof ApiError) {
      if (err.network) text = "The server can't be reached. Try again in a moment.";
      else if (err.status === 400) text = err.message.charAt(0).toUpperCase() + err.message.slice(1) + ".";
      else text = MESSAGES[err.status] ?? err.message;
    }
    showError(text);
    submit.disabled = false;
    password.select();
  }
});

username.focus();
