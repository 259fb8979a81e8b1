// Maintenance on the office view: the dialog asks how long, why and who, and refuses to start
// without a reason or a length within the agents' limits (from lbs-console-core's offer); the
// note shows lbs-console-core's sentence and ends it; the answer (the partner told or not) is
// shown in its words; a refusal keeps the dialog open.

import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";

vi.mock("uplot", () => import("../test/fakeUplot"));

import { ApiContext } from "../api/context";
import type { Commands } from "../api/commands";
import { CommandError } from "../api/errors";
import type { OfficeView as Office } from "../generated/OfficeView";
import { BACKUP_ENTRY, ENTRY, fakeApi, machine, overviewOf } from "../test/fakeApi";
import { customHours, customLength } from "./Maintenance";
import { OfficeView } from "./OfficeView";

function office(on = false): Office {
  const o = overviewOf([machine(ENTRY, "primary"), machine(BACKUP_ENTRY, "backup")]).offices[0]!;
  if (!on) return o;
  return {
    ...o,
    maintenance: {
      setting: { until_unix: 1_700_005_400, reason: "replacing the disk", set_by: "Sam", set_at_unix: 1_700_000_000 },
      sentence: "Maintenance until 14:30 — Sam: replacing the disk.",
      detail: "Alerts about the work are held and nothing happens automatically; the copy keeps running.",
    },
  };
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

function show(api: Commands, o: Office) {
  return render(view(api, o));
}

describe("maintenance", () => {
  it("starts only with a length and a reason, and says what the agents answered", async () => {
    const api = fakeApi({
      maintenanceStart: () =>
        Promise.resolve({
          maintenance: null,
          message: "Maintenance is on for Main office until 16:00; Backup did not answer and will learn it when it does.",
          partner_not_told: true,
        }),
    });
    show(api, office());
    fireEvent.click(screen.getByTestId("start-maintenance"));
    const start = screen.getByTestId("maintenance-start");
    expect(start).toHaveProperty("disabled", true);
    expect(screen.getByTestId("maintenance-missing").textContent).toContain("Say why");
    expect(screen.getByTestId<HTMLInputElement>("maintenance-by").value).toBe("sam");

    fireEvent.change(screen.getByTestId("maintenance-reason"), { target: { value: "  replacing the disk " } });
    fireEvent.click(screen.getAllByTestId("maintenance-length")[2]!);
    expect(start).toHaveProperty("disabled", false);
    // "Another length" needs a number of hours.
    fireEvent.click(screen.getByTestId("maintenance-length-custom"));
    expect(start).toHaveProperty("disabled", true);
    fireEvent.change(screen.getByTestId("maintenance-hours"), { target: { value: "1,5" } });
    fireEvent.click(start);
    await waitFor(() =>
      expect(api.maintenanceStart).toHaveBeenCalledWith("office-1", { kind: "for", secs: 5400 }, "replacing the disk", "sam"),
    );
    const result = await screen.findByTestId("maintenance-result");
    expect(result.textContent).toContain("Backup did not answer");
    expect(result.className).toContain("warn");
    expect(screen.queryByTestId("maintenance-dialog")).toBeNull();
  });

  it("keeps the dialog open with the agent's reason when it refuses", async () => {
    const api = fakeApi({
      maintenanceStart: () =>
        Promise.reject(new CommandError("refused", "Main office refused: the reason must be one line of text")),
    });
    show(api, office());
    fireEvent.click(screen.getByTestId("start-maintenance"));
    fireEvent.change(screen.getByTestId("maintenance-reason"), { target: { value: "disk" } });
    fireEvent.click(screen.getByTestId("maintenance-length-custom"));
    fireEvent.change(screen.getByTestId("maintenance-hours"), { target: { value: "3" } });
    fireEvent.click(screen.getByTestId("maintenance-start"));
    expect((await screen.findByTestId("maintenance-error")).textContent).toContain("one line of text");
    expect(screen.getByTestId("maintenance-dialog")).toBeTruthy();
  });

  it("checks another length against the agents' limits before asking them", () => {
    const api = fakeApi();
    show(api, office());
    fireEvent.click(screen.getByTestId("start-maintenance"));
    fireEvent.change(screen.getByTestId("maintenance-reason"), { target: { value: "disk" } });
    fireEvent.click(screen.getByTestId("maintenance-length-custom"));
    const start = screen.getByTestId("maintenance-start");
    for (const refused of ["30", "0.01", "24.1"]) {
      fireEvent.change(screen.getByTestId("maintenance-hours"), { target: { value: refused } });
      expect(start).toHaveProperty("disabled", true);
      expect(screen.getByTestId("maintenance-missing").textContent).toBe(
        "Type a number of hours: a maintenance lasts from 1 minute to 24 hours.",
      );
    }
    fireEvent.change(screen.getByTestId("maintenance-hours"), { target: { value: "24" } });
    expect(start).toHaveProperty("disabled", false);
    fireEvent.click(start);
    expect(api.maintenanceStart).toHaveBeenCalledWith("office-1", { kind: "for", secs: 86400 }, "disk", "sam");
  });

  it("sends the end of the day as such, to be counted when it arrives", async () => {
    const api = fakeApi({
      maintenanceStart: () => Promise.resolve({ maintenance: null, message: "Maintenance is on.", partner_not_told: false }),
    });
    const o = office();
    const endOfDay = { label: "Until the end of the day (23:59)", length: { kind: "end_of_day" as const } };
    show(api, { ...o, maintenance_offer: { ...o.maintenance_offer, choices: [...o.maintenance_offer.choices, endOfDay] } });
    fireEvent.click(screen.getByTestId("start-maintenance"));
    fireEvent.change(screen.getByTestId("maintenance-reason"), { target: { value: "disk" } });
    fireEvent.click(screen.getByLabelText("Until the end of the day (23:59)"));
    fireEvent.click(screen.getByTestId("maintenance-start"));
    await waitFor(() => expect(api.maintenanceStart).toHaveBeenCalledWith("office-1", { kind: "end_of_day" }, "disk", "sam"));
  });

  it("shows the sentence while it is on and ends it", async () => {
    const api = fakeApi({
      maintenanceEnd: () =>
        Promise.resolve({ maintenance: null, message: "Maintenance ended for Main office and Backup.", partner_not_told: false }),
    });
    const { rerender } = show(api, office(true));
    expect(screen.getByTestId("maintenance-sentence").textContent).toBe("Maintenance until 14:30 — Sam: replacing the disk.");
    expect(screen.queryByTestId("start-maintenance")).toBeNull();
    fireEvent.click(screen.getByTestId("end-maintenance"));
    await waitFor(() => expect(api.maintenanceEnd).toHaveBeenCalledWith("office-1", "sam"));
    // The answer shows once the office is seen as it left it: maintenance over.
    expect(screen.queryByTestId("maintenance-result")).toBeNull();
    rerender(view(api, office()));
    expect((await screen.findByTestId("maintenance-result")).textContent).toBe("Maintenance ended for Main office and Backup.");
    expect(screen.queryByTestId("maintenance-note")).toBeNull();
    // A maintenance set at a box since makes that answer old news.
    rerender(view(api, office(true)));
    expect(screen.queryByTestId("maintenance-result")).toBeNull();
  });

  it("cannot be started when lbs-console-core says why not", () => {
    const o = office();
    show(fakeApi(), { ...o, maintenance_offer: { ...o.maintenance_offer, through: null, blocked: "Neither server answers." } });
    const button = screen.getByTestId("start-maintenance");
    expect(button).toHaveProperty("disabled", true);
    expect(button.getAttribute("title")).toBe("Neither server answers.");
  });

  it("reads a number of hours as people type it", () => {
    expect(customHours("3")).toBe(10800);
    expect(customHours(" 0.5 ")).toBe(1800);
    expect(customHours("1,5")).toBe(5400);
    expect(customHours("")).toBeNull();
    expect(customHours("soon")).toBeNull();
    expect(customHours("-2")).toBeNull();
    const offer = office().maintenance_offer;
    expect(customLength("0.5", offer)).toEqual({ kind: "for", secs: 1800 });
    expect(customLength("0.01", offer)).toBeNull();
    expect(customLength("25", offer)).toBeNull();
  });
});
