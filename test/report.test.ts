// The training report (src/report): its SVG paths' points map back to the numbers they draw, the confusion
// matrix counts every example once (against a plain count), class names are escaped, and the page needs no
// script or external asset. eg.confusionMatrix against the arg-max computed by hand.
import { describe, expect, it, beforeAll } from 'vitest';
import { useBuild } from './helpers.js';
import * as eg from '../src/index.js';
import { chartPoints, confusionCounts, confusionTable, lineChart, ticks, toPixel, trainingReport, type ChartFrame } from '../src/report/index.js';

/** The points of an SVG path's d ("M x,y L x,y ..."), and where each segment starts. */
function pathPoints(d: string): Array<{ cmd: string; x: number; y: number }> {
  return [...d.matchAll(/([ML])(-?[\d.]+),(-?[\d.]+)/g)].map((m) => ({ cmd: m[1], x: +m[2], y: +m[3] }));
}

/** The inverse of the chart's mapping: pixels back to data, from the frame alone. */
function fromPixel(f: ChartFrame, px: number, py: number): [number, number] {
  const w = f.width - f.left - f.right, h = f.height - f.top - f.bottom;
  return [f.xMin + ((px - f.left) / w) * (f.xMax - f.xMin), f.yMin + ((f.top + h - py) / h) * (f.yMax - f.yMin)];
}

