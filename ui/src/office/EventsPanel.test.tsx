// The Events tab renders what lbs-console-core says of each entry: its words, its tone, and the
// kinds to filter by.

import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import { ApiContext } from "../api/context";
import type { EventKind } from "../generated/EventKind";
import type { OfficeEvent } from "../generated/OfficeEvent";
import { BACKUP_ENTRY, ENTRY, fakeApi, machine, overviewOf } from "../test/fakeApi";
import { EventsPanel } from "./EventsPanel";

function entry(id: number, server: string, kind: EventKind, label: string, warning: boolean, message: string): OfficeEvent {
  return {
    server,
    event: { id, at_unix: 1_700_000_000 + id, server_id: server, kind, role: "primary", epoch: 1, actor: "the agent", reason: null, message },
    label,
    warning,
  };
}

describe("events", () => {
  it("shows each entry in lbs-console-core's words and tone, and filters by kind", async () => {
    const events = [
      entry(2, "Backup", "refused", "Request refused", true, "switchover refused: the hold"),
      entry(1, "Main office", "other", "Other event", false, "something a newer agent did"),
    ];
    const api = fakeApi({ officeEvents: () => Promise.resolve({ events, unreadable: [] }) });
    const office = overviewOf([machine(ENTRY, "primary"), machine(BACKUP_ENTRY, "backup")]).offices[0]!;
    render(
      <ApiContext value={api}>
        <EventsPanel office={office} />
      </ApiContext>,
    );
    const rows = await screen.findAllByTestId("event-row");
    expect(rows.map((r) => r.dataset.kind)).toEqual(["refused", "other"]);
    const refused = within(rows[0]!).getByText("Request refused");
    expect(refused.className).toBe("tone-warn");
    expect(within(rows[1]!).getByText("Other event").className).toBe("");
    const kinds = screen.getByTestId("events-kind");
    expect(within(kinds).getAllByRole("option").map((o) => o.textContent)).toEqual(["Everything", "Other event", "Request refused"]);
    fireEvent.change(kinds, { target: { value: "refused" } });
    expect(screen.getAllByTestId("event-row").map((r) => r.dataset.kind)).toEqual(["refused"]);
  });
});
