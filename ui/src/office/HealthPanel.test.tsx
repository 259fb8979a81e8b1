// The Health tab: the two machines side by side, the primary on the left, what differs first —
// each difference with what it breaks and what to do — and a part that could not be read said
// as such, never guessed.

import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import { ApiContext } from "../api/context";
import { mockHealth } from "../api/mockHealth";
import type { Difference } from "../generated/Difference";
import type { OfficeHealth } from "../generated/OfficeHealth";
import { BACKUP_ENTRY, ENTRY, fakeApi, machine, overviewOf } from "../test/fakeApi";
import { HealthPanel } from "./HealthPanel";
import { markedAreas, summary } from "./health";

const NOW = 1_700_000_000;

function pair(differences: Difference[]): OfficeHealth {
  // The backup answers: its own machine is `this`, the primary its partner.
  const h = mockHealth(
    [
      { id: "b", name: "PBX B", role: "backup" },
      { id: "a", name: "PBX A", role: "primary" },
    ],
    NOW,
  );
  if (!h.health?.partner) throw new Error("two machines");
  h.health.this.telephony = { cards: { state: "read", value: [] }, spans: { state: "read", value: [] }, dahdi_loaded: false };
  h.health.this.disks = { state: "unavailable", reason: "lsblk is not installed" };
  h.health.differences = differences;
  h.health.counts = {
    critical: differences.filter((d) => d.severity === "critical").length,
    warning: differences.filter((d) => d.severity === "warning").length,
    info: differences.filter((d) => d.severity === "info").length,
  };
  return h;
}

const NO_PRI: Difference = {
  severity: "critical",
  area: "telephony",
  code: "telephony_card_missing",
  server_id: "b",
  subject: "No PRI card on PBX B",
  message: "PBX B has no PRI card (PBX A has a Digium TE420): calls on the PRI lines stop after a failover.",
  fix: "Fit the same card in PBX B and set up DAHDI there.",
};

const KERNEL: Difference = {
  severity: "info",
  area: "system",
  code: "kernel_differs",
  server_id: null,
  subject: "Different kernels",
  message: "The two servers run different Linux kernels.",
  fix: "Nothing to do.",
};

function show(answer: OfficeHealth) {
  const api = fakeApi({ officeHealth: () => Promise.resolve(answer) });
  const office = overviewOf([machine(ENTRY, "primary"), machine(BACKUP_ENTRY, "backup")]).offices[0]!;
  render(
    <ApiContext value={api}>
      <HealthPanel office={office} />
    </ApiContext>,
  );
}

describe("the Health tab", () => {
  it("puts what breaks after a failover first, and its row on top, the primary on the left", async () => {
    show(pair([NO_PRI, KERNEL]));
    const said = await screen.findByTestId("health-summary");
    expect(said.textContent).toBe("1 problem would break something, now or after a failover to PBX B: see below what to do.");
    expect(said.dataset.tone).toBe("bad");
    const diffs = screen.getAllByTestId("health-difference");
    expect(diffs.map((d) => d.dataset.code)).toEqual(["telephony_card_missing", "kernel_differs"]);
    expect(within(diffs[0]!).getByText("Will break")).toBeTruthy();
    expect(diffs[0]!.textContent).toContain("What to do: Fit the same card in PBX B");
    // The subject names the box already: not again.
    expect(diffs[0]!.textContent).not.toContain("(PBX B)");
    expect(within(diffs[1]!).queryByText("(PBX B)")).toBeNull();
    const rows = screen.getAllByTestId("health-row");
    expect(rows.map((r) => r.dataset.area).slice(0, 2)).toEqual(["telephony", "system"]);
    expect(rows[0]!.dataset.marked).toBe("critical");
    const heads = within(screen.getByTestId("health-table")).getAllByRole("columnheader");
    expect(heads.map((h) => h.textContent)).toEqual(["Part", "PBX A Primary", "PBX B Backup"]);
    const cells = within(rows[0]!).getAllByRole("cell");
    expect(cells[0]!.textContent).toContain("PRI card: Digium, Inc. Wildcard TE420");
    expect(cells[1]!.textContent).toBe("No telephony card");
    const disks = within(rows.find((r) => r.dataset.area === "disks")!).getAllByRole("cell");
    expect(disks[0]!.textContent).toBe("Samsung SSD 870 EVO 500GB, 466 GB SSD: healthy");
    expect(disks[1]!.textContent).toBe("Not known: lsblk is not installed");
  });

  it("says so when the two servers match", async () => {
    const h = mockHealth(
      [
        { id: "a", name: "PBX A", role: "primary" },
        { id: "b", name: "PBX B", role: "backup" },
      ],
      NOW,
    );
    show(h);
    const said = await screen.findByTestId("health-summary");
    expect(said.textContent).toBe("The two servers match: PBX B can take over the phones as they are.");
    expect(screen.queryAllByTestId("health-difference")).toHaveLength(0);
  });

  it("says which server could not be asked, and when none answers", async () => {
    show({ health: null, from: null, unreadable: ["PBX A: does not answer", "PBX B: does not answer"] });
    const box = await screen.findByTestId("health-error");
    expect(box.textContent).toContain("No server answered");
    expect(box.textContent).toContain("PBX B: does not answer");
  });
});

describe("health words", () => {
  it("marks each area with its worst difference", () => {
    const marks = markedAreas([KERNEL, NO_PRI, { ...NO_PRI, severity: "warning" }]);
    expect(marks.get("telephony")).toBe("critical");
    expect(marks.get("system")).toBe("info");
    expect(marks.get("cpu")).toBeUndefined();
  });

  it("sums up warnings, and one machine alone", () => {
    expect(summary({ critical: 0, warning: 2, info: 1 }, "PBX B", true)).toEqual({
      text: "2 problems may make PBX B work worse after a failover.",
      tone: "warn",
    });
    expect(summary({ critical: 0, warning: 0, info: 0 }, "PBX B", false).text).toBe("Only one server's details are known yet.");
  });
});
