// The app shell: header, the offices on the left, the selected office (or the welcome) on the
// right; the add dialog and the failover wizard above them.

import { useState } from "react";

import { DEFAULT_RANGE, type RangeKey } from "./charts/ranges";
import { AddServerDialog, type AddTab } from "./components/AddServerDialog";
import { EmptyState } from "./components/EmptyState";
import { Logo } from "./components/Logo";
import { SettingsDialog } from "./components/SettingsDialog";
import { Sidebar } from "./components/Sidebar";
import { ThemePicker } from "./components/ThemePicker";
import type { ServerEntry } from "./generated/ServerEntry";
import { useOverview } from "./hooks/useOverview";
import { FailoverWizard } from "./office/FailoverWizard";
import { OfficeView, type OfficeTab } from "./office/OfficeView";

export interface AppProps {
  /** Opens the add dialog on start (dev switch `?mock&dialog=link|manual`). */
  initialDialog?: AddTab | null;
  /** Selects the n-th office (1-based) once the list arrives (dev switch `?mock&select=2`). */
  initialSelect?: number;
}

interface Dialog {
  tab: AddTab;
  /** Adding the partner of this office. */
  office: { id: string; name: string } | null;
}

export function App({ initialDialog = null, initialSelect }: AppProps) {
  const { overview, error, reload } = useOverview();
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [tab, setTab] = useState<OfficeTab>("servers");
  const [dialog, setDialog] = useState<Dialog | null>(initialDialog ? { tab: initialDialog, office: null } : null);
  const [wizard, setWizard] = useState(false);
  const [settings, setSettings] = useState(false);
  const [range, setRange] = useState<RangeKey>(DEFAULT_RANGE);
  /** An office id picked after an add, before the next snapshot includes it. */
  const [pendingServer, setPendingServer] = useState<string | null>(null);

  const offices = overview?.offices ?? [];
  const byPending = pendingServer ? offices.find((o) => o.pair.servers.includes(pendingServer)) : undefined;
  const selected =
    offices.find((o) => o.pair.id === selectedId) ??
    byPending ??
    (initialSelect ? offices[initialSelect - 1] : undefined) ??
    offices[0] ??
    null;

  const openAdd = () => setDialog({ tab: "link", office: null });
  const onAdded = (entry: ServerEntry) => {
    setDialog(null);
    setSelectedId(null);
    setPendingServer(entry.id);
    reload();
  };
  const select = (id: string) => {
    setSelectedId(id);
    setPendingServer(null);
  };

  let main;
  if (overview === null && !error) {
    main = (
      <div className="main-loading" aria-busy="true">
        <span className="skeleton skeleton-card" />
        <p className="muted">Loading your offices…</p>
      </div>
    );
  } else if (overview === null && error) {
    main = (
      <div className="banner banner-danger" role="alert">
        <div className="banner-body">
          <p className="banner-title">The console could not load its list of offices</p>
          <p>{error.message}</p>
          <p>
            <button type="button" className="btn btn-secondary" onClick={reload}>
              Try again
            </button>
          </p>
        </div>
      </div>
    );
  } else if (!selected) {
    main = <EmptyState onAdd={openAdd} />;
  } else {
    main = (
      <OfficeView
        key={selected.pair.id}
        office={selected}
        tab={tab}
        onTab={setTab}
        range={range}
        onRangeChange={setRange}
        onStartWizard={() => setWizard(true)}
        onAddPartner={() => setDialog({ tab: "link", office: { id: selected.pair.id, name: selected.pair.name } })}
        onRemoved={() => {
          setSelectedId(null);
          setPendingServer(null);
          reload();
        }}
      />
    );
  }

  return (
    <div className="app">
      <header className="app-header">
        <Logo />
        <span className="app-name">LBS Console</span>
        <span className="app-tagline">Live Backup Server</span>
        <span className="app-header-spacer" />
        <ThemePicker />
        <button
          type="button"
          className="btn btn-ghost btn-small header-settings"
          data-testid="open-settings"
          onClick={() => setSettings(true)}
        >
          <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true">
            <circle cx="10" cy="10" r="2.6" fill="none" stroke="currentColor" strokeWidth="1.6" />
            <path
              d="M10 2.5v2.2M10 15.3v2.2M2.5 10h2.2M15.3 10h2.2M4.7 4.7l1.6 1.6M13.7 13.7l1.6 1.6M4.7 15.3l1.6-1.6M13.7 6.3l1.6-1.6"
              stroke="currentColor"
              strokeWidth="1.6"
              strokeLinecap="round"
            />
          </svg>
          Settings
        </button>
      </header>
      <div className="app-body">
        <Sidebar overview={overview} selectedOffice={selected?.pair.id ?? null} onSelect={select} onAdd={openAdd} />
        <main className="main">{main}</main>
      </div>
      {dialog && (
        <AddServerDialog
          initialTab={dialog.tab}
          office={dialog.office}
          onClose={() => setDialog(null)}
          onAdded={onAdded}
        />
      )}
      {settings && <SettingsDialog onClose={() => setSettings(false)} />}
      {wizard && selected && (
        <FailoverWizard
          office={selected}
          onClose={() => {
            setWizard(false);
            reload();
          }}
        />
      )}
    </div>
  );
}