describe('report: charts', () => {
  const frame: ChartFrame = { width: 420, height: 260, left: 52, right: 12, top: 28, bottom: 40, xMin: 1, xMax: 6, yMin: 0, yMax: 2 };

  it('a path has one point per finite value, each mapping back to (epoch, value)', () => {
    const values = [1.9, 1.2, 0.8, NaN, 0.41, 0.3];
    const pts = pathPoints(chartPoints(frame, { name: 'loss', values }));
    expect(pts.length).toBe(5);
    expect(pts.map((p) => p.cmd).join('')).toBe('MLLML'); // the NaN breaks the line
    const finite = values.map((v, i) => [i + 1, v]).filter(([, v]) => Number.isFinite(v));
    pts.forEach((p, k) => {
      const [x, y] = fromPixel(frame, p.x, p.y);
      expect(x).toBeCloseTo(finite[k][0], 1);
      expect(y).toBeCloseTo(finite[k][1], 2);
    });
    // higher values are higher on the page (smaller SVG y)
    expect(pts[0].y).toBeLessThan(pts[1].y);
    expect(toPixel(frame, 1, 0)).toEqual([52, 220]);
    expect(toPixel(frame, 6, 2)).toEqual([408, 28]);
  });

  it('lineChart draws each series over the data range, its legend names escaped', () => {
    const loss = [2.0, 1.0, 0.5, 0.25], val = [2.2, 1.4, 0.9, 0.8];
    const svg = lineChart([{ name: 'train <a&b>', values: loss }, { name: 'val', values: val, dashed: true }], { title: 'Loss', xLabel: 'epoch', yLabel: 'loss' });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('train &lt;a&amp;b&gt;');
    expect(svg).not.toContain('<a&b>');
    const ds = [...svg.matchAll(/<path class="series" data-name="[^"]*" d="([^"]+)"/g)].map((m) => m[1]);
    expect(ds.length).toBe(2);
    // the frame lineChart used: y from 0 (all values >= 0) to the largest value, x over the epochs
    const f: ChartFrame = { width: 420, height: 260, left: 52, right: 12, top: 28, bottom: 40, xMin: 1, xMax: 4, yMin: 0, yMax: 2.2 };
    [loss, val].forEach((vals, s) => pathPoints(ds[s]).forEach((p, i) => {
      const [x, y] = fromPixel(f, p.x, p.y);
      expect(x).toBeCloseTo(i + 1, 1);
      expect(y).toBeCloseTo(vals[i], 2);
    }));
    expect(svg).toContain('stroke-dasharray');
  });

  it('ticks are round numbers covering the range', () => {
    expect(ticks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(ticks(0, 2.2)).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(ticks(1, 30, 8)).toEqual([5, 10, 15, 20, 25, 30]);
  });
});

describe('report: confusion matrix', () => {
  it('confusionCounts against a plain count; every example lands in one cell', () => {
    let s = 7;
    const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const n = 257, k = 4;
    const scores = Array.from({ length: n * k }, rand), labels = Array.from({ length: n }, () => Math.floor(rand() * k));
    const m = confusionCounts(scores, labels, k);
    const want = Array.from({ length: k }, () => new Array(k).fill(0));
    for (let i = 0; i < n; i++) {
      const row = scores.slice(i * k, i * k + k);
      want[labels[i]][row.indexOf(Math.max(...row))]++;
    }
    expect(m).toEqual(want);
    expect(m.flat().reduce((a, b) => a + b, 0)).toBe(n);
    expect(() => confusionCounts([0.1, 0.9], [2], 2)).toThrow(/label 0 is 2, not a class index in \[0, 2\)/);
    expect(() => confusionCounts([0.1, 0.9, 0.3], [0], 2)).toThrow(/3 scores for 1 labels of 2 classes/);
  });

  it('the table: cells sum to the number of examples, class names escaped, recall per row', () => {
    const m = [[5, 1, 0], [2, 7, 1], [0, 0, 4]];
    const html = confusionTable(m, ['<cat>', 'dog & co', '"bird"']);
    const cells = [...html.matchAll(/<td class="cell" data-true="(\d)" data-pred="(\d)"[^>]*>(\d+)<\/td>/g)];
    expect(cells.length).toBe(9);
    expect(cells.reduce((s, c) => s + Number(c[3]), 0)).toBe(20);
    for (const c of cells) expect(Number(c[3])).toBe(m[+c[1]][+c[2]]);
    expect(html).toContain('&lt;cat&gt;');
    expect(html).toContain('dog &amp; co');
    expect(html).toContain('&quot;bird&quot;');
    expect(html).not.toMatch(/<cat>|dog & co/);
    expect(html).toContain('70.0%'); // 7 of 10 dogs
    expect(() => confusionTable(m, ['a', 'b'])).toThrow(/2 class names for a 3x3/);
  });
});

describe('report: the page', () => {
  it('has the curves, the matrix and the labels curve, and nothing it would fetch or run', () => {
    const history = { epoch: [0, 1, 2], history: { loss: [1.5, 0.9, 0.6], accuracy: [0.4, 0.7, 0.8], val_loss: [1.6, 1.1, 0.9], val_accuracy: [0.35, 0.6, 0.7] } };
    const html = trainingReport({
      title: 'Fine-tune <test> & co',
      details: [['model', 'a<b>.onnx']],
      history,
      confusion: { matrix: [[3, 1], [0, 4]], classNames: ['x<y', 'z&w'], what: 'validation' },
      labelsCurve: [{ labels: 20, accuracy: 0.8 }, { labels: 5, accuracy: 0.5 }, { labels: 10, accuracy: 0.7 }],
    });
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|src=|href=|@import|url\(/i);
    expect(html).toContain('<title>Fine-tune &lt;test&gt; &amp; co</title>');
    expect(html).toContain('a&lt;b&gt;.onnx');
    expect(html).toContain('x&lt;y');
    expect(html).toContain('z&amp;w');
    // three charts: loss, accuracy, accuracy vs labels; four per-epoch series and one labels series
    expect(html.match(/<svg /g)!.length).toBe(3);
    const series = [...html.matchAll(/<path class="series" data-name="([^"]*)" d="([^"]+)"/g)];
    expect(series.map((s) => s[1])).toEqual(['training loss', 'validation loss', 'training accuracy', 'validation accuracy', 'validation accuracy']);
    expect(series.slice(0, 4).every((s) => pathPoints(s[2]).length === 3)).toBe(true);
    // the labels curve runs left to right in labels (sorted), its accuracies on the [0, 1] axis
    const lab = pathPoints(series[4][2]);
    const f: ChartFrame = { width: 420, height: 260, left: 52, right: 12, top: 28, bottom: 40, xMin: 5, xMax: 20, yMin: 0, yMax: 1 };
    expect(lab.map((p) => fromPixel(f, p.x, p.y).map((v) => +v.toFixed(2)))).toEqual([[5, 0.5], [10, 0.7], [20, 0.8]]);
    expect(html).toContain('8 examples, 7 right (87.5%)');
  });
});

describe('eg.confusionMatrix', () => {
  beforeAll(() => { useBuild('simd'); });

  it('equals the arg-max of predict counted by hand, for labels and one-hot targets, across batches', async () => {
    const m = eg.sequential([eg.layers.dense({ units: 3, activation: 'softmax', inputShape: [4], seed: 3 })]);
    const x = eg.randomNormal([50, 4], 0, 1, 9);
    const labels = Int32Array.from({ length: 50 }, (_, i) => (i * 7) % 3);
    const y = eg.tensor(labels, [50], 'int32');
    const p = m.predict(x).arraySync() as number[][];
    const want = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
    p.forEach((r, i) => { want[labels[i]][r.indexOf(Math.max(...r))]++; });
    expect(await eg.confusionMatrix(m, x, y, { batchSize: 16 })).toEqual(want);
    expect(await eg.confusionMatrix(m, x, eg.data.oneHot(labels, 3))).toEqual(want);
    await expect(eg.confusionMatrix(m, x, eg.tensor(new Int32Array(49), [49], 'int32'))).rejects.toThrow(/50 examples in x but 49 in y/);
  });

  it('works on an imported model and names a model without a class output', async () => {
    const base = await eg.loadModel('models/digits-cnn.onnx');
    const d = await eg.data.loadDigits();
    const idx: number[] = [];
    for (let i = 8000; i < 8200; i++) if (d.labels[i] < 5) idx.push(i);
    const x = eg.data.gather(d.images, idx), y = eg.tensor(Int32Array.from(idx, (i) => d.labels[i]), [idx.length], 'int32');
    const cm = await eg.confusionMatrix(base, x, y);
    expect(cm.flat().reduce((a, b) => a + b, 0)).toBe(idx.length);
    const acc = cm.reduce((s, r, i) => s + r[i], 0) / idx.length;
    expect(acc).toBeCloseTo((base.predict(x).arraySync() as number[][]).filter((r, i) => r.indexOf(Math.max(...r)) === d.labels[idx[i]]).length / idx.length, 10);
    expect(acc).toBeGreaterThan(0.9);
    await expect(eg.confusionMatrix(base.cut('block1_pool'), x, y)).rejects.toThrow(/must give one \[batch, classes\] output, got \[\d+,14,14,16\]/);
  });
});
