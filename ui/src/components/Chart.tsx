// One time-series chart: a thin React wrapper around uPlot (avg line, min–max band, own legend).

import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

import { countPoints, latestReading, type AlignedSeries, type Column } from "../charts/align";
import type { Band } from "../charts/export";
import { zoomWindow, type TimeWindow } from "../charts/ranges";
import { incrementsFor, yRange } from "../charts/scales";
import { formatAxisValue, formatValue } from "../format/units";
import { formatPointTime, timeAxisLabels } from "../format/time";
import { useColorScheme, type ColorScheme } from "../hooks/useColorScheme";

export interface ChartLine {
  label: string;
}

export interface ChartProps {
  /** One entry per series, in the order of `data`'s columns. */
  lines: readonly ChartLine[];
  data: AlignedSeries;
  /** Unit of every series: formats the axis and the legend. */
  unit: string;
  /** The x axis always spans this window, even where there is no data. */
  window: TimeWindow;
  height?: number;
  /** Charts with the same key share the hover cursor. */
  syncKey?: string;
  /** Called with the window the user drag-selected. */
  onZoom?: (window: TimeWindow) => void;
  /** Called after each redraw with the number of drawn (non-null) samples. */
  onDrawn?: (points: number) => void;
  /** Time spans shaded behind the lines (when the machine was the primary). */
  bands?: readonly Band[];
}

const PALETTE_SIZE = 6;

interface Theme {
  axis: string;
  grid: string;
  font: string;
  colors: string[];
  band: string;
}

/** Reads the chart colours of the theme now applied (`scheme` names it, so callers re-read on change). */
function readTheme(_scheme: ColorScheme): Theme {
  const style = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  const colors = Array.from({ length: PALETTE_SIZE }, (_, i) => v(`--series-${i + 1}`, "#3b82f6"));
  const family = getComputedStyle(document.body).fontFamily || "system-ui, sans-serif";
  return {
    axis: v("--chart-axis", "#5b6675"),
    grid: v("--chart-grid", "#e3e7ec"),
    font: `12px ${family}`,
    colors,
    band: v("--primary-band", "rgba(37, 99, 235, 0.08)"),
  };
}

