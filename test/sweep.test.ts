// The cut-depth sweep (eg.transfer.sweepCuts): every candidate cut is evaluated, the rows come best first, the
// features at a cut are exactly base.cut(name).predict(x), a cut that destroys information (zeroed weights) scores
// at chance while a real one does not, and the shipped digits-cnn's features reach real accuracy on digits 5-9.
import { describe, expect, it, beforeAll } from 'vitest';
import { useBuild } from './helpers.js';
import * as eg from '../src/index.js';
import { headDefaults, trainHead } from '../src/transfer/head.js';
import { stratifiedFolds } from '../src/transfer/sweep.js';

/** The first `per` examples of each digit 5-9 in [from, to) of the shipped digits, labels 0-4. */
async function digits59(per: number, from: number, to: number): Promise<{ x: eg.Tensor; y: eg.Tensor }> {
  const d = await eg.data.loadDigits();
  const byClass: number[][] = [[], [], [], [], []];
  for (let i = from; i < to; i++) if (d.labels[i] >= 5 && byClass[d.labels[i] - 5].length < per) byClass[d.labels[i] - 5].push(i);
  // interleaved by class (5, 6, 7, 8, 9, 5, ...), so that a split from the end holds every class
  const idx = byClass[0].flatMap((_, k) => byClass.map((c) => c[k]).filter((i) => i !== undefined));
  return { x: eg.data.gather(d.images, idx), y: eg.tensor(Int32Array.from(idx, (i) => d.labels[i] - 5), [idx.length], 'int32') };
}

