// Automatic failover on the office view: the line shows lbs-console-core's sentence and what to
// do; the vote's members stay folded while all is well and open when one is out of reach; a pair
// not set up gets the contractor's steps instead of a switch; the dialog explains what automatic
// failover does, needs a reason to switch it off, sends exactly what was typed, and keeps a
// refusal in view.

import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";

vi.mock("uplot", () => import("../test/fakeUplot"));

import { ApiContext } from "../api/context";
import type { Commands } from "../api/commands";
import { CommandError } from "../api/errors";
import type { AutopilotOffer } from "../generated/AutopilotOffer";
import type { AutopilotView } from "../generated/AutopilotView";
import type { OfficeView as Office } from "../generated/OfficeView";
import type { VoteView } from "../generated/VoteView";
import { BACKUP_ENTRY, ENTRY, NOT_SET_UP, fakeApi, machine, overviewOf } from "../test/fakeApi";
import { OfficeView } from "./OfficeView";

const OFFER: AutopilotOffer = {
  on: true,
  label: "Switch off…",
  through: ENTRY.id,
  blocked: null,
  explanation: [
    "When Main office goes silent, Backup waits about 10 s, then makes itself the primary.",
    "It never switches back by itself: a repaired Main office rejoins as the backup.",
  ],
  not_armed_yet: null,
  by: "sam",
};

function vote(witness: boolean): VoteView {
  const sight = (ok: boolean) => ({ reachable: ok, text: ok ? "Answers" : "Out of reach since 10:42: connection refused" });
  return {
    summary: witness ? "Every member of the vote answers Main office and Backup." : "The witness is out of reach of Main office and Backup.",
    trouble: !witness,
    seen_from: ["Main office", "Backup"],
    members: [
      { name: "Main office", endpoint: "https://192.0.2.10:2379", sights: [sight(true), sight(true)] },
      { name: "Backup", endpoint: "https://192.0.2.11:2379", sights: [sight(true), sight(true)] },
      { name: "Witness", endpoint: "https://192.0.2.5:2379", sights: [sight(witness), sight(witness)] },
    ],
  };
}

const ON: AutopilotView = {
  level: "on",
  word: "On",
  headline: "Autopilot: on",
  text: "if Main office fails, Backup takes over by itself (about 10 s).",
  next: null,
  notes: ["On since it was set up (the servers' configuration)."],
  cause: null,
  warnings: [],
  vote: vote(true),
  offer: OFFER,
};

// Two of three members still decide: on autopilot, with what to check.
const WITNESS_LOST: AutopilotView = {
  ...ON,
  next: "The witness has not answered since 10:42: automatic failover still works, but one more lost server would stop it. Check that the witness machine is on and connected.",
  warnings: ["witness_unreachable"],
  vote: vote(false),
};

const NO_VOTE: AutopilotView = {
  ...ON,
  level: "off",
  word: "Off",
  headline: "Autopilot: off since 10:42",
  text: "Backup cannot reach the vote (the witness and Main office): automatic failover is off until it can.",
  next: "If the primary fails meanwhile, fail over from this console with the failover wizard: it works without the autopilot.",
  cause: "no_quorum",
  vote: vote(false),
};

function office(autopilot: AutopilotView): Office {
  const o = overviewOf([machine(ENTRY, "primary"), machine(BACKUP_ENTRY, "backup")]).offices[0]!;
  return { ...o, autopilot };
}

function view(api: Commands, o: Office) {
  return (
    <ApiContext value={api}>
      <OfficeView
        office={o}
        tab="servers"
        onTab={() => {}}
        range="24h"
        onRangeChange={() => {}}
        onStartWizard={() => {}}
        onAddPartner={() => {}}
        onRemoved={() => {}}
      />
    </ApiContext>
  );
}

