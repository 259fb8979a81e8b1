// Errors from the Rust side as one shape (ConsoleError), whatever the command rejected with.

import type { ConsoleError } from "../generated/ConsoleError";
import type { ErrorKind } from "../generated/ErrorKind";

const KINDS: readonly ErrorKind[] = [
  "unreachable",
  "unauthorized",
  "forbidden",
  "certificate_mismatch",
  "invalid_input",
  "already_added",
  "not_found",
  "keyring",
  "storage",
  "agent",
  "refused",
  "different_file",
  "incompatible",
];

/** A rejected command: an Error (so it can be thrown) that is also a ConsoleError. */
export class CommandError extends Error implements ConsoleError {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string) {
    super(message);
    this.name = "CommandError";
    this.kind = kind;
  }
}

function isErrorKind(value: unknown): value is ErrorKind {
  return typeof value === "string" && (KINDS as readonly string[]).includes(value);
}

/** Normalises anything a command may reject with into a ConsoleError with a sentence to show. */
export function toConsoleError(error: unknown): CommandError {
  if (error instanceof CommandError) return error;
  if (typeof error === "object" && error !== null) {
    const { kind, message } = error as { kind?: unknown; message?: unknown };
    if (isErrorKind(kind) && typeof message === "string") return new CommandError(kind, message);
    if (typeof message === "string" && message) return new CommandError("agent", message);
  }
  if (typeof error === "string" && error) return new CommandError("agent", error);
  return new CommandError("agent", "Something went wrong inside the console. Please try again.");
}
