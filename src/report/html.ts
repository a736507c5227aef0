// The training report: one self-contained HTML page (inline SVG and CSS, no script, no external asset) with the
// loss and accuracy curves per epoch, the confusion matrix with class names, and optionally the accuracy
// against the number of labels and the table of a cut-depth sweep. A pure function of the numbers.
import type { History } from '../train/fit.js';
import { escapeXml } from './escape.js';
import { lineChart, type Series } from './svg.js';
import { confusionTable } from './confusion.js';

/** One point of the accuracy-vs-labels curve: labelled examples per class, and the accuracy reached. */
export interface LabelsPoint {
  labels: number;
  accuracy: number;
}

/** What a report shows; every part but the title is optional. */
export interface ReportData {
  title: string;
  /** lines of facts shown first (model, data, time): [what, value] */
  details?: ReadonlyArray<readonly [string, string]>;
  /** fit's History: loss / accuracy and val_loss / val_accuracy per epoch */
  history?: History;
  /** the confusion matrix (rows: true class, columns: predicted), its class names, and on what it was counted */
  confusion?: { matrix: readonly (readonly number[])[]; classNames?: readonly string[]; what?: string };
  /** accuracy against labelled examples per class (the learning curve in labels) */
  labelsCurve?: readonly LabelsPoint[];
  /** what the labels curve's accuracy is measured on (its legend): default 'validation accuracy' */
  labelsCurveName?: string;
  /** the rows of a cut-depth sweep (eg.transfer.sweepCuts), best first */
  sweep?: ReadonlyArray<{ cut: string; featureShape: readonly number[]; params: number; valAccuracy: number; seconds: number }>;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:920px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f4f4f4}table.details th{text-align:left}td.recall{color:#555}.charts svg{margin-right:12px}`;

/** The report as an HTML string. */
export function trainingReport(r: ReportData): string {
  if (!r || typeof r.title !== 'string') throw new Error('edgegrad.report.html: needs { title, ... }');
  const body: string[] = [`<h1>${escapeXml(r.title)}</h1>`];
  if (r.details?.length) {
    body.push(`<table class="details">${r.details.map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td style="text-align:left">${escapeXml(v)}</td></tr>`).join('')}</table>`);
  }
  const h = r.history?.history;
  if (h) {
    const x = r.history!.epoch.map((e) => e + 1);
    const curve = (key: string, name: string, dashed = false): Series[] => (h[key]?.length ? [{ name, values: h[key], x: x.length === h[key].length ? x : undefined, dashed }] : []);
    const charts: string[] = [];
    const loss = [...curve('loss', 'training loss'), ...curve('val_loss', 'validation loss', true)];
    if (loss.length) charts.push(lineChart(loss, { title: 'Loss per epoch', xLabel: 'epoch', yLabel: 'loss' }));
    const acc = [...curve('accuracy', 'training accuracy'), ...curve('val_accuracy', 'validation accuracy', true)];
    if (acc.length) charts.push(lineChart(acc, { title: 'Accuracy per epoch', xLabel: 'epoch', yLabel: 'accuracy', yRange: [0, 1], percent: true }));
    if (charts.length) body.push('<h2>Training</h2>', `<div class="charts">${charts.join('\n')}</div>`);
  }
  if (r.confusion) {
    const total = r.confusion.matrix.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0);
    const right = r.confusion.matrix.reduce((s, row, i) => s + (row[i] ?? 0), 0);
    body.push(`<h2>Confusion matrix${r.confusion.what ? ` (${escapeXml(r.confusion.what)})` : ''}</h2>`,
      `<p>${total} examples, ${right} right (${total ? ((right / total) * 100).toFixed(1) : '0.0'}%). Rows: true class; columns: predicted class.</p>`,
      confusionTable(r.confusion.matrix, r.confusion.classNames));
  }
  if (r.labelsCurve?.length) {
    const pts = r.labelsCurve.slice().sort((a, b) => a.labels - b.labels);
    body.push('<h2>Accuracy against labels</h2>',
      lineChart([{ name: r.labelsCurveName ?? 'validation accuracy', values: pts.map((p) => p.accuracy), x: pts.map((p) => p.labels) }], { title: 'Accuracy vs labelled examples per class', xLabel: 'labelled examples per class', yLabel: 'accuracy', yRange: [0, 1], percent: true }),
      `<table><tr><th>labels per class</th>${pts.map((p) => `<td>${p.labels}</td>`).join('')}</tr><tr><th>accuracy</th>${pts.map((p) => `<td>${(p.accuracy * 100).toFixed(1)}%</td>`).join('')}</tr></table>`);
  }
  if (r.sweep?.length) {
    body.push('<h2>Where to cut the backbone</h2>', '<table><tr><th>cut</th><th>features</th><th>head params</th><th>validation accuracy</th><th>time</th></tr>',
      ...r.sweep.map((s) => `<tr><td style="text-align:left">${escapeXml(s.cut)}</td><td>${s.featureShape.join('x')}</td><td>${s.params}</td><td>${(s.valAccuracy * 100).toFixed(1)}%</td><td>${s.seconds.toFixed(1)} s</td></tr>`), '</table>');
  }
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(r.title)}</title><style>${STYLE}</style></head>\n<body>\n${body.join('\n')}\n</body></html>\n`;
}