describe("autopilot", () => {
  it("says the pair is on autopilot, who takes over, and keeps the vote folded while all is well", () => {
    render(view(fakeApi(), office(ON)));
    const line = screen.getByTestId("autopilot");
    expect(line.getAttribute("data-level")).toBe("on");
    expect(screen.getByTestId("autopilot-sentence").textContent).toBe(
      "Autopilot: on — if Main office fails, Backup takes over by itself (about 10 s).",
    );
    expect(screen.queryByTestId("autopilot-next")).toBeNull();
    expect(screen.getByTestId("autopilot-notes").textContent).toContain("On since it was set up");
    const members = screen.getByTestId<HTMLDetailsElement>("autopilot-vote");
    expect(members.open).toBe(false);
    expect(screen.getByTestId("autopilot-vote-summary").textContent).toBe("Every member of the vote answers Main office and Backup.");
    expect(screen.getByTestId("autopilot-switch").textContent).toBe("Switch off…");
  });

  it("stays on with the witness lost, says since when and what to check, and opens the vote on it", () => {
    render(view(fakeApi(), office(WITNESS_LOST)));
    expect(screen.getByTestId("autopilot").getAttribute("data-level")).toBe("on");
    expect(screen.getByTestId("autopilot-sentence").textContent).toBe(
      "Autopilot: on — if Main office fails, Backup takes over by itself (about 10 s).",
    );
    expect(screen.getByTestId("autopilot-next").textContent).toBe(WITNESS_LOST.next);
    const members = screen.getByTestId<HTMLDetailsElement>("autopilot-vote");
    expect(members.open).toBe(true);
    const witness = screen.getAllByTestId("autopilot-member").find((r) => r.getAttribute("data-member") === "Witness")!;
    const cells = within(witness).getAllByRole("cell");
    expect(cells.map((c) => c.textContent)).toEqual([
      "Out of reach since 10:42: connection refused",
      "Out of reach since 10:42: connection refused",
    ]);
    expect(cells[0]?.className).toBe("tone-warn");
  });

  it("says why not and since when when the vote is lost", () => {
    render(view(fakeApi(), office(NO_VOTE)));
    expect(screen.getByTestId("autopilot").getAttribute("data-level")).toBe("off");
    expect(screen.getByTestId("autopilot-sentence").textContent).toBe(
      "Autopilot: off since 10:42 — Backup cannot reach the vote (the witness and Main office): automatic failover is off until it can.",
    );
    expect(screen.getByTestId("autopilot-next").textContent).toContain("fail over from this console with the failover wizard");
    expect(screen.getByTestId<HTMLDetailsElement>("autopilot-vote").open).toBe(true);
  });

  it("tells what the contractor does instead of offering a switch when it is not set up", () => {
    render(view(fakeApi(), office(NOT_SET_UP)));
    expect(screen.getByTestId("autopilot").getAttribute("data-level")).toBe("not_set_up");
    expect(screen.getByTestId("autopilot-next").textContent).toContain("`lbs-agent witness setup` on each server");
    expect(screen.queryByTestId("autopilot-switch")).toBeNull();
    expect(screen.queryByTestId("autopilot-vote")).toBeNull();
  });

  it("shows a stopped primary as an alarm", () => {
    const alarm: AutopilotView = {
      ...NO_VOTE,
      level: "alarm",
      word: "Phones stopped",
      headline: "Main office stopped its phone system at 10:44",
      text: "It could reach neither Backup nor the witness.",
      next: "The phones may be down until Backup takes over.",
    };
    render(view(fakeApi(), office(alarm)));
    expect(screen.getByTestId("autopilot").getAttribute("data-level")).toBe("alarm");
    expect(screen.getByTestId("autopilot-sentence").textContent).toBe(
      "Main office stopped its phone system at 10:44 — It could reach neither Backup nor the witness.",
    );
  });

  it("switches it off only with a reason, after saying what that means, and shows the answer", async () => {
    const api = fakeApi({
      autopilotSet: () =>
        Promise.resolve({
          on: false,
          message: "Automatic failover is off for Main office and Backup. If the primary fails, fail over with the failover wizard.",
          partner_not_told: false,
        }),
    });
    const { rerender } = render(view(api, office(ON)));
    fireEvent.click(screen.getByTestId("autopilot-switch"));
    const dialog = screen.getByTestId("autopilot-dialog");
    expect(dialog.getAttribute("data-on")).toBe("false");
    expect(screen.getByRole("dialog", { name: "Switch automatic failover off for Head office" })).toBeTruthy();
    expect(screen.getByTestId("autopilot-explanation").textContent).toContain("never switches back by itself");
    expect(screen.getByTestId("autopilot-off-warning").textContent).toContain("someone must fail over from this console");
    const send = screen.getByTestId("autopilot-send");
    expect(send).toHaveProperty("disabled", true);
    expect(screen.getByTestId("autopilot-missing").textContent).toContain("Say why");
    expect(screen.getByTestId<HTMLInputElement>("autopilot-by").value).toBe("sam");
    fireEvent.change(screen.getByTestId("autopilot-reason"), { target: { value: "   " } });
    expect(send).toHaveProperty("disabled", true);
    fireEvent.change(screen.getByTestId("autopilot-reason"), { target: { value: " moving the witness " } });
    fireEvent.change(screen.getByTestId("autopilot-by"), { target: { value: " Kim " } });
    fireEvent.click(send);
    await waitFor(() => expect(api.autopilotSet).toHaveBeenCalledWith("office-1", false, "moving the witness", "Kim"));
    await waitFor(() => expect(screen.queryByTestId("autopilot-dialog")).toBeNull());
    // The answer shows once the office is seen as it left it: switched off.
    expect(screen.queryByTestId("autopilot-result")).toBeNull();
    const off: AutopilotView = {
      ...ON,
      level: "off",
      word: "Off",
      headline: "Autopilot: off",
      text: "Kim switched automatic failover off.",
      offer: { ...OFFER, on: false, label: "Switch on…" },
    };
    rerender(view(api, office(off)));
    expect((await screen.findByTestId("autopilot-result")).textContent).toContain("Automatic failover is off for Main office and Backup.");
    expect(screen.getByTestId("autopilot-switch").textContent).toBe("Switch on…");
    // Switched on again at a box since: old news.
    rerender(view(api, office(ON)));
    expect(screen.queryByTestId("autopilot-result")).toBeNull();
  });

  it("switches it on without a reason, warning when it would not be armed at once", async () => {
    const api = fakeApi({
      autopilotSet: () => Promise.resolve({ on: true, message: "Automatic failover is on for Main office and Backup.", partner_not_told: false }),
    });
    const off: AutopilotView = {
      ...NO_VOTE,
      offer: { ...OFFER, on: false, label: "Switch on…", not_armed_yet: "Backup cannot reach the vote." },
    };
    render(view(api, office(off)));
    fireEvent.click(screen.getByTestId("autopilot-switch"));
    expect(screen.getByTestId("autopilot-dialog").getAttribute("data-on")).toBe("true");
    expect(screen.getByTestId("autopilot-not-armed-yet").textContent).toContain("Backup cannot reach the vote.");
    expect(screen.queryByTestId("autopilot-off-warning")).toBeNull();
    const send = screen.getByTestId("autopilot-send");
    expect(send).toHaveProperty("disabled", false);
    fireEvent.click(send);
    await waitFor(() => expect(api.autopilotSet).toHaveBeenCalledWith("office-1", true, null, "sam"));
  });

  it("keeps the dialog open with the refusal in the console's words", async () => {
    const api = fakeApi({
      autopilotSet: () =>
        Promise.reject(
          new CommandError(
            "forbidden",
            "Switching automatic failover needs an administrator's access token; this console's tokens for this office are view-only.",
          ),
        ),
    });
    render(view(api, office(ON)));
    fireEvent.click(screen.getByTestId("autopilot-switch"));
    fireEvent.change(screen.getByTestId("autopilot-reason"), { target: { value: "witness work" } });
    fireEvent.click(screen.getByTestId("autopilot-send"));
    expect((await screen.findByTestId("autopilot-error")).textContent).toContain("needs an administrator's access token");
    expect(screen.getByTestId("autopilot-dialog")).toBeTruthy();
    expect(screen.getByTestId("autopilot-send")).toHaveProperty("disabled", false);
  });

  it("cannot be switched when lbs-console-core says why not", () => {
    const blocked = "Switching automatic failover needs an administrator's access token; this console's tokens for this office are view-only.";
    render(view(fakeApi(), office({ ...ON, offer: { ...OFFER, through: null, blocked } })));
    const button = screen.getByTestId("autopilot-switch");
    expect(button).toHaveProperty("disabled", true);
    expect(screen.getByTestId("autopilot-blocked").textContent).toBe(blocked);
    expect(button.getAttribute("aria-describedby")).toBe(screen.getByTestId("autopilot-blocked").id);
  });
});
