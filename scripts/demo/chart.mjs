// A small line chart on a <canvas>: several series of (x, y) points, axes with "nice" ticks and labels,
// a legend. Points are added as they arrive; drawing is coalesced to one per animation frame, so a
// series fed per batch costs the page one redraw per frame, not one per point.
// The canvas carries data-points (the points drawn), for tests and the curious.

/** Tick step for a span: 1, 2 or 5 times a power of ten, about `count` ticks (Heckbert's nice numbers). */
function niceStep(span, count) {
  const raw = span / Math.max(count, 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

function ticks(lo, hi, count) {
  const step = niceStep(hi - lo, count);
  const out = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return { step, values: out };
}

const label = (v, step) => (step >= 1 ? String(Math.round(v)) : v.toFixed(Math.min(4, Math.ceil(-Math.log10(step)))));

export class LineChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ title: string, xLabel: string, yLabel: string, yMin?: number, yMax?: number, xMin?: number, series: Array<{ name: string, color: string, dots?: boolean, dash?: number[] }> }} opts
   *   yMin / yMax fix the y range (else it follows the data); x runs from xMin (default 0) to the largest x seen.
   */
  constructor(canvas, opts) {
    this.canvas = canvas;
    this.opts = opts;
    this.series = opts.series.map((s) => ({ ...s, points: [] }));
    this.xMaxHint = 1;
    this.pending = false;
    this.draw();
  }

  /** Add a point to the series named `name` (redrawn on the next frame). */
  add(name, x, y) {
    const s = this.series.find((q) => q.name === name);
    if (!s) throw new Error(`LineChart: no series '${name}'`);
    if (!Number.isFinite(x) || !Number.isFinite(y)) return;
    s.points.push([x, y]);
    this.schedule();
  }

  /** The x axis runs to at least x (e.g. the epochs planned), so the curves grow into a fixed frame. */
  setXMax(x) {
    this.xMaxHint = x;
    this.schedule();
  }

  /** Remove every point (drawn at once: data-points never shows an earlier run's count). */
  clear() {
    for (const s of this.series) s.points = [];
    this.draw();
  }

  get pointCount() {
    return this.series.reduce((n, s) => n + s.points.length, 0);
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    const { canvas, opts } = this;
    // sharp lines on high-DPI screens: the backing store in device pixels, drawing in CSS pixels
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, w, h);

    const pts = this.series.flatMap((s) => s.points);
    const xMin = opts.xMin ?? 0;
    const xMax = Math.max(this.xMaxHint, ...pts.map((p) => p[0]), xMin + 1e-6);
    // no data yet: an empty [0, 1] frame
    let yMin = opts.yMin ?? (pts.length ? Math.min(...pts.map((p) => p[1]), 0) : 0);
    let yMax = opts.yMax ?? (pts.length ? Math.max(...pts.map((p) => p[1])) * 1.05 : 1);
    if (!(yMax > yMin)) { yMin = 0; yMax = 1; }

    const m = { l: 52, r: 12, t: 26, b: 38 };
    const pw = w - m.l - m.r, ph = h - m.t - m.b;
    const X = (x) => m.l + ((x - xMin) / (xMax - xMin)) * pw;
    const Y = (y) => m.t + ph - ((y - yMin) / (yMax - yMin)) * ph;

    // grid, ticks and tick labels
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = '#e6e6e6';
    ctx.fillStyle = '#555';
    ctx.lineWidth = 1;
    const yt = ticks(yMin, yMax, 5), xt = ticks(xMin, xMax, 8);
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const v of yt.values) {
      const py = Math.round(Y(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(m.l, py); ctx.lineTo(m.l + pw, py); ctx.stroke();
      ctx.fillText(label(v, yt.step), m.l - 6, py);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const v of xt.values) {
      const px = Math.round(X(v)) + 0.5;
      ctx.beginPath(); ctx.moveTo(px, m.t); ctx.lineTo(px, m.t + ph); ctx.stroke();
      ctx.fillText(label(v, xt.step), px, m.t + ph + 5);
    }
    // axes
    ctx.strokeStyle = '#333';
    ctx.beginPath(); ctx.moveTo(m.l + 0.5, m.t); ctx.lineTo(m.l + 0.5, m.t + ph + 0.5); ctx.lineTo(m.l + pw, m.t + ph + 0.5); ctx.stroke();
    // axis labels and title
    ctx.fillStyle = '#222';
    ctx.fillText(opts.xLabel, m.l + pw / 2, h - 15);
    ctx.save();
    ctx.translate(12, m.t + ph / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = 'middle';
    ctx.fillText(opts.yLabel, 0, 0);
    ctx.restore();
    ctx.font = 'bold 12px system-ui, sans-serif';
    ctx.textAlign = 'left';
    ctx.fillText(opts.title, m.l, 6);

    // the series, clipped to the plot
    ctx.save();
    ctx.beginPath(); ctx.rect(m.l, m.t, pw, ph); ctx.clip();
    for (const s of this.series) {
      if (!s.points.length) continue;
      ctx.strokeStyle = ctx.fillStyle = s.color;
      ctx.lineWidth = 1.6;
      ctx.setLineDash(s.dash ?? []);
      ctx.beginPath();
      s.points.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
      ctx.stroke();
      ctx.setLineDash([]);
      if (s.dots) for (const [x, y] of s.points) { ctx.beginPath(); ctx.arc(X(x), Y(y), 2.5, 0, 2 * Math.PI); ctx.fill(); }
    }
    ctx.restore();

    // legend, top right
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'left';
    let lx = m.l + pw;
    for (const s of [...this.series].reverse()) {
      const tw = ctx.measureText(s.name).width;
      lx -= tw + 26;
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(s.dash ?? []);
      ctx.beginPath(); ctx.moveTo(lx, 12); ctx.lineTo(lx + 16, 12); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = '#222';
      ctx.fillText(s.name, lx + 20, 12);
    }
    canvas.dataset.points = String(this.pointCount);
  }
}
