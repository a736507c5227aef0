// Class names travel with the model: stored in the ONNX file's metadata_props ('edgegrad.classes', a JSON array),
// read back by loadModel, kept by save / toOnnx, settable on a built model; ONNX Runtime still runs the file.
// The command: finetune stores the folder names (and writes its HTML report), predict prints names and top-k
// probabilities, info lists them; finetune --cut auto prints the sweep and keeps its best cut.
import { describe, expect, it, beforeAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { encode as encodePng } from 'fast-png';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOrt, useBuild } from './helpers.js';
import * as eg from '../src/index.js';
import { main, topClasses } from '../src/cli/index.js';
import { CLASSES_KEY } from '../src/io/onnx/export/metadata.js';

const root = join(import.meta.dirname, '..');

/** The metadata_props of ONNX bytes, decoded independently of the importer. */
async function metadataOf(bytes: Uint8Array): Promise<Array<{ key: string; value: string }>> {
  const m = (await import('onnx-proto')) as unknown as { onnx?: { ModelProto: { decode(b: Uint8Array): { metadataProps: Array<{ key: string; value: string }> } } }; default?: { onnx: unknown } };
  const onnx = (m.onnx ?? (m.default as { onnx: typeof m.onnx }).onnx)!;
  return onnx.ModelProto.decode(bytes).metadataProps;
}

/** The file with its metadata_props replaced. */
async function withMetadata(bytes: Uint8Array, props: Array<{ key: string; value: string }>): Promise<Uint8Array> {
  const m = (await import('onnx-proto')) as unknown as { onnx?: unknown; default?: { onnx: unknown } };
  const onnx = (m.onnx ?? m.default!.onnx) as { ModelProto: { decode(b: Uint8Array): { metadataProps: unknown }; encode(x: unknown): { finish(): Uint8Array } } };
  const p = onnx.ModelProto.decode(bytes);
  p.metadataProps = props;
  return onnx.ModelProto.encode(p).finish();
}

/** Run the command in-process: exit code, what it printed, what it wrote to stderr. */
async function run(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [], err: string[] = [];
  const orig = console.error;
  console.error = (s: string) => { err.push(String(s)); };
  try {
    return { code: await main(argv, (s) => out.push(s)), out, err };
  } finally {
    console.error = orig;
  }
}

