// The staff page at /checkin/: log in with a staff account, then scan tickets. The camera reads QR
// codes through the browser's BarcodeDetector where there is one; the text box always works (typed,
// pasted, or a USB scanner that types the code and Enter). Each answer fills the screen in green,
// amber or red.

import { api } from "./lib/api.js";
import { h, show } from "./lib/dom.js";
import { forgetTokens, loggedIn, refreshToken } from "./lib/session.js";
import { loginForm } from "./lib/login.js";
import { repeatFilter, verdict } from "./lib/tickets.js";

const app = document.getElementById("app");
const nav = document.getElementById("nav");
const timeOf = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "an earlier scan");
let stopCamera = () => {};

function loginScreen() {
  stopCamera();
  nav.replaceChildren();
  const form = loginForm("Staff log in", async () => {
    const me = await api("GET", "/api/users/me");
    if (!me.ok || me.data.role !== "STAFF") {
      forgetTokens();
      return show("Only staff accounts can check tickets in.");
    }
    show("");
    return scanScreen();
  });
  app.replaceChildren(h("h1", {}, "Staff log in"), h("div", { class: "card" }, form));
}

async function logout() {
  await api("POST", "/api/auth/logout", { body: { refresh: refreshToken() } });
  forgetTokens();
  loginScreen();
}

async function startCamera(video, onCode) {
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices?.getUserMedia) return false;
  const formats = await window.BarcodeDetector.getSupportedFormats().catch(() => []);
  if (!formats.includes("qr_code")) return false;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch {
    return false;
  }
  const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  video.srcObject = stream;
  await video.play();
  let running = true;
  const tick = async () => {
    if (!running) return;
    const found = await detector.detect(video).catch(() => []);
    if (found.length) await onCode(found[0].rawValue);
    setTimeout(tick, 200);
  };
  tick();
  stopCamera = () => {
    running = false;
    stream.getTracks().forEach((track) => track.stop());
  };
  return true;
}

function scanScreen() {
  nav.replaceChildren(h("button", { type: "button", onclick: logout }, "Log out"));
  const result = h("section", { id: "verdict", class: "verdict grey", "aria-live": "assertive" },
    h("p", { class: "verdict-headline" }, "Ready"), h("p", { class: "verdict-detail" }, "Scan a ticket."));
  const input = h("input", { name: "code", autocomplete: "off", autocapitalize: "off", spellcheck: "false", required: true });
  const form = h("form", { class: "scan-form", "aria-label": "Check a ticket in" },
    h("label", {}, "Ticket code", input), h("button", { type: "submit" }, "Check in"));
  const video = h("video", { class: "camera", muted: true, playsinline: true, hidden: true });
  const fresh = repeatFilter(3000);
  let busy = false;

  // A typed or pasted code is always a scan; the camera's repeats of one code are not.
  const checkIn = async (code) => {
    if (busy) return;
    busy = true;
    const answer = await api("POST", "/api/checkin", { body: { code } });
    busy = false;
    if (answer.status === 401) return loginScreen();
    const shown = verdict(answer, timeOf);
    result.className = `verdict ${shown.tone}`;
    result.replaceChildren(h("p", { class: "verdict-headline" }, shown.headline), h("p", { class: "verdict-detail" }, shown.detail));
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = input.value.trim();
    input.value = "";
    await checkIn(code);
    input.focus();
  });
  app.replaceChildren(result, h("div", { class: "card" }, video, form,
    h("p", { class: "muted", id: "camera-state" }, "Looking for a camera…")));
  input.focus();
  startCamera(video, (code) => (fresh(code) ? checkIn(code) : undefined)).then((on) => {
    video.hidden = !on;
    document.getElementById("camera-state").textContent = on
      ? "Hold the QR code in front of the camera, or type the code."
      : "No camera scanning in this browser: type or paste the code, or use a scanner that types it.";
  });
}

if (loggedIn()) scanScreen();
else loginScreen();
