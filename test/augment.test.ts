// Augmentation and noise layers: identity at inference (randomCrop: the centre), known answers in training
// (flips mirror, a quarter turn rotates, integer shifts shift, zooms scale about the centre), the backward pass
// as the exact adjoint of the resampling (<A x, g> = <x, Aᵀ g>), value adjustments against plain formulas and
// finite differences, noise statistics, seeding, and models that train through them on every backend build.
import { describe, expect, it } from 'vitest';
import * as eg from '../src/index.js';
import { BACKENDS, randArr, t, useBuild, expectClose, rng, dot } from './helpers.js';
import { runEager } from '../src/graph/eager.js';
import { Tensor } from '../src/tensor.js';

const N = 6, H = 8, W = 8, C = 2;
const img = (seed: number, n = N, h = H, w = W): Tensor => t(randArr([n, h, w, C], seed, 0, 1));
const px = (v: ArrayLike<number>, n: number, y: number, x: number, c: number, h = H, w = W): number => v[((n * h + y) * w + x) * C + c];

/** Run one augmentation op in training; returns [y, saved parameters]. */
const train = (op: string, x: Tensor, attrs: Record<string, unknown>): Tensor[] => runEager(op, [x], attrs, { training: true });

describe.each(BACKENDS)('augmentation ops (%s)', (build) => {
  it('horizontal flips mirror each image or leave it, and both happen', () => {
    useBuild(build);
    const x = img(1, 32), xv = x.dataSync();
    const [y] = train('randomAffine', x, { flip: 'horizontal', interpolation: 'nearest' });
    const yv = y.dataSync();
    let flipped = 0;
    for (let n = 0; n < 32; n++) {
      const same = Array.from({ length: H * W * C }, (_, i) => i).every((i) => yv[n * H * W * C + i] === xv[n * H * W * C + i]);
      const mirror = [...Array(H).keys()].every((r) => [...Array(W).keys()].every((c) => px(yv, n, r, c, 0) === px(xv, n, r, W - 1 - c, 0) && px(yv, n, r, c, 1) === px(xv, n, r, W - 1 - c, 1)));
      expect(same || mirror, `image ${n}`).toBe(true);
      flipped += mirror ? 1 : 0;
    }
    expect(flipped).toBeGreaterThan(4);
    expect(flipped).toBeLessThan(28);
  });

  it('a quarter turn rotates counter-clockwise; integer shifts shift with the fill; zoom scales about the centre', () => {
    useBuild(build);
    const x = img(2), xv = x.dataSync();
    const [r] = train('randomAffine', x, { rotation: [0.25, 0.25], fillMode: 'constant' });
    // counter-clockwise by 90 degrees: output (row, col) shows input (col, W - 1 - row)
    const want = Array.from({ length: N * H * W * C }, (_, i) => {
      const c = i % C, col = Math.floor(i / C) % W, row = Math.floor(i / (C * W)) % H, n = Math.floor(i / (C * W * H));
      return px(xv, n, col, W - 1 - row, c);
    });
    expectClose(r.dataSync(), want, 1e-5, 'rot90');
    const [s] = train('randomAffine', x, { translate: { h: [0.25, 0.25], w: [-0.125, -0.125] }, fillMode: 'constant', fillValue: -1 });
    const sv = s.dataSync();
    for (let n = 0; n < N; n++) {
      for (let row = 0; row < H; row++) {
        for (let col = 0; col < W; col++) {
          // content moves down by 2 and left by 1
          const from = [row - 2, col + 1];
          expect(px(sv, n, row, col, 1)).toBeCloseTo(from[0] >= 0 && from[1] < W ? px(xv, n, from[0], from[1], 1) : -1, 5);
        }
      }
    }
    const [z] = train('randomAffine', x, { zoom: { h: [1, 1] }, fillMode: 'nearest', interpolation: 'nearest' });
    // zoom out by 2 (factor 1): output (r, c) samples the input at centre + 2 (r - centre), clamped at the edges
    const zv = z.dataSync(), near = (v: number): number => Math.min(W - 1, Math.max(0, Math.floor(3.5 + 2 * (v - 3.5) + 0.5)));
    for (const [row, col] of [[0, 0], [3, 4], [5, 2], [7, 7]]) expect(px(zv, 2, row, col, 0)).toBe(px(xv, 2, near(row), near(col), 0));
  });

  it('the backward pass is the exact adjoint of the resampling, for every fill mode and interpolation', () => {
    useBuild(build);
    for (const fillMode of ['reflect', 'wrap', 'constant', 'nearest']) {
      for (const interpolation of ['bilinear', 'nearest']) {
        const x = img(3);
        const attrs = { rotation: [-0.2, 0.2], zoom: { h: [-0.3, 0.4], w: [-0.2, 0.5] }, translate: { h: [-0.3, 0.3], w: [-0.3, 0.3] }, flip: 'horizontal_and_vertical', fillMode, interpolation, fillValue: 0 };
        const [y, mats] = train('randomAffine', x, attrs);
        const g = t(randArr([N, H, W, C], 4));
        const [dx] = runEager('randomAffineGrad', [g, mats, x], attrs);
        expect(dot(y.dataSync(), g.dataSync())).toBeCloseTo(dot(x.dataSync(), dx.dataSync()), 3);
      }
    }
    // crops: random windows in training, the centre at inference
    const x = img(5), xv = x.dataSync();
    const [cy, cm] = train('randomAffine', x, { crop: [5, 3], interpolation: 'nearest' });
    const off = cm.dataSync();
    for (let n = 0; n < N; n++) {
      expect(px(cy.dataSync(), n, 4, 2, 1, 5, 3)).toBe(px(xv, n, 4 + off[n * 6 + 5], 2 + off[n * 6 + 2], 1));
      expect(Number.isInteger(off[n * 6 + 2]) && off[n * 6 + 2] <= W - 3 && off[n * 6 + 5] <= H - 5).toBe(true);
    }
    const [center] = runEager('randomAffine', [x], { crop: [5, 3], interpolation: 'nearest' });
    expect(px(center.dataSync(), 1, 0, 0, 0, 5, 3)).toBe(px(xv, 1, 1, 2, 0));
  });

  it('contrast and brightness: per image and channel, clipped, gradients by finite differences', () => {
    useBuild(build);
    const x = img(6), xv = x.dataSync();
    const [c] = train('imageAdjust', x, { kind: 'contrast', range: [2, 2], valueRange: [-10, 10] });
    const cv = c.dataSync();
    for (let n = 0; n < N; n++) {
      for (let ch = 0; ch < C; ch++) {
        let mean = 0;
        for (let i = 0; i < H * W; i++) mean += xv[(n * H * W + i) * C + ch];
        mean /= H * W;
        for (const i of [0, 17, 63]) expect(cv[(n * H * W + i) * C + ch]).toBeCloseTo(2 * xv[(n * H * W + i) * C + ch] - mean, 5);
      }
    }
    const [b, bp] = train('imageAdjust', x, { kind: 'brightness', range: [-0.5, 0.5], valueRange: [0, 1] });
    const shift = bp.dataSync(), bv = b.dataSync();
    for (let n = 0; n < N; n++) expect(bv[n * H * W * C + 3]).toBeCloseTo(Math.min(1, Math.max(0, xv[n * H * W * C + 3] + shift[n * C * 4 + 2])), 5);
    // gradient of sum(g * y) w.r.t. x with the drawn parameters fixed (contrast: the mean's share included)
    for (const kind of ['contrast', 'brightness']) {
      const attrs = { kind, range: kind === 'contrast' ? [0.5, 1.5] : [-0.3, 0.3], valueRange: [0.1, 0.9] };
      const [y, p] = train('imageAdjust', x, attrs);
      const g = randArr([N, H, W, C], 7);
      const [dx] = runEager('imageAdjustGrad', [t(g), p, x], attrs);
      const pv = p.dataSync(), dxv = dx.dataSync();
      const f = (v: Float64Array, n: number, ch: number): number => {
        let mean = 0;
        for (let i = 0; i < H * W; i++) mean += v[(n * H * W + i) * C + ch];
        mean /= H * W;
        let s = 0;
        const q = (n * C + ch) * 4;
        for (let i = 0; i < H * W; i++) { const o = (n * H * W + i) * C + ch; s += g.data[o] * Math.min(0.9, Math.max(0.1, pv[q] * v[o] + pv[q + 1] * mean + pv[q + 2])); }
        return s;
      };
      const xd = Float64Array.from(xv);
      for (const o of [5, 77, 300, 701]) {
        const n = Math.floor(o / (H * W * C)), ch = o % C, h = 1e-4, v0 = xd[o];
        xd[o] = v0 + h; const fp = f(xd, n, ch); xd[o] = v0 - h; const fm = f(xd, n, ch); xd[o] = v0;
        expect(dxv[o]).toBeCloseTo((fp - fm) / (2 * h), 3);
      }
      void y;
    }
  });

  it('Gaussian noise and Gaussian dropout have the stated statistics, and nothing at inference', () => {
    useBuild(build);
    const x = t(randArr([64, 32], 8));
    const [y] = train('gaussianNoise', x, { stddev: 0.3 });
    const xv = x.dataSync(), d = Array.from(y.dataSync(), (v, i) => v - xv[i]);
    const mean = d.reduce((a, b) => a + b, 0) / d.length, sd = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / d.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(sd).toBeGreaterThan(0.27); expect(sd).toBeLessThan(0.33);
    const [, m] = train('gaussianDropout', x, { rate: 0.2 });
    const mv = Array.from(m.dataSync()), mm = mv.reduce((a, b) => a + b, 0) / mv.length, vv = mv.reduce((a, b) => a + (b - mm) ** 2, 0) / mv.length;
    expect(Math.abs(mm - 1)).toBeLessThan(0.03);
    expect(vv).toBeGreaterThan(0.2); expect(vv).toBeLessThan(0.3);
    for (const op of ['gaussianNoise', 'gaussianDropout']) expect(Array.from(runEager(op, [x], { stddev: 0.3, rate: 0.2 })[0].dataSync())).toEqual(Array.from(x.dataSync()));
  });
});