describe('class names in the model', () => {
  beforeAll(() => { useBuild('simd'); });

  const build = () => eg.sequential([eg.layers.dense({ units: 3, activation: 'softmax', inputShape: [4], seed: 2 })]);

  it('round trip: set on a built model, in the file, back from loadModel, kept by save and toOnnx', async () => {
    const m = build();
    expect(m.classNames).toBeUndefined();
    const names = ['cat <small>', 'dog & co', 'naïve "bird" 🐦'];
    m.classNames = names;
    names[0] = 'changed'; // the model keeps its own copy
    expect(m.classNames).toEqual(['cat <small>', 'dog & co', 'naïve "bird" 🐦']);
    const bytes = await eg.toOnnx(m);
    expect(await metadataOf(bytes)).toEqual([{ key: CLASSES_KEY, value: JSON.stringify(['cat <small>', 'dog & co', 'naïve "bird" 🐦']) }]);
    const back = await eg.loadModel(bytes);
    expect(back.classNames).toEqual(['cat <small>', 'dog & co', 'naïve "bird" 🐦']);
    // summary() lists them last, built or loaded
    expect(m.summary({ print: false }).split('\n').at(-1)).toBe('Classes (3): cat <small>, dog & co, naïve "bird" 🐦');
    expect(back.summary({ print: false }).split('\n').at(-1)).toBe('Classes (3): cat <small>, dog & co, naïve "bird" 🐦');
    expect(build().summary({ print: false })).not.toContain('Classes');
    // saved again from the imported model (file and bytes), and through a path
    expect((await eg.loadModel(await eg.toOnnx(back))).classNames).toEqual(back.classNames);
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-classes-'));
    await back.save(join(dir, 'm.onnx'));
    expect((await eg.loadModel(join(dir, 'm.onnx'))).classNames).toEqual(back.classNames);
    // quantized (int8, weights only, float16) they stay, and in the quantized file
    for (const q of [{ weights: 'int8' as const, activations: 'int8' as const, calibration: eg.randomNormal([8, 4], 0, 1, 3) }, { weights: 'int8' as const, activations: 'float32' as const }, { weights: 'float16' as const }]) {
      const small = await eg.quantize(back, q);
      expect(small.classNames, JSON.stringify(q.weights)).toEqual(back.classNames);
      expect((await eg.loadModel(await eg.toOnnx(small))).classNames).toEqual(back.classNames);
    }
    // renamed on the imported model
    back.classNames = ['a', 'b', 'c'];
    expect((await eg.loadModel(await eg.toOnnx(back))).classNames).toEqual(['a', 'b', 'c']);
    back.classNames = undefined;
    expect(await metadataOf(await eg.toOnnx(back))).toEqual([]);
    // ONNX Runtime runs the file with its metadata, with the same outputs
    const x = eg.randomUniform([5, 4], -1, 1, 3);
    const ort = await runOrt(bytes, x);
    const want = m.predict(x).dataSync();
    ort.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
  });

  it('a model without names has none; names that do not fit are refused, naming the model', async () => {
    const m = build();
    expect(await metadataOf(await eg.toOnnx(m))).toEqual([]);
    expect((await eg.loadModel(await eg.toOnnx(m))).classNames).toBeUndefined();
    expect((await eg.loadModel(join(root, 'models', 'digits-cnn.onnx'))).classNames).toBeUndefined();
    expect(() => { m.classNames = ['a', 'b']; }).toThrow(/model '.*'\.classNames has 2 names for an output of 3 classes/);
    expect(() => { m.classNames = ['a', 'b', 3] as never; }).toThrow(/classNames must be an array of strings/);
    const bytes = await eg.toOnnx(m);
    await expect(eg.loadModel(await withMetadata(bytes, [{ key: CLASSES_KEY, value: '["a", "b"' }]))).rejects.toThrow(/metadata 'edgegrad.classes' is not valid JSON/);
    await expect(eg.loadModel(await withMetadata(bytes, [{ key: CLASSES_KEY, value: '{"a": 1}' }]))).rejects.toThrow(/metadata 'edgegrad.classes' must be a JSON array of strings/);
    await expect(eg.loadModel(await withMetadata(bytes, [{ key: CLASSES_KEY, value: '["a"]' }]))).rejects.toThrow(/1 names for an output of 3 classes/);
    // other tools' metadata is left alone
    expect((await eg.loadModel(await withMetadata(bytes, [{ key: 'author', value: 'someone' }]))).classNames).toBeUndefined();
  });

  it('topClasses: a softmax row as it is, logits through softmax, ties to the lower index', () => {
    expect(topClasses([[0.1, 0.7, 0.2]], 2, ['a', 'b', 'c'])).toEqual([[{ index: 1, class: 'b', probability: 0.7 }, { index: 2, class: 'c', probability: 0.2 }]]);
    const [row] = topClasses([[2, 0, 1]], 3);
    const z = Math.exp(2) + 1 + Math.exp(1);
    expect(row.map((r) => r.class)).toEqual(['0', '2', '1']);
    row.forEach((r, i) => expect(r.probability).toBeCloseTo([Math.exp(2) / z, Math.exp(1) / z, 1 / z][i], 12));
    expect(topClasses([[0.5, 0.5]], 1)[0][0].index).toBe(0);
  });
});

