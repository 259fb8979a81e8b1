// The Sync tab's "Deleted files" card against a fake command module: the backup's trash listed
// in words, "Put back", the replace offered only when the primary holds a different file, the
// empty state, view-only tokens, the primary's own trash, and the Replace of a set-aside file.

import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";

vi.mock("uplot", () => import("../test/fakeUplot"));

import { ApiContext } from "../api/context";
import { CommandError } from "../api/errors";
import type { Commands } from "../api/commands";
import type { TrashEntry } from "../generated/TrashEntry";
import type { TrashList } from "../generated/TrashList";
import { BACKUP_ENTRY, ENTRY, fakeApi, machine, overviewOf } from "../test/fakeApi";
import { SyncPanel } from "./SyncPanel";

const DAY = 86400;
const now = () => Math.floor(Date.now() / 1000);

function entry(path: string, daysAgo: number): TrashEntry {
  const deleted = now() - daysAgo * DAY;
  return {
    category: "voicemail",
    source: "voicemail:0",
    path,
    stored: path,
    size: 2048,
    deleted_unix: deleted,
    expires_unix: deleted + 30 * DAY,
  };
}

function trash(entries: TrashEntry[]): TrashList {
  return { entries, total_files: entries.length, total_bytes: 2048 * entries.length, retention_secs: 30 * DAY, unreadable: [] };
}

/** The backup's trash holds `entries`; the primary's own is empty. */
function backupTrash(entries: TrashEntry[]): Commands["trashList"] {
  return (id) => Promise.resolve(trash(id === BACKUP_ENTRY.id ? entries : []));
}

function renderSync(api: Commands, backupAccess: "admin" | "viewer" = "admin") {
  const restoreBlocked =
    backupAccess === "viewer"
      ? "The access token for Backup is view-only: it can see the files but not restore them."
      : undefined;
  const office = overviewOf([
    machine(ENTRY, "primary"),
    machine(BACKUP_ENTRY, "backup", { access: backupAccess, restoreBlocked }),
  ]).offices[0]!;
  return render(
    <ApiContext value={api}>
      <SyncPanel office={office} />
    </ApiContext>,
  );
}

