// A server's history: range picker, drag-to-zoom with "Reset zoom", and the three chart panels.

import { useMemo, useRef, useState } from "react";

import { PANELS, chartGroups } from "../charts/panels";
import { pointsForWidth, type RangeKey, type TimeWindow } from "../charts/ranges";
import { formatPointTime } from "../format/time";
import { useElementWidth } from "../hooks/useElementWidth";
import { useHistory } from "../hooks/useHistory";
import { ChartPanel, type PanelState } from "./ChartPanel";
import { RangePicker } from "./RangePicker";

interface ServerChartsProps {
  serverId: string;
  range: RangeKey;
  onRangeChange: (range: RangeKey) => void;
}

export function ServerCharts({ serverId, range, onRangeChange }: ServerChartsProps) {
  const [zoom, setZoom] = useState<TimeWindow | null>(null);
  const boxRef = useRef<HTMLDivElement>(null);
  const width = useElementWidth(boxRef);
  // Panels have 1px borders and 20px padding each side.
  const points = pointsForWidth(width > 0 ? width - 42 : 0);
  const history = useHistory(serverId, range, zoom, points);

  const groups = useMemo(
    () => Object.fromEntries(PANELS.map((p) => [p.kind, chartGroups(history.series ?? [], p.kind)])),
    [history.series],
  );

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
      </div>
      {!zoom && history.data && !history.error && (
        <p className="charts-tip muted">Tip: drag across a chart to zoom in on that moment.</p>
      )}
      {history.error && history.data && (
        <p className="charts-note" role="status">
          The charts could not be refreshed: {history.error.message} They show the last data received.
        </p>
      )}
      {PANELS.map((spec) => (
        <ChartPanel
          key={spec.kind}
          spec={spec}
          groups={groups[spec.kind] ?? []}
          data={history.data}
          state={state}
          syncKey={`server:${serverId}`}
          onZoom={setZoom}
        />
      ))}
    </div>
  );
}