describe('augmentation layers', () => {
  const layers = (seed?: number) => [
    eg.layers.randomFlip({ seed }), eg.layers.randomRotation({ factor: 0.1, seed }), eg.layers.randomTranslation({ heightFactor: 0.1, widthFactor: 0.2, seed }),
    eg.layers.randomZoom({ heightFactor: [-0.2, 0.2], seed }), eg.layers.randomContrast({ factor: 0.3, valueRange: [0, 1], seed }),
    eg.layers.randomBrightness({ factor: 0.2, valueRange: [0, 1], seed }), eg.layers.gaussianNoise({ stddev: 0.1, seed }), eg.layers.gaussianDropout({ rate: 0.1, seed }),
  ];

  it('identity at inference (randomCrop: the centre)', async () => {
    useBuild('relaxed');
    const x = img(9);
    for (const l of layers(1)) {
      const m = eg.sequential([eg.layers.activation({ activation: 'linear', inputShape: [H, W, C] }), l]);
      expect(Array.from((await m.predict(x)).dataSync()), l.name).toEqual(Array.from(x.dataSync()));
    }
    const crop = eg.sequential([eg.layers.randomCrop({ height: 4, width: 6, inputShape: [H, W, C] })]);
    const y = await crop.predict(x);
    expect(y.shape).toEqual([N, 4, 6, C]);
    expect(px(y.dataSync(), 3, 0, 0, 1, 4, 6)).toBe(px(x.dataSync(), 3, 2, 1, 1));
  });

  it('seeded: the same seed draws the same augmentations; models train through them; nothing after them is cached', async () => {
    useBuild('relaxed');
    const r = rng(3), n = 64;
    const xs = Float32Array.from({ length: n * H * W * C }, () => r()), ys = eg.data.oneHot(Array.from({ length: n }, (_, i) => i % 2), 2);
    const run = async (seed: number) => {
      const first = eg.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', inputShape: [H, W, C], seed: 1 });
      const m = eg.sequential([first, ...layers(seed), eg.layers.flatten(), eg.layers.dense({ units: 2, activation: 'softmax', seed: 2 })]);
      m.compile({ optimizer: 'adam', loss: 'categoricalCrossentropy' });
      const before = first.weights[0].tensor.dataSync().slice();
      const h = await m.fit(eg.tensor(xs, [n, H, W, C]), ys, { epochs: 2, batchSize: 16, shuffle: false });
      const moved = first.weights[0].tensor.dataSync().some((v, i) => v !== before[i]);
      return { loss: h.history.loss, moved, cached: h.cachedFeatures, summary: m.summary({ print: false }) };
    };
    const a = await run(5), b = await run(5), c = await run(6);
    expect(a.loss).toEqual(b.loss);
    expect(a.loss).not.toEqual(c.loss);
    expect(a.loss.every(Number.isFinite)).toBe(true);
    // the conv before the augmentations trains: their gradients pass through
    expect(a.moved).toBe(true);
    expect(a.cached).toBeUndefined();
    expect(a.summary).toMatch(/random_flip\S*: random in training, identity at inference: not feature-cached, nor any layer after it/);
  });

  it('a frozen backbone after an augmentation is not cached', async () => {
    useBuild('relaxed');
    const base = eg.sequential([eg.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [H, W, C], seed: 1 }), eg.layers.flatten()]);
    base.freeze();
    const m = eg.sequential([eg.layers.randomFlip({ inputShape: [H, W, C], seed: 1 }), base, eg.layers.dense({ units: 2, activation: 'softmax' })]);
    m.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const h = await m.fit(img(1, 8), eg.data.oneHot([0, 1, 0, 1, 0, 1, 0, 1], 2), { epochs: 1, batchSize: 4 });
    expect(h.cachedFeatures).toBeUndefined();
  });

  it('export to ONNX as what they are at inference (randomCrop: a centre Slice), and ONNX Runtime agrees', async () => {
    useBuild('relaxed');
    const m = eg.sequential([...layers(3).map((l, i) => (i === 0 ? eg.layers.randomFlip({ inputShape: [H, W, C], seed: 3 }) : l)),
      eg.layers.randomCrop({ height: 6, width: 5, seed: 4 }), eg.layers.conv2d({ filters: 2, kernelSize: 3, seed: 5 }), eg.layers.flatten(), eg.layers.dense({ units: 3, seed: 6 })]);
    const x = img(13);
    const want = (await m.predict(x)).dataSync();
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = 1;
    const s = await ort.InferenceSession.create(await eg.toOnnx(m));
    const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.dataSync() as Float32Array, [N, H, W, C]) });
    expectClose(r[s.outputNames[0]].data as Float32Array, want, 1e-5, 'exported');
  });

  it('clear errors', () => {
    useBuild('relaxed');
    expect(() => eg.layers.randomRotation({ factor: [0.3, 0.1] })).toThrow(/factor must be a number or a \[lower, upper\] pair/);
    expect(() => eg.layers.randomContrast({} as never)).toThrow(/randomContrast: factor must be a number or a \[lower, upper\] pair, got nothing/);
    expect(() => eg.layers.randomFlip({ seed: 1.5 })).toThrow(/edgegrad\.layers\.randomFlip: seed must be an integer/);
    expect(() => eg.layers.randomFlip({ mode: 'diagonal' as never })).toThrow(/mode must be horizontal, vertical or horizontal_and_vertical/);
    expect(() => eg.layers.randomZoom({ heightFactor: [-1, 0] })).toThrow(/zoom in infinitely/);
    expect(() => eg.sequential([eg.layers.randomCrop({ height: 9, width: 2, inputShape: [8, 8, 1] })])).toThrow(/a 9x2 crop does not fit 8x8 images/);
    expect(() => eg.sequential([eg.layers.randomFlip({ inputShape: [8, 8] })])).toThrow(/input must be images \[batch, height, width, channels\]/);
    expect(() => eg.layers.randomTranslation({ heightFactor: 0.1, widthFactor: 0.1, fillMode: 'mirror' as never })).toThrow(/fillMode must be/);
  });
});
