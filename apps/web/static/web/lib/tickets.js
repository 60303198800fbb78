// Tickets and the door, without the DOM (node's test runner runs these): what a ticket is called, and
// what a scan's answer means for the person at the door.

import { seatLabel } from "./seats.js";

export const ticketTitle = (ticket) => `${seatLabel(ticket.seat)} · ticket #${ticket.id}`;

export const STATUS_WORDS = { VALID: "Valid", CHECKED_IN: "Checked in", VOID: "Void" };

// POST /api/checkin's answer → what the door shows: `tone` green (let in), amber (already in: look at
// the time), red (turn away), or grey (the scan did not get an answer: scan again).
export function verdict(result, formatTime) {
  if (result.ok) {
    return { tone: "green", headline: "Welcome in", detail: seatLabel(result.data.seat), ticketId: result.data.ticket_id };
  }
  const error = result.error || {};
  switch (error.code) {
    case "ALREADY_CHECKED_IN":
      return { tone: "amber", headline: "Already in", detail: `Checked in at ${formatTime(error.details?.checked_in_at)}` };
    case "TICKET_VOID":
      return { tone: "red", headline: "Void ticket", detail: "The booking was cancelled or refunded." };
    case "INVALID_TICKET":
    case "VALIDATION_ERROR":
      return { tone: "red", headline: "Not a valid ticket", detail: "Forged, damaged or not one of ours." };
    case "PERMISSION_DENIED":
      return { tone: "grey", headline: "Staff only", detail: "Log in with a staff account to check tickets in." };
    case "NOT_AUTHENTICATED":
      return { tone: "grey", headline: "Logged out", detail: "Log in again to go on scanning." };
    default:
      return { tone: "grey", headline: "No answer", detail: "Nothing was recorded. Scan the ticket again." };
  }
}

// A camera sees the same code many times a second: the same code again within `windowMs` is the same
// scan, not a second one.
export function repeatFilter(windowMs, now = () => Date.now()) {
  let last = null;
  let at = 0;
  return (code) => {
    const t = now();
    if (code === last && t - at < windowMs) return false;
    last = code;
    at = t;
    return true;
  };
}