describe('the command: finetune stores names and writes a report; predict and info use them', () => {
  beforeAll(() => { useBuild('simd'); });

  it('finetune --cut auto --labels-curve -> names in the file, the sweep, the report; predict --top; info', async () => {
    // three classes of shipped digits (5, 6, 7) in folders whose names need escaping in HTML
    const data = mkdtempSync(join(tmpdir(), 'edgegrad-names-data-'));
    const names = ['5 <five>', '6 & six', '7 "seven"'];
    const d = await eg.data.loadDigits(), px = d.images.dataSync(), seen = [0, 0, 0];
    for (let n = 0; n < 8000 && Math.min(...seen) < 24; n++) {
      const c = d.labels[n] - 5;
      if (c < 0 || c > 2 || seen[c] >= 24) continue;
      seen[c]++;
      mkdirSync(join(data, names[c]), { recursive: true });
      writeFileSync(join(data, names[c], `${n}.png`), encodePng({ width: 28, height: 28, data: Uint8Array.from(px.subarray(n * 784, (n + 1) * 784), (v) => Math.round(v * 255)), channels: 1, depth: 8 }));
    }
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-names-'));
    const out = join(dir, 'ft.onnx');
    const r = await run('finetune', join(root, 'models', 'digits-cnn.onnx'), '--data', data, '--cut', 'auto', '--epochs', '15', '--val', '0.25', '--labels-curve', '--out', out, '--json');
    expect(r.code, r.err.join('\n')).toBe(0);
    const j = JSON.parse(r.out.at(-1)!);
    expect(j.classes).toEqual(names);
    expect([j.train, j.validation]).toEqual([54, 18]);
    // the sweep tried every candidate cut, and the model was cut at the best one
    expect(j.sweep.map((s: { cut: string }) => s.cut).sort()).toEqual(['block1_conv', 'block1_pool', 'block2_conv', 'block2_pool', 'features', 'flatten']);
    expect(j.cut).toBe(j.sweep[0].cut);
    expect(j.sweep[0].valAccuracy).toBe(Math.max(...j.sweep.map((s: { valAccuracy: number }) => s.valAccuracy)));
    // the confusion matrix is over the 18 validation examples, and agrees with the final validation accuracy
    const cm = j.confusion as number[][];
    expect(cm.flat().reduce((a, b) => a + b, 0)).toBe(18);
    expect(cm.reduce((s, row, i) => s + row[i], 0) / 18).toBeCloseTo(j.valAccuracy, 6);
    // the labels curve: 1, 2, 5, 10 labels per class, then all of the smallest class's training examples
    const curve = j.labelsCurve as Array<{ labels: number; examples: number; accuracy: number }>;
    expect(curve.slice(0, 4).map((p) => p.labels)).toEqual([1, 2, 5, 10]);
    expect(curve.length).toBe(5);
    expect(curve[4].labels).toBeGreaterThan(10);
    expect(curve[4].labels).toBeLessThanOrEqual(18);
    for (const p of curve) { expect(p.examples).toBe(3 * p.labels); expect(p.accuracy).toBeGreaterThanOrEqual(0); expect(p.accuracy).toBeLessThanOrEqual(1); }
    // the names are in the file
    const m = await eg.loadModel(out);
    expect(m.classNames).toEqual(names);
    // the report beside it: self-contained, names escaped, every validation example in the matrix
    expect(j.report).toBe(join(dir, 'ft.report.html'));
    const html = readFileSync(j.report, 'utf8');
    expect(html).not.toMatch(/<script|src=|href=/i);
    expect(html).toContain('5 &lt;five&gt;');
    expect(html).toContain('6 &amp; six');
    expect(html).not.toContain('<five>');
    const cells = [...html.matchAll(/<td class="cell"[^>]*>(\d+)<\/td>/g)].map((c) => Number(c[1]));
    expect(cells.length).toBe(9);
    expect(cells.reduce((a, b) => a + b, 0)).toBe(18);
    expect(html).toContain('Accuracy vs labelled examples per class');
    expect(html).toContain('Where to cut the backbone');
    // predict prints the names and the top-k probabilities of the model's own output
    const img = join(data, names[1], readdirSync(join(data, names[1]))[0]);
    const p = await run('predict', out, img, '--top', '2', '--json');
    expect(p.code, p.err.join('\n')).toBe(0);
    const pj = JSON.parse(p.out[0]);
    expect(pj.classes).toEqual(names);
    const probs = pj.output[0] as number[];
    const order = [0, 1, 2].sort((a, b) => probs[b] - probs[a]);
    expect(pj.top[0].map((t: { class: string }) => t.class)).toEqual(order.slice(0, 2).map((i) => names[i]));
    expect(pj.top[0][0].probability).toBeCloseTo(probs[order[0]], 6);
    const text = await run('predict', out, img, '--top', '3');
    expect(text.out[0]).toMatch(/3 most likely per row/);
    expect(text.out[1]).toMatch(new RegExp(`^  ${names[order[0]].replace(/[.*+?^${}()|[\]\\"]/g, '\\$&')} \\d+\\.\\d%, `));
    expect(text.out[1].split(', ').length).toBe(3);
    // info lists them
    const info = await run('info', out);
    expect(info.out[0]).toContain(`Classes (3): ${names.join(', ')}`);
    expect(JSON.parse((await run('info', out, '--json')).out[0]).classes).toEqual(names);
    // --no-report writes none; --top needs a number; --cut auto needs a validation split
    const out2 = join(dir, 'b.onnx');
    expect((await run('finetune', join(root, 'models', 'digits-cnn.onnx'), '--data', data, '--cut', 'flatten', '--epochs', '1', '--no-report', '--out', out2, '--json')).code).toBe(0);
    expect(existsSync(join(dir, 'b.report.html'))).toBe(false);
    const bad = await run('predict', out, img, '--top', 'x');
    expect(bad.code).toBe(2);
    expect(bad.err[0]).toMatch(/--top needs a positive integer, got 'x'/);
    const noVal = await run('finetune', join(root, 'models', 'digits-cnn.onnx'), '--data', data, '--cut', 'auto', '--val', '0', '--out', out2);
    expect(noVal.code).toBe(2);
    expect(noVal.err[0]).toMatch(/--cut auto picks the cut on the validation split: give --val > 0/);
  }, 60_000);

  it('finetune --cut auto on an NCHW model (PyTorch) with JSON data: the sweep feeds NCHW, the head takes its cut NHWC', async () => {
    const d = await eg.data.loadDigits();
    const idx: number[] = [];
    for (let n = 0; n < 8000 && idx.length < 90; n++) if (d.labels[n] >= 7) idx.push(n);
    const px = d.images.dataSync();
    const x = idx.map((n) => [Array.from({ length: 28 }, (_, r) => Array.from(px.subarray(n * 784 + r * 28, n * 784 + r * 28 + 28)))]);
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-names-nchw-'));
    writeFileSync(join(dir, 'd.json'), JSON.stringify({ x, y: idx.map((n) => d.labels[n] - 7), classes: ['seven', 'eight', 'nine'] }));
    const base = await eg.loadModel(join(root, 'test', 'fixtures', 'mnist_cnn.onnx'));
    expect(base.inputNchw).toBe(true);
    const r = await run('finetune', join(root, 'test', 'fixtures', 'mnist_cnn.onnx'), '--data', join(dir, 'd.json'), '--cut', 'auto', '--epochs', '10', '--val', '0.3', '--out', join(dir, 'ft.onnx'), '--json');
    expect(r.code, r.err.join('\n')).toBe(0);
    const j = JSON.parse(r.out.at(-1)!);
    expect(j.sweep.map((s: { cut: string }) => s.cut).sort()).toEqual((await eg.transfer.cutCandidates(base)).sort());
    expect(j.cut).toBe(j.sweep[0].cut);
    // the validation accuracy the sweep saw for its pick and the fine-tuned model's are both real (3 classes)
    expect(j.sweep[0].valAccuracy).toBeGreaterThan(0.6);
    expect(j.valAccuracy).toBeGreaterThan(0.6);
    const m = await eg.loadModel(join(dir, 'ft.onnx'));
    expect(m.classNames).toEqual(['seven', 'eight', 'nine']);
    // --folds 3: the sweep cross-validates over the training examples; with --val 0 all 90 of them
    const cv = await run('finetune', join(root, 'test', 'fixtures', 'mnist_cnn.onnx'), '--data', join(dir, 'd.json'), '--cut', 'auto', '--folds', '3', '--val', '0', '--epochs', '5', '--no-report', '--out', join(dir, 'cv.onnx'), '--json');
    expect(cv.code, cv.err.join('\n')).toBe(0);
    const c = JSON.parse(cv.out.at(-1)!);
    expect(c.validation).toBe(0);
    expect(c.cut).toBe(c.sweep[0].cut);
    for (const row of c.sweep) {
      expect(row.foldAccuracies).toHaveLength(3);
      expect(row.valAccuracy).toBeCloseTo(row.foldAccuracies.reduce((a: number, b: number) => a + b, 0) / 3, 10); // 30 per fold
    }
    const bad = await run('finetune', join(root, 'test', 'fixtures', 'mnist_cnn.onnx'), '--data', join(dir, 'd.json'), '--cut', '/Elu', '--folds', '3', '--out', join(dir, 'cv.onnx'));
    expect([bad.code, bad.err[0].split('\n')[0]]).toEqual([2, 'edgegrad: --folds cross-validates the cut sweep: give it with --cut auto']);
  }, 60_000);
});
