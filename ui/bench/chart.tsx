// Benchmark page (not shipped in the app): the console's own chart path — alignHistory, then the
// Chart component on uPlot — with 1k, 10k and 100k points per series, in the real WebKit. For each
// size it measures the time to align the answers, to draw the first frame, to redraw with new
// data, and to answer a hover; beside it, the same points drawn as one bare canvas polyline (the
// least any chart can do), measured in the same run. Results go to `window.__bench` for
// tests/bench/console.mjs, which prints them.

// First, as in the app: repairs an invalid system locale (LANG=C) before any library reads it.
import "../src/format/locale";

import { createRoot, type Root } from "react-dom/client";

import { alignHistory, type AlignedSeries } from "../src/charts/align";
import { Chart } from "../src/components/Chart";
import type { HistoryResponse } from "../src/generated/HistoryResponse";
import "../src/styles/theme.css";
import "../src/styles/app.css";

interface Figures {
  points: number;
  alignMs: number;
  firstFrameMs: number;
  redrawMs: number;
  hoverMs: number;
  polylineMs: number;
}

const SERIES = 3;
const WIDTH = 1100;
const HEIGHT = 200;

const frame = () => new Promise<void>((r) => requestAnimationFrame(() => r()));
/** Until the browser has painted what the last change drew. */
const painted = async () => {
  await frame();
  await frame();
};

function answers(points: number, salt: number): HistoryResponse[] {
  const from = 1_700_000_000;
  return Array.from({ length: SERIES }, (_, s) => ({
    series: `s${s}`,
    from,
    to: from + points * 10,
    bucket_secs: 10,
    resolution: "raw" as const,
    points: Array.from({ length: points }, (_, i) => {
      const v = 50 + 30 * Math.sin((i + salt) / 500 + s) + 10 * Math.sin(i / 7);
      return { t: from + i * 10, min: v - 5, avg: v, max: v + 5 };
    }),
  }));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function render(root: Root, data: AlignedSeries, window: { from: number; to: number }): Promise<number> {
  const t0 = performance.now();
  root.render(
    <Chart
      lines={Array.from({ length: SERIES }, (_, i) => ({ label: `Series ${i + 1}` }))}
      data={data}
      unit="percent"
      window={window}
      height={HEIGHT}
    />,
  );
  await painted();
  return performance.now() - t0;
}

async function polyline(data: AlignedSeries): Promise<number> {
  const canvas = document.createElement("canvas");
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  document.body.append(canvas);
  const ctx = canvas.getContext("2d");
  if (!ctx) return NaN;
  const x0 = data.x[0] ?? 0;
  const span = (data.x[data.x.length - 1] ?? 1) - x0 || 1;
  const t0 = performance.now();
  for (const col of data.avg) {
    ctx.beginPath();
    col.forEach((v, i) => {
      if (typeof v !== "number") return;
      const x = (((data.x[i] ?? 0) - x0) / span) * WIDTH;
      const y = HEIGHT - v * 2;
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
  await painted();
  const ms = performance.now() - t0;
  canvas.remove();
  return ms;
}

async function measure(points: number): Promise<Figures> {
  const host = document.getElementById("root");
  if (!host) throw new Error("no #root");
  const a0 = performance.now();
  const first = alignHistory(answers(points, 0));
  const alignMs = performance.now() - a0;
  const window = { from: first.x[0] ?? 0, to: (first.x[first.x.length - 1] ?? 0) + 10 };

  const root = createRoot(host);
  const firstFrameMs = await render(root, first, window);
  const redraws: number[] = [];
  for (let i = 1; i <= 10; i++) redraws.push(await render(root, alignHistory(answers(points, i * 37)), window));

  const over = host.querySelector(".u-over");
  const hovers: number[] = [];
  if (over) {
    const box = over.getBoundingClientRect();
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      over.dispatchEvent(
        new MouseEvent("mousemove", { clientX: box.left + ((i + 1) / 21) * box.width, clientY: box.top + box.height / 2, bubbles: true }),
      );
      await painted();
      hovers.push(performance.now() - t0);
    }
  }
  root.unmount();
  const polylines: number[] = [];
  for (let i = 0; i < 10; i++) polylines.push(await polyline(first));
  return {
    points,
    alignMs,
    firstFrameMs,
    redrawMs: median(redraws),
    hoverMs: median(hovers),
    polylineMs: median(polylines),
  };
}

async function main() {
  const out: Figures[] = [];
  // A painted frame is at least one display refresh: measure it once to read the rest against.
  const f: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    await painted();
    f.push(performance.now() - t0);
  }
  for (const n of [1_000, 10_000, 100_000]) out.push(await measure(n));
  (window as unknown as { __bench: unknown }).__bench = { emptyFrameMs: median(f), sizes: out };
}

main().catch((e: unknown) => {
  (window as unknown as { __bench: unknown }).__bench = { error: String(e) };
});
