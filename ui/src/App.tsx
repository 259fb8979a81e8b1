// The app shell: header, server list on the left, the selected server (or the welcome) on the right.

import { useCallback, useEffect, useState } from "react";

import { useApi } from "./api/context";
import { toConsoleError, type CommandError } from "./api/errors";
import { DEFAULT_RANGE, type RangeKey } from "./charts/ranges";
import { AddServerDialog, type AddTab } from "./components/AddServerDialog";
import { EmptyState } from "./components/EmptyState";
import { Logo } from "./components/Logo";
import { ServerView } from "./components/ServerView";
import { Sidebar } from "./components/Sidebar";
import type { ServerEntry } from "./generated/ServerEntry";
import { useServerStatuses } from "./hooks/useServerStatuses";

export interface AppProps {
  /** Opens the add dialog on start (dev switch `?mock&dialog=link|manual`). */
  initialDialog?: AddTab | null;
  /** Selects the n-th server (1-based) once the list arrives (dev switch `?mock&select=2`). */
  initialSelect?: number;
}

export function App({ initialDialog = null, initialSelect }: AppProps) {
  const api = useApi();
  const [servers, setServers] = useState<ServerEntry[] | null>(null);
  const [listError, setListError] = useState<CommandError | null>(null);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [dialog, setDialog] = useState<AddTab | null>(initialDialog);
  const [range, setRange] = useState<RangeKey>(DEFAULT_RANGE);
  const statuses = useServerStatuses(servers ? servers.map((s) => s.id) : []);

  /** Applies a freshly loaded list; `select` picks a server in it (e.g. the one just added). */
  const applyList = useCallback((list: ServerEntry[], select?: string | ((list: ServerEntry[]) => string | undefined)) => {
    setServers(list);
    setListError(null);
    const wanted = typeof select === "function" ? select(list) : select;
    if (wanted) setSelectedId(wanted);
  }, []);

  const applyError = useCallback((error: unknown) => {
    setListError(toConsoleError(error));
    setServers((prev) => prev ?? []);
  }, []);

  const reload = useCallback(
    (select?: string | ((list: ServerEntry[]) => string | undefined)) =>
      api.listServers().then((list) => applyList(list, select), applyError),
    [api, applyList, applyError],
  );

  useEffect(() => {
    let cancelled = false;
    api.listServers().then(
      (list) => {
        if (!cancelled) applyList(list, (l) => (initialSelect ? l[initialSelect - 1]?.id : undefined));
      },
      (error: unknown) => {
        if (!cancelled) applyError(error);
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, applyList, applyError, initialSelect]);

  const selected = servers?.find((s) => s.id === selectedId) ?? servers?.[0] ?? null;
  const openAdd = () => setDialog("link");

  const onAdded = (entry: ServerEntry) => {
    setDialog(null);
    void reload(entry.id);
  };
  const onRemoved = (id: string) => {
    void reload((list) => (selectedId === id ? list[0]?.id : undefined));
  };

  let main;
  if (servers === null) {
    main = (
      <div className="main-loading" aria-busy="true">
        <span className="skeleton skeleton-card" />
        <p className="muted">Loading your servers…</p>
      </div>
    );
  } else if (listError && servers.length === 0) {
    main = (
      <div className="banner banner-danger" role="alert">
        <div className="banner-body">
          <p className="banner-title">The console could not load its list of servers</p>
          <p>{listError.message}</p>
          <p>
            <button type="button" className="btn btn-secondary" onClick={() => void reload()}>
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
      <ServerView
        key={selected.id}
        entry={selected}
        state={statuses[selected.id]}
        range={range}
        onRangeChange={setRange}
        onRemoved={onRemoved}
      />
    );
  }

  return (
    <div className="app">
      <header className="app-header">
        <Logo />
        <span className="app-name">LBS Console</span>
        <span className="app-tagline">Live Backup Server</span>
      </header>
      <div className="app-body">
        <Sidebar
          servers={servers}
          statuses={statuses}
          selectedId={selected?.id ?? null}
          onSelect={setSelectedId}
          onAdd={openAdd}
        />
        <main className="main">{main}</main>
      </div>
      {dialog && <AddServerDialog initialTab={dialog} onClose={() => setDialog(null)} onAdded={onAdded} />}
    </div>
  );
}