describe("deleted files", () => {
  it("lists the backup's trash in words and puts a file back on the primary", async () => {
    const msg = entry("default/1001/INBOX/msg0004.wav", 3);
    const api = fakeApi({
      trashList: backupTrash([msg, entry("default/1002/INBOX/msg0001.wav", 1)]),
      restoreTrash: (_id, e) => Promise.resolve({ path: e.path, message: `${e.path} was restored on Main office` }),
    });
    renderSync(api);
    const card = await screen.findByTestId("trash");
    expect(within(card).getByRole("heading").textContent).toBe("Deleted files (kept 30 days)");
    const rows = await within(card).findAllByTestId("trash-row");
    expect(rows.map((r) => r.getAttribute("data-path"))).toEqual([
      "default/1001/INBOX/msg0004.wav",
      "default/1002/INBOX/msg0001.wav",
    ]);
    expect(rows[0]!.textContent).toContain("Deleted on the primary 3 days ago");
    expect(api.trashList).toHaveBeenCalledWith(BACKUP_ENTRY.id);

    fireEvent.click(within(rows[0]!).getByTestId("trash-restore"));
    expect((await within(card).findByRole("status")).textContent).toMatch(
      /msg0004\.wav is back on Main office\. It will be copied to Backup again/,
    );
    expect(api.restoreTrash).toHaveBeenCalledWith(BACKUP_ENTRY.id, msg, false);
    expect(within(rows[0]!).queryByTestId("trash-restore")).toBeNull();
    expect(within(rows[1]!).getByTestId("trash-restore")).toBeTruthy();
  });

  it("offers to replace the primary's copy only when the primary holds a different file", async () => {
    const msg = entry("default/1001/INBOX/msg0004.wav", 2);
    const restoreTrash = vi.fn<Commands["restoreTrash"]>((_id, e, replace) =>
      replace
        ? Promise.resolve({ path: e.path, message: "restored" })
        : Promise.reject(new CommandError("different_file", 'Backup refused: a different file is there; restore with "replace"')),
    );
    const api = fakeApi({ trashList: backupTrash([msg]), restoreTrash });
    renderSync(api);
    const card = await screen.findByTestId("trash");
    fireEvent.click(await within(card).findByTestId("trash-restore"));
    expect((await within(card).findByRole("alert")).textContent).toContain("a different file is there");
    fireEvent.click(within(card).getByTestId("trash-replace"));
    await within(card).findByRole("status");
    expect(restoreTrash).toHaveBeenLastCalledWith(BACKUP_ENTRY.id, msg, true);

    // A primary that does not answer is said so, with no "replace" to offer.
    const down = fakeApi({
      trashList: backupTrash([msg]),
      restoreTrash: () => Promise.reject(new CommandError("refused", "Backup refused: the primary must take the file back and it did not")),
    });
    renderSync(down);
    const cards = await screen.findAllByTestId("trash");
    const second = cards[cards.length - 1]!;
    fireEvent.click(await within(second).findByTestId("trash-restore"));
    expect((await within(second).findByRole("alert")).textContent).toContain("did not");
    expect(within(second).queryByTestId("trash-replace")).toBeNull();
  });

  it("lists what the primary keeps in its own trash and puts it back there; a replace shows up in that list", async () => {
    const deleted = entry("default/1001/INBOX/msg0004.wav", 2);
    const displaced = { ...entry("default/1001/INBOX/msg0004.wav", 0), size: 4096 };
    let primaryTrash: TrashEntry[] = [];
    const trashList = vi.fn<Commands["trashList"]>((id) =>
      Promise.resolve(trash(id === ENTRY.id ? primaryTrash : [deleted])),
    );
    const restoreTrash = vi.fn<Commands["restoreTrash"]>((id, e, replace) => {
      if (id === BACKUP_ENTRY.id && replace) primaryTrash = [displaced];
      return Promise.resolve({ path: e.path, message: "restored" });
    });
    renderSync(fakeApi({ trashList, restoreTrash }));
    const card = await screen.findByTestId("trash");
    await within(card).findByTestId("trash-row");
    await waitFor(() => expect(trashList).toHaveBeenCalledWith(ENTRY.id));
    // Nothing set aside on the primary: no section for it.
    expect(within(card).queryByTestId("trash-primary-files")).toBeNull();

    // Replacing the primary's copy sets that copy aside on the primary, where it is listed.
    restoreTrash.mockImplementationOnce(() =>
      Promise.reject(new CommandError("different_file", "a different file is there")),
    );
    fireEvent.click(within(card).getByTestId("trash-restore"));
    fireEvent.click(await within(card).findByTestId("trash-replace"));
    const section = await within(card).findByTestId("trash-primary-files");
    expect(within(section).getByRole("heading").textContent).toBe("Also kept on Main office");
    const row = within(section).getByTestId("trash-primary-row");
    expect(row.textContent).toContain("Replaced or deleted just now");

    // Putting it back goes to the primary's own trash, on the primary.
    fireEvent.click(within(row).getByTestId("trash-primary-restore"));
    expect((await within(section).findByRole("status")).textContent).toMatch(/msg0004\.wav is back on Main office/);
    expect(restoreTrash).toHaveBeenLastCalledWith(ENTRY.id, displaced, false);
  });

  it("after a failover, never shows one box's files under the other's name", async () => {
    const msg = entry("default/1001/INBOX/msg0004.wav", 1);
    // The old backup answers; the new one (the old primary) has not answered yet.
    const trashList = vi.fn<Commands["trashList"]>((id) =>
      id === BACKUP_ENTRY.id ? Promise.resolve(trash([msg])) : new Promise<TrashList>(() => {}),
    );
    const api = fakeApi({ trashList });
    const office = (primary: typeof ENTRY, backup: typeof ENTRY) =>
      overviewOf([machine(primary, "primary"), machine(backup, "backup")]).offices[0]!;
    const view = render(
      <ApiContext value={api}>
        <SyncPanel office={office(ENTRY, BACKUP_ENTRY)} />
      </ApiContext>,
    );
    await screen.findByTestId("trash-row");
    view.rerender(
      <ApiContext value={api}>
        <SyncPanel office={office(BACKUP_ENTRY, ENTRY)} />
      </ApiContext>,
    );
    const card = await screen.findByTestId("trash");
    expect(card.getAttribute("data-server")).toBe(ENTRY.name);
    expect(within(card).queryByTestId("trash-row")).toBeNull();
    expect(within(card).getByText("Loading the list…")).toBeTruthy();
  });

  it("says when nothing was deleted, never a blank card", async () => {
    renderSync(fakeApi());
    const empty = await screen.findByTestId("trash-empty");
    expect(empty.textContent).toBe("Nothing has been deleted in the last 30 days.");
  });

  it("disables Put back for a view-only token and says why", async () => {
    const api = fakeApi({ trashList: backupTrash([entry("a.wav", 1)]) });
    renderSync(api, "viewer");
    const card = await screen.findByTestId("trash");
    const button = await within(card).findByTestId("trash-restore");
    expect((button as HTMLButtonElement).disabled).toBe(true);
    expect(within(card).getByText(/view-only/).textContent).toContain("Backup");
    fireEvent.click(button);
    await waitFor(() => expect(api.restoreTrash).not.toHaveBeenCalled());
  });
});

describe("files set aside by a returning primary", () => {
  const quarantined = {
    id: 7,
    category: "voicemail",
    source: "voicemail:0",
    path: "default/1001/INBOX/msg0009.wav",
    size: 4096,
    quarantined_unix: 1_700_000_000,
    lost_epoch: 3,
    stored_at: "/var/lib/lbs/quarantine/7",
    restored_unix: null,
  };

  function renderQuarantine(restoreQuarantined: Commands["restoreQuarantined"]) {
    const backup = machine(BACKUP_ENTRY, "backup");
    backup.failover = { ...backup.failover!, quarantined_files: 1 };
    const office = overviewOf([machine(ENTRY, "primary"), backup]).offices[0]!;
    const api = fakeApi({ quarantineList: () => Promise.resolve({ entries: [quarantined] }), restoreQuarantined });
    render(
      <ApiContext value={api}>
        <SyncPanel office={office} />
      </ApiContext>,
    );
  }

  it("offers to replace the primary's copy only when the primary holds a different file", async () => {
    renderQuarantine(() => Promise.reject(new CommandError("different_file", "a different file is at msg0009.wav now")));
    const card = await screen.findByTestId("quarantine");
    fireEvent.click(await within(card).findByTestId("quarantine-restore"));
    expect((await within(card).findByRole("alert")).textContent).toContain("a different file");
    expect(within(card).getByTestId("quarantine-replace")).toBeTruthy();
  });

  it("offers no replace for any other refusal", async () => {
    renderQuarantine(() => Promise.reject(new CommandError("refused", "the category root voicemail:0 is no longer in this box's config")));
    const card = await screen.findByTestId("quarantine");
    fireEvent.click(await within(card).findByTestId("quarantine-restore"));
    expect((await within(card).findByRole("alert")).textContent).toContain("no longer in this box's config");
    expect(within(card).queryByTestId("quarantine-replace")).toBeNull();
  });
});