describe('eg.transfer.sweepCuts', () => {
  beforeAll(() => { useBuild('simd'); });

  it('candidates of the shipped digits-cnn: each block, not the logits under the softmax', async () => {
    const base = await eg.loadModel('models/digits-cnn.onnx');
    expect(await eg.transfer.cutCandidates(base)).toEqual(['block1_conv', 'block1_pool', 'block2_conv', 'block2_pool', 'flatten', 'features']);
    const mb = await eg.loadModel('models/mobilenet-v2-features.onnx');
    const c = await eg.transfer.cutCandidates(mb);
    // block boundaries only: a residual block's add, never a node inside its branch; no padding nodes
    expect(c).toContain('block_2_add');
    expect(c).not.toContain('block_2_expand_relu/relu6');
    expect(c.some((n) => /pad/.test(n))).toBe(false);
    // after a conv's batch norm and activation, not between them
    expect(c).toContain('block_1_project_BN');
    expect(c).toContain('Conv1_relu/relu6');
    expect(c).not.toContain('block_1_project');
    expect(c).not.toContain('bn_Conv1');
    for (const n of c) expect(mb.nodeNames).toContain(n);
  });

  it('the features at a cut equal base.cut(name).predict(x), for an imported graph and a built model', async () => {
    const base = await eg.loadModel('models/digits-cnn.onnx');
    const x = eg.randomUniform([37, 28, 28, 1], 0, 1, 4);
    for (const at of ['block1_pool', 'flatten']) {
      const got = await eg.transfer.cutFeatures(base, at, x, { batchSize: 8 });
      const want = base.cut(at).predict(x);
      expect(got.shape).toEqual(want.shape);
      expect(Array.from(got.dataSync())).toEqual(Array.from(want.dataSync()));
    }
    const m = eg.sequential([
      eg.layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1], seed: 1 }),
      eg.layers.maxPool2d({ name: 'p1', poolSize: 2 }),
      eg.layers.flatten({ name: 'f' }),
      eg.layers.dense({ name: 'out', units: 3, activation: 'softmax', seed: 2 }),
    ]);
    expect(await eg.transfer.cutCandidates(m)).toEqual(['c1', 'p1', 'f']);
    const xm = eg.randomUniform([10, 8, 8, 1], 0, 1, 5);
    expect(Array.from((await eg.transfer.cutFeatures(m, 'p1', xm, { batchSize: 3 })).dataSync())).toEqual(Array.from(m.cut('p1').predict(xm).dataSync()));
  });

  it('evaluates every candidate, best first; a cut through zeroed weights scores at chance, the input at far more', async () => {
    // three well separated classes of 16-d points; 'pass' keeps them (a random 16 -> 16 map), 'zero' maps everything to 0
    const n = 120, x = new Float32Array(n * 16), y = new Int32Array(n);
    let s = 3;
    const r = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < n; i++) { y[i] = i % 3; for (let j = 0; j < 16; j++) x[i * 16 + j] = (j % 3 === y[i] ? 2 : 0) + r() - 0.5; }
    const zero = eg.layers.dense({ name: 'zero', units: 8, seed: 1 });
    const base = eg.sequential([eg.layers.dense({ name: 'pass', units: 16, inputShape: [16], seed: 4 }), zero, eg.layers.dense({ name: 'after', units: 4, seed: 5 }), eg.layers.dense({ name: 'out2', units: 3, activation: 'softmax', seed: 6 })]);
    zero.setWeights([eg.zeros([16, 8]), eg.zeros([8])]);
    const seen: string[] = [];
    const sw = await eg.transfer.sweepCuts(base, eg.tensor(x, [n, 16]), eg.tensor(y, [n], 'int32'), { validationSplit: 0.25, epochs: 40, learningRate: 0.05, onCut: (row) => { seen.push(row.cut); } });
    expect(seen).toEqual(['pass', 'zero', 'after']);
    expect(sw.rows.map((row) => row.cut).sort()).toEqual(['after', 'pass', 'zero']);
    expect(sw.train).toBe(90);
    expect(sw.validation).toBe(30);
    const acc = Object.fromEntries(sw.rows.map((row) => [row.cut, row.valAccuracy]));
    // everything after the zeroed layer is constant: the head can only guess one class (10 of 30)
    expect(acc.zero).toBeCloseTo(1 / 3, 5);
    expect(acc.after).toBeCloseTo(1 / 3, 5);
    expect(acc.pass).toBeGreaterThan(0.9);
    expect(sw.best.cut).toBe('pass');
    expect(sw.best.valAccuracy).toBe(Math.max(...sw.rows.map((row) => row.valAccuracy)));
    for (let i = 1; i < sw.rows.length; i++) expect(sw.rows[i - 1].valAccuracy).toBeGreaterThanOrEqual(sw.rows[i].valAccuracy);
    // the head: a softmax probe on 16 features -> 3 classes (16*3 + 3), on 8 -> 27
    expect(sw.rows.find((row) => row.cut === 'pass')!.params).toBe(51);
    expect(sw.rows.find((row) => row.cut === 'zero')!.params).toBe(27);
  });

  it('digits-cnn on digits 5-9 at 20 labels per class: every cut trained, the best one reaches real accuracy', async () => {
    const base = await eg.loadModel('models/digits-cnn.onnx');
    const train = await digits59(20, 0, 8000), val = await digits59(40, 8000, 10000);
    const sw = await eg.transfer.sweepCuts(base, train.x, train.y, { validationData: [val.x, val.y], epochs: 25 });
    expect(sw.rows.length).toBe(6);
    expect(new Set(sw.rows.map((r) => r.cut))).toEqual(new Set(await eg.transfer.cutCandidates(base)));
    expect(sw.train).toBe(100);
    expect(sw.validation).toBe(200);
    const row = (c: string) => sw.rows.find((r) => r.cut === c)!;
    expect(row('flatten').featureShape).toEqual([1568]);
    expect(row('flatten').pool).toBe('none');
    expect(row('block1_pool').featureShape).toEqual([14, 14, 16]);
    expect(row('block1_pool').pool).toBe('flatten');
    expect(row('block1_conv').pool).toBe('flatten'); // 12,544 values: under the 16,384 limit
    expect(row('features').backboneParams).toBeGreaterThan(row('flatten').backboneParams);
    // the chosen cut is the best validation accuracy, checked on the validation set by hand
    expect(sw.best.valAccuracy).toBe(Math.max(...sw.rows.map((r) => r.valAccuracy)));
    expect(sw.best.valAccuracy).toBeGreaterThan(0.8);
    for (const r of sw.rows) expect(r.valAccuracy).toBeGreaterThan(0.3);
  }, 60_000);

  it('folds: k-fold cross-validation, every example scored once; each fold is the head trained without it', async () => {
    const base = await eg.loadModel('models/digits-cnn.onnx');
    const train = await digits59(10, 0, 8000); // 50 examples, interleaved by class
    const opts = { epochs: 8, batchSize: 16, learningRate: 3e-3, seed: 2 };
    const sw = await eg.transfer.sweepCuts(base, train.x, train.y, { ...opts, candidates: ['block2_pool', 'features'], folds: 5 });
    expect([sw.folds, sw.train, sw.validation]).toEqual([5, 40, 50]);
    for (const r of sw.rows) {
      expect(r.foldAccuracies).toHaveLength(5);
      expect(r.valAccuracy).toBeCloseTo(r.foldAccuracies!.reduce((a, b) => a + b, 0) / 5, 12); // equal folds of 10
    }
    // real accuracy: every fold holds every class (folds by position would hold one class each here: the data
    // cycles through the five digits, and each fold would score 0 on a class its head never saw)
    expect(sw.best.valAccuracy).toBeGreaterThan(0.6);
    const fold = stratifiedFolds(train.y, 5), yv = train.y.dataSync();
    for (let k = 0; k < 5; k++) expect(new Set(Array.from(yv).filter((_, i) => fold[i] === k))).toEqual(new Set([0, 1, 2, 3, 4]));
    // fold 2 of 'block2_pool' by hand: the 3rd and 8th example of each class held out, the head trained on the other 40
    const f = await eg.transfer.cutFeatures(base, 'block2_pool', train.x);
    const rank = Array.from(yv, (c, i) => Array.from(yv).slice(0, i).filter((d) => d === c).length);
    const va = rank.flatMap((r, i) => (r % 5 === 2 ? [i] : [])), tr = rank.flatMap((r, i) => (r % 5 !== 2 ? [i] : []));
    expect(va.length).toBe(10);
    const ref = await trainHead(eg.data.gather(f, tr), eg.data.gather(train.y, tr), eg.data.gather(f, va), eg.data.gather(train.y, va), 5, headDefaults(opts, 'test'));
    expect(sw.rows.find((r) => r.cut === 'block2_pool')!.foldAccuracies![2]).toBe(ref.valAccuracy);
    await expect(eg.transfer.sweepCuts(base, train.x, train.y, { folds: 5, validationData: [train.x, train.y] })).rejects.toThrow(/give folds or validationData, not both/);
    await expect(eg.transfer.sweepCuts(base, train.x, train.y, { folds: 1 })).rejects.toThrow(/folds must be an integer in \[2, 50\]/);
  });

  it('maps under a global-average head are averaged as they come: the same head as a GAP layer on the maps', async () => {
    const base = await eg.loadModel('models/digits-cnn.onnx');
    const train = await digits59(12, 0, 8000), val = await digits59(12, 8000, 10000);
    const opts = { epochs: 5, batchSize: 16, learningRate: 1e-2, seed: 3 };
    const sw = await eg.transfer.sweepCuts(base, train.x, train.y, { ...opts, candidates: ['block2_conv'], validationData: [val.x, val.y], head: { pool: 'gap' } });
    const [row] = sw.rows;
    expect([row.featureShape, row.pool, row.params]).toEqual([[14, 14, 32], 'gap', 32 * 5 + 5]);
    // the reference: the full maps, through the global average pooling layer, the same seeds
    const f = await eg.transfer.cutFeatures(base, 'block2_conv', train.x), vf = await eg.transfer.cutFeatures(base, 'block2_conv', val.x);
    const ref = await trainHead(f, train.y, vf, val.y, 5, headDefaults({ ...opts, pool: 'gap' }, 'test'));
    expect(ref.pool).toBe('gap');
    expect(row.valAccuracy).toBeCloseTo(ref.valAccuracy, 6);
    expect(row.valLoss).toBeCloseTo(ref.valLoss, 4);
  });

  it('an NCHW model (PyTorch): x as the model takes it, maps handed to the head NHWC', async () => {
    const base = await eg.loadModel('test/fixtures/mnist_cnn.onnx');
    const cands = await eg.transfer.cutCandidates(base);
    expect(cands.length).toBeGreaterThan(2);
    const n = 40, x = eg.randomUniform([n, 1, 28, 28], 0, 1, 8), y = eg.tensor(Int32Array.from({ length: n }, (_, i) => i % 2), [n], 'int32');
    const sw = await eg.transfer.sweepCuts(base, x, y, { epochs: 1, validationSplit: 0.25 });
    expect(sw.rows.length).toBe(cands.length);
    for (const r of sw.rows) {
      const s = base.cut(r.cut).predict(eg.data.slice(x, 0, 1)).shape.slice(1);
      // a map leaves the cut [C, H, W] (the file's layout); the head saw it as [H, W, C]
      expect(r.featureShape).toEqual(s.length === 3 ? [s[1], s[2], s[0]] : s);
    }
  });

  it('errors name what was wrong', async () => {
    const base = await eg.loadModel('models/digits-cnn.onnx');
    const x = eg.zeros([10, 28, 28, 1]), y = eg.tensor(Int32Array.from({ length: 10 }, (_, i) => i % 2), [10], 'int32');
    await expect(eg.transfer.sweepCuts(base, x, y, { candidates: ['flaten'] })).rejects.toThrow(/no node 'flaten' \(similar: flatten/);
    await expect(eg.transfer.sweepCuts(base, x, eg.zeros([9]))).rejects.toThrow(/10 examples in x but 9 labels/);
    await expect(eg.transfer.sweepCuts(base, x, y, { validationSplit: 0.01 })).rejects.toThrow(/validationSplit 0.01 of 10 examples leaves no validation/);
    await expect(eg.transfer.sweepCuts(base, x, y, { head: { pool: 'max' as never } })).rejects.toThrow(/head.pool must be 'auto', 'flatten' or 'gap'/);
    await expect(eg.transfer.sweepCuts(base, x, y, { epochs: 0 })).rejects.toThrow(/epochs must be a positive integer/);
  });
});
