// Tests of the command wrappers (names and argument names Tauri expects), errors and advice.

import { beforeEach, describe, expect, it, vi } from "vitest";

const invoke = vi.hoisted(() => vi.fn());
vi.mock("@tauri-apps/api/core", () => ({ invoke }));

import { statusAdvice, statusWord } from "./advice";
import { tauriCommands } from "./commands";
import { CommandError, toConsoleError } from "./errors";

describe("tauriCommands", () => {
  beforeEach(() => {
    invoke.mockReset();
    invoke.mockResolvedValue("ok");
    Object.assign(window, { __TAURI_INTERNALS__: {} });
    return () => {
      delete (window as { __TAURI_INTERNALS__?: unknown }).__TAURI_INTERNALS__;
    };
  });

  it("calls each command with camelCase arguments", async () => {
    await tauriCommands.overview();
    await tauriCommands.addServerLink("lbs://h:1/?fp=x&token=y");
    await tauriCommands.probeServer("h:1");
    await tauriCommands.addServerManual("h:1", "tok", "ff");
    await tauriCommands.removeOffice("o1");
    await tauriCommands.failoverStatus("id1");
    await tauriCommands.metricsSeries("m1");
    await tauriCommands.metricsHistory({ machine: "m1", series: "cpu.usage", from: 1, to: 2, points: 300 });
    await tauriCommands.removeServer("id1");
    await tauriCommands.changeAddress("id1", "h:2");
    await tauriCommands.changeToken("id1", "lbs_x");
    await tauriCommands.forgetFormer("m1");
    await tauriCommands.autopilotSet("o1", false, "moving the witness", null);
    await tauriCommands.saveFile("a.csv", "é,1");
    await tauriCommands.saveFile("a.png", new Uint8Array([137, 80]));
    expect(invoke.mock.calls).toEqual([
      ["overview", undefined],
      ["add_server_link", { link: "lbs://h:1/?fp=x&token=y", office: null }],
      ["probe_server", { address: "h:1" }],
      ["add_server_manual", { address: "h:1", token: "tok", fingerprint: "ff", office: null }],
      ["remove_pair", { pair: "o1" }],
      ["failover_status", { id: "id1" }],
      ["metrics_series", { machine: "m1" }],
      ["metrics_history", { machine: "m1", series: "cpu.usage", from: 1, to: 2, points: 300 }],
      ["remove_server", { id: "id1" }],
      ["change_address", { id: "id1", address: "h:2" }],
      ["change_token", { id: "id1", token: "lbs_x" }],
      ["forget_former", { machine: "m1" }],
      ["autopilot_set", { office: "o1", on: false, reason: "moving the witness", by: null }],
      // Text goes as its UTF-8 bytes, bytes as they are.
      ["save_file", { name: "a.csv", contents: [0xc3, 0xa9, 0x2c, 0x31] }],
      ["save_file", { name: "a.png", contents: [137, 80] }],
    ]);
  });

  it("rejects with a CommandError carrying kind and message", async () => {
    invoke.mockRejectedValueOnce({ kind: "unauthorized", message: "The token was refused." });
    const error: unknown = await tauriCommands.failoverStatus("id1").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect(error).toMatchObject({ kind: "unauthorized", message: "The token was refused." });
  });

  it("explains itself when opened in a plain browser", async () => {
    delete (window as { __TAURI_INTERNALS__?: unknown }).__TAURI_INTERNALS__;
    invoke.mockRejectedValueOnce(new TypeError("window.__TAURI_INTERNALS__ is undefined"));
    const error: unknown = await tauriCommands.overview().catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: "agent" });
    expect((error as Error).message).toMatch(/outside the LBS Console app/);
  });
});

describe("toConsoleError", () => {
  it("keeps a well-formed ConsoleError", () => {
    expect(toConsoleError({ kind: "unreachable", message: "No answer." })).toMatchObject({
      kind: "unreachable",
      message: "No answer.",
    });
  });
  it("keeps a refusal from a server's failover guards as a refusal", () => {
    const refusal = { kind: "refused", message: "PBX B refused: the hold period is not over." };
    expect(toConsoleError(refusal)).toMatchObject(refusal);
  });
  it("wraps strings and unknown shapes", () => {
    expect(toConsoleError("command not found")).toMatchObject({ kind: "agent", message: "command not found" });
    expect(toConsoleError({ kind: "bogus", message: "Odd." })).toMatchObject({ kind: "agent", message: "Odd." });
    expect(toConsoleError(undefined).message).toMatch(/went wrong/);
  });
});

describe("statusAdvice", () => {
  it("tells what to do for each connection problem", () => {
    // The Rust message says what went wrong and what to do; the advice adds only what it lacks.
    expect(statusAdvice("unreachable").action).toBe("The console keeps trying every few seconds.");
    expect(statusAdvice("unauthorized").severity).toBe("danger");
    const mismatch = statusAdvice("certificate_mismatch");
    expect(mismatch.severity).toBe("danger");
    expect(mismatch.title).toMatch(/identity has changed/);
    expect(statusAdvice("unreachable").severity).toBe("warning");
  });

  it("has words for the sidebar", () => {
    expect(statusWord("unreachable")).toBe("Not reachable");
    expect(statusWord("certificate_mismatch")).toBe("Identity changed");
  });
});
