// Inline SVG charts for the training report: a line chart of per-epoch curves and a labelled axis frame. Pure
// functions from numbers to markup; the mapping from data to pixels is its own function (chartPoints) so a
// test can invert it and check that a path's points follow the numbers.
import { escapeXml } from './escape.js';

/** One curve: its name (the legend) and a value per x position (an epoch, a label count); NaN leaves a gap. */
export interface Series {
  name: string;
  values: readonly number[];
  /** x positions (default 1, 2, ...: epochs) */
  x?: readonly number[];
  /** a dashed line (validation curves) */
  dashed?: boolean;
}

/** The plotting box inside the SVG and the data ranges it maps. */
export interface ChartFrame {
  width: number;
  height: number;
  /** margins: left (y tick labels), right, top, bottom (x tick labels) */
  left: number;
  right: number;
  top: number;
  bottom: number;
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

/** Pixel coordinates of (x, y) in the frame: x to the right, y up (SVG's y runs down). */
export function toPixel(f: ChartFrame, x: number, y: number): [number, number] {
  const w = f.width - f.left - f.right, h = f.height - f.top - f.bottom;
  const px = f.left + (f.xMax === f.xMin ? w / 2 : ((x - f.xMin) / (f.xMax - f.xMin)) * w);
  const py = f.top + h - (f.yMax === f.yMin ? h / 2 : ((y - f.yMin) / (f.yMax - f.yMin)) * h);
  return [+px.toFixed(2), +py.toFixed(2)];
}

/** The SVG path data of a series: M at the first finite point (and after each gap), L to the next. */
export function chartPoints(f: ChartFrame, s: Series): string {
  let d = '', pen = false;
  s.values.forEach((v, i) => {
    if (!Number.isFinite(v)) { pen = false; return; }
    const [px, py] = toPixel(f, s.x?.[i] ?? i + 1, v);
    d += `${d ? ' ' : ''}${pen ? 'L' : 'M'}${px},${py}`;
    pen = true;
  });
  return d;
}

/** Round tick values over [lo, hi]: steps of 1, 2 or 5 times a power of ten, about `count` of them. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count, p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** the y range (default: the data's, from 0 when all values are >= 0); e.g. [0, 1] for accuracy */
  yRange?: [number, number];
  /** y tick labels as percentages (accuracy) */
  percent?: boolean;
  width?: number;
  height?: number;
}

/** A line chart of the series as one self-contained <svg> element (no script, no external asset). */
export function lineChart(series: readonly Series[], o: LineChartOptions): string {
  const xs = series.flatMap((s) => s.values.map((v, i) => (Number.isFinite(v) ? s.x?.[i] ?? i + 1 : NaN))).filter(Number.isFinite);
  const ys = series.flatMap((s) => s.values).filter(Number.isFinite);
  const yLo = o.yRange?.[0] ?? (ys.length && Math.min(...ys) >= 0 ? 0 : Math.min(0, ...ys));
  let yHi = o.yRange?.[1] ?? (ys.length ? Math.max(...ys) : 1);
  if (!(yHi > yLo)) yHi = yLo + 1;
  // the legend sits under the plot, a row per series: the plot box is the same size whatever their number
  const legend = 14 * series.length;
  const f: ChartFrame = {
    width: o.width ?? 420, height: (o.height ?? 260) + legend, left: 52, right: 12, top: 28, bottom: 40 + legend,
    xMin: xs.length ? Math.min(...xs) : 0, xMax: xs.length ? Math.max(...xs) : 1, yMin: yLo, yMax: yHi,
  };
  const fmtY = (v: number) => (o.percent ? `${+(v * 100).toFixed(1)}%` : `${+v.toPrecision(3)}`);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" role="img" aria-label="${escapeXml(o.title)}">`);
  parts.push(`<text x="${f.width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(o.title)}</text>`);
  const [x0, y0] = toPixel(f, f.xMin, f.yMin), [x1, y1] = toPixel(f, f.xMax, f.yMax);
  const left = f.left, right = f.width - f.right, top = f.top, bottom = f.height - f.bottom;
  parts.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#999"/>`);
  for (const t of ticks(f.yMin, f.yMax)) {
    const [, py] = toPixel(f, f.xMin, t);
    parts.push(`<line x1="${left}" x2="${right}" y1="${py}" y2="${py}" stroke="#eee"/><text x="${left - 4}" y="${py + 4}" text-anchor="end" font-size="10">${fmtY(t)}</text>`);
  }
  const xt = ticks(f.xMin, f.xMax, Math.min(8, Math.max(1, f.xMax - f.xMin))).filter((t) => Number.isInteger(t) || f.xMax - f.xMin < 4);
  for (const t of xt) {
    const [px] = toPixel(f, t, f.yMin);
    parts.push(`<text x="${px}" y="${bottom + 14}" text-anchor="middle" font-size="10">${+t.toPrecision(6)}</text>`);
  }
  parts.push(`<text x="${(x0 + x1) / 2}" y="${bottom + 30}" text-anchor="middle" font-size="11">${escapeXml(o.xLabel)}</text>`);
  parts.push(`<text x="12" y="${(y0 + y1) / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 12 ${(y0 + y1) / 2})">${escapeXml(o.yLabel)}</text>`);
  series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length], d = chartPoints(f, s);
    if (d) parts.push(`<path class="series" data-name="${escapeXml(s.name)}" d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    // one point alone draws no line: a dot shows it
    if (s.values.filter(Number.isFinite).length === 1) {
      const i = s.values.findIndex(Number.isFinite), [px, py] = toPixel(f, s.x?.[i] ?? i + 1, s.values[i]);
      parts.push(`<circle cx="${px}" cy="${py}" r="3" fill="${color}"/>`);
    }
    const ly = bottom + 44 + 14 * k;
    parts.push(`<line x1="${left + 8}" x2="${left + 28}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/><text x="${left + 32}" y="${ly}" font-size="10">${escapeXml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
