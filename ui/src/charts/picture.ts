// One PNG of a machine's graphs as shown: a heading, then each panel's charts with their titles
// and legends, drawn from the uPlot canvases on screen. For "Save graphs as picture…".

interface Piece {
  title: string | null;
  canvas: HTMLCanvasElement | null;
  legend: { color: string; label: string }[];
}

const PAD = 24;
const LINE = 22;

function pieces(root: HTMLElement): Piece[] {
  const out: Piece[] = [];
  for (const panel of root.querySelectorAll<HTMLElement>(".chart-panel")) {
    out.push({ title: panel.querySelector("h2")?.textContent ?? null, canvas: null, legend: [] });
    for (const figure of panel.querySelectorAll<HTMLElement>(".chart-figure")) {
      out.push({
        title: figure.querySelector("figcaption")?.textContent ?? null,
        canvas: figure.querySelector("canvas"),
        legend: [...figure.querySelectorAll<HTMLElement>(".chart-legend-item")].map((item) => ({
          color: item.querySelector<HTMLElement>(".chart-swatch")?.style.background ?? "#888",
          label: item.querySelector(".chart-legend-label")?.textContent ?? "",
        })),
      });
    }
  }
  return out;
}

/** Draws the graphs under `root` with `heading` on top; resolves to the PNG's bytes. */
export async function graphsPicture(root: HTMLElement, heading: string): Promise<Uint8Array> {
  const style = getComputedStyle(document.documentElement);
  const background = style.getPropertyValue("--surface").trim() || "#ffffff";
  const text = style.getPropertyValue("--text").trim() || "#1c2430";
  const font = getComputedStyle(document.body).fontFamily || "sans-serif";
  const parts = pieces(root);
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(600, ...parts.map((p) => (p.canvas ? p.canvas.width / ratio : 0))) + 2 * PAD;
  const height =
    PAD * 2 +
    LINE * 1.5 +
    parts.reduce((h, p) => h + (p.title ? LINE : 0) + (p.canvas ? p.canvas.height / ratio + LINE + 8 : 8), 0);

  const canvas = document.createElement("canvas");
  canvas.width = Math.ceil(width * ratio);
  canvas.height = Math.ceil(height * ratio);
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("This computer cannot draw the picture (no 2D canvas).");
  ctx.scale(ratio, ratio);
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = text;
  ctx.textBaseline = "top";
  ctx.font = `600 18px ${font}`;
  ctx.fillText(heading, PAD, PAD);
  let y = PAD + LINE * 1.5;
  for (const p of parts) {
    if (p.title) {
      ctx.fillStyle = text;
      ctx.font = `${p.canvas ? 500 : 600} ${p.canvas ? 13 : 15}px ${font}`;
      ctx.fillText(p.title, PAD, y);
      y += LINE;
    }
    if (!p.canvas) {
      y += 8;
      continue;
    }
    const w = p.canvas.width / ratio;
    const h = p.canvas.height / ratio;
    ctx.drawImage(p.canvas, PAD, y, w, h);
    y += h + 4;
    let x = PAD;
    ctx.font = `12px ${font}`;
    for (const item of p.legend) {
      ctx.fillStyle = item.color;
      ctx.fillRect(x, y + 3, 10, 10);
      ctx.fillStyle = text;
      ctx.fillText(item.label, x + 14, y + 1);
      x += 14 + ctx.measureText(item.label).width + 16;
    }
    y += LINE + 4;
  }
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, "image/png"));
  if (!blob) throw new Error("The picture could not be made.");
  return new Uint8Array(await blob.arrayBuffer());
}
