// The confusion matrix (rows: true class, columns: predicted class, as scikit-learn's confusion_matrix) of a
// classifier on labelled examples, and its HTML table for the report.
import { Tensor } from '../tensor.js';
import type { Model } from '../model.js';
import type { GraphModel } from '../graph-model.js';
import { rowsOf } from '../data/rows.js';
import { escapeXml } from './escape.js';

/**
 * counts[t][p]: how many examples of true class t the scores put in class p (arg-max of each row of `scores`,
 * `classes` values per row; ties to the lowest index). `labels` holds class indices.
 */
export function confusionCounts(scores: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number[][] {
  const n = labels.length;
  if (!(Number.isInteger(classes) && classes >= 1)) throw new Error(`edgegrad.confusionMatrix: classes must be a positive integer, got ${classes}`);
  if (scores.length !== n * classes) throw new Error(`edgegrad.confusionMatrix: ${scores.length} scores for ${n} labels of ${classes} classes (expected ${n * classes})`);
  const m = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < n; i++) {
    const t = labels[i];
    if (!(Number.isInteger(t) && t >= 0 && t < classes)) throw new Error(`edgegrad.confusionMatrix: label ${i} is ${t}, not a class index in [0, ${classes})`);
    let best = 0;
    for (let c = 1; c < classes; c++) if (scores[i * classes + c] > scores[i * classes + best]) best = c;
    m[t][best]++;
  }
  return m;
}

/**
 * The confusion matrix of `model` on (x, y): rows are the true classes, columns the predicted ones (arg-max of
 * the model's [batch, classes] output). y holds class indices [n] or one-hot rows [n, classes]. Predicts in
 * batches of `batchSize` (default 64), on any backend.
 */
export async function confusionMatrix(model: Model | GraphModel, x: Tensor, y: Tensor, opts: { batchSize?: number } = {}): Promise<number[][]> {
  if (!(x instanceof Tensor) || !(y instanceof Tensor)) throw new Error('edgegrad.confusionMatrix: x and y must be Tensors');
  const n = x.shape[0], bs = opts.batchSize ?? 64;
  if (!(Number.isInteger(bs) && bs >= 1)) throw new Error(`edgegrad.confusionMatrix: batchSize must be a positive integer, got ${bs}`);
  if (y.shape[0] !== n) throw new Error(`edgegrad.confusionMatrix: ${n} examples in x but ${y.shape[0]} in y`);
  let classes = 0;
  const scores: number[] = [];
  for (let s = 0; s < n; s += bs) {
    const rows = rowsOf(x, s, Math.min(n, s + bs));
    const out = model.predict(rows);
    if (!(out instanceof Tensor) || out.rank !== 2) throw new Error(`edgegrad.confusionMatrix: model '${model.name}' must give one [batch, classes] output${out instanceof Tensor ? `, got ${JSON.stringify(out.shape)}` : ''}`);
    classes = out.shape[1];
    for (const v of await out.data()) scores.push(v); // a GPU's outputs read back asynchronously
    rows.dispose(); out.dispose();
  }
  const yv = await y.data();
  let labels: ArrayLike<number> = yv;
  if (y.rank === 2) {
    if (y.shape[1] !== classes) throw new Error(`edgegrad.confusionMatrix: y is one-hot [${y.shape}], the model gives ${classes} classes`);
    labels = Array.from({ length: n }, (_, i) => { let b = 0; for (let c = 1; c < classes; c++) if (yv[i * classes + c] > yv[i * classes + b]) b = c; return b; });
  } else if (y.rank !== 1) throw new Error(`edgegrad.confusionMatrix: y must be class indices [n] or one-hot [n, classes], got ${JSON.stringify(y.shape)}`);
  return confusionCounts(scores, labels, classes);
}

/**
 * The matrix as an HTML table: a header row of predicted classes, a row per true class, each cell shaded by
 * its share of the row (the diagonal in blue, errors in red), with per-class recall at the end.
 */
export function confusionTable(matrix: readonly (readonly number[])[], classNames?: readonly string[]): string {
  const k = matrix.length;
  if (matrix.some((r) => r.length !== k)) throw new Error(`edgegrad.report: the confusion matrix must be square (${k} rows, rows of ${matrix.map((r) => r.length).join(', ')})`);
  if (classNames && classNames.length !== k) throw new Error(`edgegrad.report: ${classNames.length} class names for a ${k}x${k} confusion matrix`);
  const name = (i: number) => escapeXml(classNames?.[i] ?? String(i));
  const out = ['<table class="confusion">', `<tr><th class="corner">true \\ predicted</th>${matrix.map((_, j) => `<th>${name(j)}</th>`).join('')}<th>recall</th></tr>`];
  matrix.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    const cells = row.map((v, j) => {
      const share = total ? v / total : 0, a = Math.round(share * 100) / 100;
      const bg = v === 0 ? '#fff' : i === j ? `rgba(31,119,180,${Math.max(0.1, a)})` : `rgba(214,39,40,${Math.max(0.15, a)})`;
      return `<td class="cell" data-true="${i}" data-pred="${j}" style="background:${bg}${a > 0.6 ? ';color:#fff' : ''}">${v}</td>`;
    });
    out.push(`<tr><th>${name(i)}</th>${cells.join('')}<td class="recall">${total ? `${((row[i] / total) * 100).toFixed(1)}%` : '-'}</td></tr>`);
  });
  out.push('</table>');
  return out.join('\n');
}
