// A machine's history: range picker, drag-to-zoom with "Reset zoom", the chart panels (activity, network, resources, the link) with
// the machine's primary periods shaded, and exports (CSV of the range, PNG of the graphs). When the
// machine does not answer, or has been replaced, the graphs come from this computer's copy.

import { useMemo, useRef, useState } from "react";

import { useApi } from "../api/context";
import { toConsoleError } from "../api/errors";
import { exportName, historyCsv, primaryBands, ROLE_SERIES } from "../charts/export";
import { PANELS, chartGroups, compareSeries } from "../charts/panels";
import { graphsPicture } from "../charts/picture";
import { pointsForWidth, type RangeKey, type TimeWindow } from "../charts/ranges";
import { formatPointTime } from "../format/time";
import { useElementWidth } from "../hooks/useElementWidth";
import { useHistory, type CopySource } from "../hooks/useHistory";
import { useNow } from "../hooks/useNow";
import { ChartPanel, type PanelState } from "./ChartPanel";
import { RangePicker } from "./RangePicker";

interface ServerChartsProps {
  /** The machine's server ID. */
  machine: string;
  /** Its name, for notes and file names. */
  name: string;
  range: RangeKey;
  onRangeChange: (range: RangeKey) => void;
}

function copyNote(name: string, copy: CopySource, nowMs: number): string {
  const until = copy.until !== null ? `, up to ${formatPointTime(copy.until, nowMs)}` : "";
  return copy.reason
    ? `${name} is not answering. These graphs are this computer's copy of its history${until}; they go live again when it answers.`
    : `These graphs are this computer's copy of ${name}'s history${until}.`;
}

export function ServerCharts({ machine, name, range, onRangeChange }: ServerChartsProps) {
  const api = useApi();
  const clockMs = useNow(60_000);
  const [zoom, setZoom] = useState<TimeWindow | null>(null);
  const [exporting, setExporting] = useState<"csv" | "png" | null>(null);
  const [saved, setSaved] = useState<{ ok: boolean; text: string } | null>(null);
  const boxRef = useRef<HTMLDivElement>(null);
  const chartsRef = useRef<HTMLDivElement>(null);
  const width = useElementWidth(boxRef);
  // Panels have 1px borders and 20px padding each side.
  const points = pointsForWidth(width > 0 ? width - 42 : 0);
  const history = useHistory(machine, range, zoom, points);

  const groups = useMemo(
    () => Object.fromEntries(PANELS.map((p) => [p.kind, chartGroups(history.series ?? [], p.kind)])),
    [history.series],
  );
  const bands = useMemo(() => primaryBands(history.data?.responses[ROLE_SERIES]), [history.data]);
  const hasRole = history.series?.some((s) => s.name === ROLE_SERIES) ?? false;

  const state: PanelState =
    history.series !== null && history.data !== null
      ? "ready"
      : history.error !== null
        ? "unavailable"
        : "loading";

  const chooseRange = (key: RangeKey) => {
    setZoom(null);
    onRangeChange(key);
  };
  const nowMs = history.data ? history.data.window.to * 1000 : 0;

  const save = async (kind: "csv" | "png") => {
    const data = history.data;
    if (!data || !history.series) return;
    setExporting(kind);
    setSaved(null);
    try {
      const span = `${formatPointTime(data.window.from, nowMs)} – ${formatPointTime(data.window.to, nowMs)}`;
      const path =
        kind === "csv"
          ? await api.saveFile(
              exportName(name, "history", "csv", Date.now()),
              historyCsv([...history.series].sort(compareSeries), data.responses),
            )
          : await api.saveFile(
              exportName(name, "graphs", "png", Date.now()),
              await graphsPicture(chartsRef.current ?? document.body, `${name} — ${span}`),
            );
      if (path) setSaved({ ok: true, text: `Saved to ${path}` });
    } catch (e) {
      setSaved({ ok: false, text: `Not saved: ${toConsoleError(e).message}` });
    } finally {
      setExporting(null);
    }
  };
  const canExport = state === "ready" && exporting === null;

  return (
    <div className="server-charts" ref={boxRef}>
      <div className="charts-toolbar">
        <h2 className="charts-heading">History</h2>
        <RangePicker value={range} onChange={chooseRange} zoomed={zoom !== null} />
        {zoom && (
          <span className="zoom-info">
            <span className="muted">
              {formatPointTime(zoom.from, nowMs)} – {formatPointTime(zoom.to, nowMs)}
            </span>
            <button type="button" className="btn btn-secondary btn-small" onClick={() => setZoom(null)}>
              Reset zoom
            </button>
          </span>
        )}
        {history.updating && (
          <span className="muted updating" role="status">
            Updating…
          </span>
        )}
        <span className="charts-export">
          <button
            type="button"
            className="btn btn-ghost btn-small"
            data-testid="export-csv"
            disabled={!canExport}
            onClick={() => void save("csv")}
          >
            {exporting === "csv" ? "Saving…" : "Export CSV…"}
          </button>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            data-testid="export-png"
            disabled={!canExport}
            onClick={() => void save("png")}
          >
            {exporting === "png" ? "Saving…" : "Save as picture…"}
          </button>
        </span>
      </div>
      {saved && (
        <p className={saved.ok ? "charts-tip muted" : "inline-error"} role="status" data-testid="export-result">
          {saved.text}
        </p>
      )}
      {history.copy && (
        <p className="charts-note" role="status" data-testid="history-copy-note">
          {copyNote(name, history.copy, clockMs)}
        </p>
      )}
      {!zoom && history.data && !history.error && !history.copy && (
        <p className="charts-tip muted">
          Tip: drag across a chart to zoom in on that moment.
          {hasRole && " The shaded spans are when this server was the primary."}
        </p>
      )}
      {history.error && history.data && (
        <p className="charts-note" role="status">
          The charts could not be refreshed: {history.error.message} They show the last data received.
        </p>
      )}
      <div className="history-charts" ref={chartsRef} data-testid="history-charts" data-bands={bands.length}>
        {PANELS.map((spec) => (
          <ChartPanel
            key={spec.kind}
            spec={spec}
            groups={groups[spec.kind] ?? []}
            data={history.data}
            state={state}
            syncKey={`server:${machine}`}
            onZoom={setZoom}
            bands={bands}
          />
        ))}
      </div>
    </div>
  );
}