/** `#rrggbb` + alpha → `#rrggbbaa`; other colour syntaxes are returned unchanged. */
function withAlpha(color: string, alpha: number): string {
  if (!/^#[0-9a-f]{6}$/i.test(color)) return color;
  return `${color}${Math.round(alpha * 255)
    .toString(16)
    .padStart(2, "0")}`;
}

export function seriesColor(colors: readonly string[], index: number): string {
  return colors[index % colors.length] ?? "#3b82f6";
}

function toPlotData(data: AlignedSeries): uPlot.AlignedData {
  const bands: Column[] = [];
  data.avg.forEach((_, i) => {
    bands.push(data.min[i] ?? [], data.max[i] ?? []);
  });
  return [data.x, ...data.avg, ...bands] as uPlot.AlignedData;
}


interface Hover {
  t: number;
  values: (number | null)[];
}

const NO_BANDS: readonly Band[] = [];

export function Chart({ lines, data, unit, window, height = 180, syncKey, onZoom, onDrawn, bands = NO_BANDS }: ChartProps) {
  const hostRef = useRef<HTMLDivElement>(null);
  const plotRef = useRef<uPlot | null>(null);
  const latest = useRef({ data, window, onZoom, onDrawn, bands });
  const [hover, setHover] = useState<Hover | null>(null);
  const scheme = useColorScheme();
  // Colours come from the CSS variables of the current theme; re-read when the theme flips.
  const theme = useMemo(() => readTheme(scheme), [scheme]);
  const colors = theme.colors;
  const labels = lines.map((l) => l.label).join("\n");

  useLayoutEffect(() => {
    latest.current = { data, window, onZoom, onDrawn, bands };
  });

  // Create the plot; again only when its shape (series, unit, size, theme) changes.
  useEffect(() => {
    const host = hostRef.current;
    if (!host) return;
    const names = labels.split("\n");
    const n = names.length;
    const axisCommon = {
      stroke: theme.axis,
      font: theme.font,
      grid: { stroke: theme.grid, width: 1 },
      ticks: { stroke: theme.grid, width: 1, size: 4 },
    };
    const opts: uPlot.Options = {
      width: Math.max(host.clientWidth, 100),
      height,
      padding: [10, null, 0, 0],
      legend: { show: false },
      scales: {
        x: { time: true },
        y: { range: (_u, _min, max) => yRange(unit, max) },
      },
      series: [
        {},
        ...names.map((label, i) => ({
          label,
          stroke: seriesColor(theme.colors, i),
          width: 1.75,
        })),
        ...names.flatMap((label) => [
          { label: `${label} (lowest)`, stroke: "transparent", width: 0, points: { show: false } },
          { label: `${label} (highest)`, stroke: "transparent", width: 0, points: { show: false } },
        ]),
      ],
      bands: names.map((_, i) => ({
        series: [n + 2 + 2 * i, n + 1 + 2 * i] as [number, number],
        fill: withAlpha(seriesColor(theme.colors, i), 0.16),
      })),
      axes: [
        {
          ...axisCommon,
          space: 80,
          values: (_u, splits, _axis, _space, incr) => timeAxisLabels(splits, incr),
        },
        {
          ...axisCommon,
          ticks: { show: false },
          space: 28,
          incrs: incrementsFor(unit),
          values: (_u, splits) => splits.map((v) => formatAxisValue(unit, v)),
          size: (_u, values) => (values ? Math.max(...values.map((s) => s.length), 1) * 7 + 16 : 40),
        },
      ],
      cursor: {
        drag: { x: true, y: false, setScale: false },
        points: { size: (_u, i) => (i >= 1 && i <= n ? 7 : 0) },
        ...(syncKey ? { sync: { key: syncKey, setSeries: false } } : {}),
      },
      hooks: {
        // Under the grid and the lines: the spans the machine was the primary.
        drawClear: [
          (u) => {
            const { top, height: h } = u.bbox;
            u.ctx.save();
            u.ctx.fillStyle = theme.band;
            for (const [from, to] of latest.current.bands) {
              const x0 = Math.max(u.valToPos(from, "x", true), u.bbox.left);
              const x1 = Math.min(u.valToPos(to, "x", true), u.bbox.left + u.bbox.width);
              if (x1 > x0) u.ctx.fillRect(x0, top, x1 - x0, h);
            }
            u.ctx.restore();
          },
        ],
        setSelect: [
          (u) => {
            const { left, width } = u.select;
            if (width > 4) {
              latest.current.onZoom?.(zoomWindow(u.posToVal(left, "x"), u.posToVal(left + width, "x")));
            }
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          },
        ],
        setCursor: [
          (u) => {
            const idx = u.cursor.idx;
            if (idx === null || idx === undefined) {
              setHover(null);
              return;
            }
            const t = u.data[0][idx];
            if (t === undefined) return;
            const values = names.map((_, i) => {
              const di = u.cursor.idxs?.[i + 1] ?? idx;
              const v = di === null ? null : u.data[i + 1]?.[di];
              return typeof v === "number" ? v : null;
            });
            setHover({ t, values });
          },
        ],
      },
    };
    const plot = new uPlot(opts, toPlotData(latest.current.data), host);
    plot.setScale("x", { min: latest.current.window.from, max: latest.current.window.to });
    plotRef.current = plot;

    const observer =
      typeof ResizeObserver === "undefined"
        ? null
        : new ResizeObserver(() => {
            const width = host.clientWidth;
            if (width > 0 && width !== plot.width) plot.setSize({ width, height });
          });
    observer?.observe(host);
    return () => {
      observer?.disconnect();
      plot.destroy();
      plotRef.current = null;
    };
  }, [labels, unit, height, theme, syncKey]);

  // New data: redraw in place.
  useEffect(() => {
    const plot = plotRef.current;
    if (plot) {
      plot.batch(() => {
        plot.setData(toPlotData(data), true);
        plot.setScale("x", { min: window.from, max: window.to });
      });
    }
    latest.current.onDrawn?.(countPoints(data));
  }, [data, window, bands]);

  const latestValues = useMemo(() => data.avg.map((col) => latestReading(col, unit)), [data, unit]);
  const [nowMs] = useState(() => Date.now());
  const shown = hover ? hover.values : latestValues;

  return (
    <div className="chart">
      <div
        className="chart-plot"
        ref={hostRef}
        style={{ height }}
        role="img"
        aria-label={`Chart of ${lines.map((l) => l.label).join(", ")}`}
      />
      <ul className="chart-legend" aria-live="off">
        <li className="chart-legend-time">{hover ? formatPointTime(hover.t, nowMs) : "Latest"}</li>
        {lines.map((line, i) => (
          <li key={line.label} className="chart-legend-item">
            <span className="chart-swatch" style={{ background: seriesColor(colors, i) }} aria-hidden="true" />
            <span className="chart-legend-label">{line.label}</span>
            <span className="chart-legend-value">{formatValue(unit, shown[i])}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}
