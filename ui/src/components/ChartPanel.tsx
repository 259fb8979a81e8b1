// One titled panel of charts (server activity, network, resources), with loading and empty states.

import { useCallback, useMemo, useState } from "react";

import { alignHistory } from "../charts/align";
import type { Band } from "../charts/export";
import type { ChartGroup, PanelSpec } from "../charts/panels";
import type { TimeWindow } from "../charts/ranges";
import type { HistoryData } from "../hooks/useHistory";
import { Chart } from "./Chart";

export type PanelState = "loading" | "unavailable" | "ready";

interface ChartPanelProps {
  spec: PanelSpec;
  groups: ChartGroup[];
  data: HistoryData | null;
  state: PanelState;
  syncKey: string;
  onZoom: (window: TimeWindow) => void;
  /** Spans shaded behind every chart: when the machine was the primary. */
  bands: readonly Band[];
}

function GroupChart({
  group,
  data,
  syncKey,
  height,
  onZoom,
  onDrawn,
  bands,
}: {
  group: ChartGroup;
  data: HistoryData;
  syncKey: string;
  height: number;
  onZoom: (window: TimeWindow) => void;
  onDrawn: (key: string, points: number) => void;
  bands: readonly Band[];
}) {
  const aligned = useMemo(
    () => alignHistory(group.series.map((s) => data.responses[s.name])),
    [group.series, data.responses],
  );
  const lines = useMemo(() => group.series.map((s) => ({ label: s.label })), [group.series]);
  const key = group.key;
  const drawn = useCallback((n: number) => onDrawn(key, n), [onDrawn, key]);
  return (
    <figure className="chart-figure">
      {group.title && <figcaption className="chart-title">{group.title}</figcaption>}
      <Chart
        lines={lines}
        data={aligned}
        unit={group.unit}
        window={data.window}
        height={height}
        syncKey={syncKey}
        onZoom={onZoom}
        onDrawn={drawn}
        bands={bands}
      />
    </figure>
  );
}

export function ChartPanel({ spec, groups, data, state, syncKey, onZoom, bands }: ChartPanelProps) {
  const [counts, setCounts] = useState<Record<string, number>>({});
  const onDrawn = useCallback((key: string, n: number) => {
    setCounts((prev) => (prev[key] === n ? prev : { ...prev, [key]: n }));
  }, []);
  const total = state === "ready" ? groups.reduce((sum, g) => sum + (counts[g.key] ?? 0), 0) : 0;
  const headingId = `panel-${spec.kind}`;
  const multi = groups.length > 1;

  let body;
  if (state === "loading" || (state === "ready" && data === null)) {
    body = (
      <div className="chart-skeleton" aria-busy="true">
        <span className="skeleton skeleton-chart" />
        <span className="chart-skeleton-text">Loading…</span>
      </div>
    );
  } else if (state === "unavailable") {
    body = <p className="panel-empty">No history to show yet. The charts appear once the server answers.</p>;
  } else if (groups.length === 0) {
    body = <p className="panel-empty">{spec.emptyText}</p>;
  } else if (data) {
    body = (
      <div className={multi ? "chart-grid" : undefined}>
        {groups.map((g) => (
          <GroupChart
            key={g.key}
            group={g}
            data={data}
            syncKey={syncKey}
            height={multi ? 150 : 200}
            onZoom={onZoom}
            onDrawn={onDrawn}
            bands={bands}
          />
        ))}
      </div>
    );
  }

  return (
    <section
      className="card chart-panel"
      aria-labelledby={headingId}
      data-testid={`chart-${spec.kind}`}
      data-points={total}
    >
      <header className="panel-head">
        <h2 id={headingId}>{spec.title}</h2>
        <p className="muted">{spec.description}</p>
      </header>
      {body}
    </section>
  );
}
