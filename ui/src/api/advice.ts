// What to tell the office manager for each kind of error: a title and what to do next.

import type { ErrorKind } from "../generated/ErrorKind";

export type Severity = "warning" | "danger";

export interface Advice {
  /** Short heading for a banner. */
  title: string;
  /** What to do; `backticks` mark commands to type on the server. Empty when the message says it all. */
  action: string;
  severity: Severity;
}

/** Advice for a server that stopped answering (the banner on its card). */
export function statusAdvice(kind: ErrorKind): Advice {
  switch (kind) {
    case "unreachable":
      return {
        title: "Cannot reach this server",
        // The message already says what to check; this adds only what the console does meanwhile.
        action: "The console keeps trying every few seconds.",
        severity: "warning",
      };
    case "unauthorized":
      return {
        title: "Access refused",
        action: "",
        severity: "danger",
      };
    case "forbidden":
      return {
        title: "Not allowed",
        action: "This access token may not do this. Ask your IT contractor for an administrator token.",
        severity: "danger",
      };
    case "certificate_mismatch":
      return {
        title: "Warning: this server's identity has changed",
        action: "",
        severity: "danger",
      };
    case "not_found":
      return {
        title: "Server not in the list",
        action: "This server was removed from the console. Add it again if you still want to watch it.",
        severity: "warning",
      };
    case "keyring":
      return {
        title: "Saved access token unavailable",
        action:
          "The console could not read the access token saved on this computer. Restart the console; if this keeps happening, remove the server and add it again.",
        severity: "danger",
      };
    case "storage":
      return {
        title: "The console could not read its saved data",
        action: "Restart the console. If this keeps happening, contact your IT contractor.",
        severity: "danger",
      };
    case "agent":
      return {
        title: "The server reported a problem",
        action: "Retrying every few seconds. If this keeps happening, contact your IT contractor.",
        severity: "warning",
      };
    case "incompatible":
      return { title: "Versions do not match", action: "", severity: "danger" };
    case "refused":
    case "different_file":
      return { title: "The server said no", action: "", severity: "warning" };
    case "invalid_input":
    case "already_added":
      return { title: "Something is not right", action: "", severity: "warning" };
  }
}

/** Short words for the sidebar and the status pill when a server does not answer. */
export function statusWord(kind: ErrorKind): string {
  switch (kind) {
    case "unreachable":
      return "Not reachable";
    case "unauthorized":
    case "forbidden":
      return "Access refused";
    case "certificate_mismatch":
      return "Identity changed";
    case "incompatible":
      return "Needs an upgrade";
    default:
      return "Problem";
  }
}
