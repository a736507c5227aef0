// Few labels, many unlabelled images: what eg.pretrain and augmentation buy over training from scratch.
//
// Data (--data digits | fashion):
//   digits:  eg.data.loadDigits() with the README's split: the first 8,000 are the training pool, the last
//            2,000 the test set.
//   fashion: Fashion-MNIST (Xiao, Rasul & Vollgraf 2017; Debian's dataset-fashion-mnist package, files in
//            /usr/share/datasets/fashion-mnist): the first 8,000 training images are the pool, the first
//            2,000 test images the test set. Same size and format as the digits; a held-out domain.
// Per draw (seeds 1, 2, 3) and k (10, 20 labels per class): k images per class are drawn from the pool at
// random and keep their labels; pretraining uses the whole pool's images without labels (the labelled
// ones' pixels included, as any semi-supervised method may), once per dataset, shared by the draws
// (fashion, --unlabelled N: the first N of its 60,000 training images instead).
// Recipes (--recipes a,b,...), each fine-tuned on the k labels per class (Adam 1e-3, batch 16, `epochs` epochs):
//   cnn                  the digits-cnn architecture from scratch (conv 16 + pool, conv 32 + pool, dense 64, dense 10)
//   cnn-aug              the same behind augmentation layers (translation, rotation, zoom; fashion: also a
//                        horizontal flip, contrast and brightness)
//   cnn-dae              greedy layer-wise denoising autoencoders on conv, conv, dense 64, then fine-tuned
//   cnn-contrastive      SimCLR NT-Xent on the conv backbone (up to flatten; projection head dense 64 + ReLU,
//                        dense 32; τ 0.2, Adam 3e-3, 128 images = 256 views per step, 15 epochs; views made by
//                        the dataset's augmentation layers), then all of it fine-tuned
//   cnn-contrastive-aug  the same, fine-tuned behind the augmentation layers
//   cnn-contrastive-probe  the contrastive conv backbone frozen (features cached), dense 64 + softmax trained
//   mlp                  784-256-64-10, sigmoid hidden units, from scratch
//   mlp-rbm              the same MLP, its two sigmoid layers pretrained as stacked RBMs (CD-1, a DBN)
// Test accuracy of each, mean over the draws. `eg` is the library; `log` receives progress lines.

const CLASSES = 10;

/** The pool and the test set of a dataset: images [n, 28, 28, 1] in [0, 1] and int32 labels. */
export async function loadSplit(eg, data, unlabelled = 8000) {
  if (data === 'digits') {
    const d = await eg.data.loadDigits();
    const pool = Array.from({ length: 8000 }, (_, i) => i), test = Array.from({ length: d.count - 8000 }, (_, i) => 8000 + i);
    const take = (idx) => ({ x: eg.data.gather(d.images, idx), labels: Int32Array.from(idx, (i) => d.labels[i]) });
    return { name: 'digits', pool: take(pool), test: take(test) };
  }
  if (data === 'fashion') {
    const { readFileSync, existsSync } = await import('node:fs');
    const { gunzipSync } = await import('node:zlib');
    const dir = '/usr/share/datasets/fashion-mnist';
    if (!existsSync(`${dir}/train-images-idx3-ubyte.gz`)) throw new Error(`Fashion-MNIST not found in ${dir}: apt-get install dataset-fashion-mnist`);
    const idx = (file, n, kind) => {
      const b = gunzipSync(readFileSync(`${dir}/${file}`));
      const off = kind === 'images' ? 16 : 8, per = kind === 'images' ? 784 : 1;
      return b.subarray(off, off + n * per);
    };
    const part = (prefix, n) => {
      const px = idx(`${prefix}-images-idx3-ubyte.gz`, n, 'images'), lb = idx(`${prefix}-labels-idx1-ubyte.gz`, n, 'labels');
      return { x: eg.tensor(Float32Array.from(px, (v) => v / 255), [n, 28, 28, 1]), labels: Int32Array.from(lb) };
    };
    // --unlabelled N: pretraining sees the first N training images (up to 60,000), the labels come from the first 8,000
    const all = unlabelled > 8000 ? part('train', unlabelled) : undefined;
    return { name: 'fashion', pool: part('train', 8000), test: part('t10k', 2000), ...(all ? { unlabelled: all.x } : {}) };
  }
  throw new Error(`unknown --data ${data} (digits or fashion)`);
}

/** k indices per class from the labels, drawn at random (seeded). */
export function drawLabelled(eg, labels, k, seed) {
  const perm = eg.data.permutation(labels.length, seed), seen = new Array(CLASSES).fill(0), out = [];
  for (const i of perm) if (seen[labels[i]] < k) { seen[labels[i]]++; out.push(i); }
  return out;
}

/**
 * The augmentation layers of a dataset: small shifts, turns and zooms for both; for clothes also a mirror
 * image (a shirt mirrored is a shirt; a mirrored digit is not a digit) and contrast / brightness changes.
 */
export function augmentation(eg, data, seed, first = false, kind = 'full') {
  const shape = first ? { inputShape: [28, 28, 1] } : {};
  if (kind === 'light') {
    return [
      ...(data === 'fashion' ? [eg.layers.randomFlip({ mode: 'horizontal', ...shape, seed: seed + 13 })] : []),
      eg.layers.randomTranslation({ heightFactor: 0.1, widthFactor: 0.1, fillMode: 'constant', ...(data === 'fashion' ? {} : shape), seed: seed + 10 }),
    ];
  }
  const geo = [
    eg.layers.randomTranslation({ heightFactor: 0.1, widthFactor: 0.1, fillMode: 'constant', ...shape, seed: seed + 10 }),
    eg.layers.randomRotation({ factor: 0.04, fillMode: 'constant', seed: seed + 11 }),
    eg.layers.randomZoom({ heightFactor: [-0.15, 0.15], fillMode: 'constant', seed: seed + 12 }),
  ];
  if (data !== 'fashion') return geo;
  return [
    eg.layers.randomFlip({ mode: 'horizontal', ...shape, seed: seed + 13 }),
    ...geo.map((l, i) => (i === 0 ? eg.layers.randomTranslation({ heightFactor: 0.1, widthFactor: 0.1, fillMode: 'constant', seed: seed + 10 }) : l)),
    eg.layers.randomContrast({ factor: 0.3, valueRange: [0, 1], seed: seed + 14 }),
    eg.layers.randomBrightness({ factor: 0.2, valueRange: [0, 1], seed: seed + 15 }),
  ];
}

export function cnn(eg, seed, { augment = false, data = 'digits', aug: kind = 'full' } = {}) {
  const aug = augment ? augmentation(eg, data, seed, true, kind) : [];
  return eg.sequential({
    name: 'cnn',
    layers: [
      ...aug,
      eg.layers.conv2d({ name: 'block1_conv', filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', ...(augment ? {} : { inputShape: [28, 28, 1] }), seed: seed + 1 }),
      eg.layers.maxPool2d({ name: 'block1_pool', poolSize: 2 }),
      eg.layers.conv2d({ name: 'block2_conv', filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', seed: seed + 2 }),
      eg.layers.maxPool2d({ name: 'block2_pool', poolSize: 2 }),
      eg.layers.flatten({ name: 'flatten' }),
      eg.layers.dense({ name: 'features', units: 64, activation: 'relu', seed: seed + 3 }),
      eg.layers.dense({ name: 'head', units: CLASSES, activation: 'softmax', seed: seed + 4 }),
    ],
  });
}

export function mlp(eg, seed) {
  return eg.sequential({
    name: 'mlp',
    layers: [
      eg.layers.flatten({ inputShape: [28, 28, 1] }),
      eg.layers.dense({ name: 'hidden1', units: 256, activation: 'sigmoid', seed: seed + 1 }),
      eg.layers.dense({ name: 'hidden2', units: 64, activation: 'sigmoid', seed: seed + 2 }),
      eg.layers.dense({ name: 'head', units: CLASSES, activation: 'softmax', seed: seed + 3 }),
    ],
  });
}

/** The weights of `from`'s weighted layers copied into the layers of `to` with the same names. */
function copyByName(from, to) {
  for (const l of to.layers) {
    if (!l.weights.length) continue;
    const src = from.layers.find((s) => s.name === l.name);
    if (src) l.setWeights(src.getWeights());
  }
}

function accuracy(probs, labels) {
  const p = probs.dataSync(), k = p.length / labels.length;
  let hits = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (p[i * k + c] > p[i * k + best]) best = c;
    if (best === labels[i]) hits++;
  }
  probs.dispose();
  return hits / labels.length;
}

export async function fewLabels(eg, {
  data = 'digits', ks = [10, 20], seeds = [1, 2, 3], epochs = 60, pretrainEpochs = { denoising: 3, rbm: 5, contrastive: 15 }, temperature = 0.2, contrastiveUpTo = 'flatten', contrastiveBatch = 128, contrastiveLr = 3e-3, probeFrom = 'flatten', aug = 'full', unlabelled = 8000,
  recipes = ['cnn', 'cnn-aug', 'cnn-dae', 'cnn-contrastive', 'cnn-contrastive-aug', 'cnn-contrastive-probe', 'mlp', 'mlp-rbm'],
  log = () => {},
} = {}) {
  const split = await loadSplit(eg, data, unlabelled);
  const { pool, test } = split;
  const out = { data: split.name, pool: pool.labels.length, test: test.labels.length, epochs, pretrainEpochs, temperature, contrastiveUpTo, contrastiveBatch, contrastiveLr, probeFrom, aug, unlabelled: split.unlabelled?.shape[0] ?? pool.labels.length, pretraining: {}, runs: [] };
  // pretraining, once per dataset (no labels), from fixed initial weights (seed 100)
  const pre = {};
  const want = (r) => recipes.includes(r);
  const timed = async (name, model, args) => {
    const t0 = performance.now();
    const rep = await eg.pretrain(model, split.unlabelled ?? pool.x, args);
    const s = (performance.now() - t0) / 1000;
    out.pretraining[name] = { seconds: s, layers: rep.layers.map((l) => ({ layer: l.layer, loss: l.loss, ...(l.freeEnergy ? { freeEnergy: l.freeEnergy } : {}), ...(l.reconstructionError !== undefined ? { reconstructionError: l.reconstructionError } : {}), decoder: l.decoder })) };
    log(`pretrained ${name} in ${s.toFixed(1)} s: ${rep.layers.map((l) => `${l.layer} ${l.loss.map((v) => v.toPrecision(3)).join(' -> ')}`).join('; ')}`);
    pre[name] = model;
  };
  if (want('cnn-dae')) await timed('cnn-dae', cnn(eg, 100), { method: 'denoising', noise: 0.25, epochs: pretrainEpochs.denoising, batchSize: 32, seed: 100 });
  if (recipes.some((r) => r.startsWith('cnn-contrastive'))) {
    await timed('cnn-contrastive', cnn(eg, 100), { method: 'contrastive', layers: [contrastiveUpTo], augmentation: augmentation(eg, data, 100, false, aug), epochs: pretrainEpochs.contrastive, batchSize: contrastiveBatch, temperature, learningRate: contrastiveLr, seed: 100 });
  }
  if (want('mlp-rbm')) await timed('mlp-rbm', mlp(eg, 100), { method: 'rbm', epochs: pretrainEpochs.rbm, batchSize: 32, learningRate: 0.05, seed: 100 });
  const build = (recipe, seed) => {
    switch (recipe) {
      case 'cnn': return cnn(eg, seed);
      case 'cnn-aug': return cnn(eg, seed, { augment: true, data, aug });
      case 'cnn-dae': { const m = cnn(eg, seed); copyByName(pre['cnn-dae'], m); return m; }
      case 'cnn-contrastive': { const m = cnn(eg, seed); copyByName(pre['cnn-contrastive'], m); return m; }
      case 'cnn-contrastive-probe': { const m = cnn(eg, seed); copyByName(pre['cnn-contrastive'], m); m.freeze({ upTo: probeFrom }); return m; }
      case 'cnn-contrastive-aug': { const m = cnn(eg, seed, { augment: true, data, aug }); copyByName(pre['cnn-contrastive'], m); return m; }
      case 'mlp': return mlp(eg, seed);
      case 'mlp-rbm': { const m = mlp(eg, seed); copyByName(pre['mlp-rbm'], m); return m; }
      default: throw new Error(`unknown recipe ${recipe}`);
    }
  };
  const ty = test.labels;
  for (const k of ks) {
    for (const seed of seeds) {
      const idx = drawLabelled(eg, pool.labels, k, seed);
      const x = eg.data.gather(pool.x, idx), y = eg.tensor(Int32Array.from(idx, (i) => pool.labels[i]), [idx.length], 'int32');
      const run = { k, seed, accuracy: {}, seconds: {} };
      for (const recipe of recipes) {
        const m = build(recipe, seed);
        m.compile({ optimizer: eg.optimizers.adam({ learningRate: 1e-3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
        const t0 = performance.now();
        await m.fit(x, y, { epochs, batchSize: 16, seed });
        run.seconds[recipe] = (performance.now() - t0) / 1000;
        run.accuracy[recipe] = accuracy(m.predict(test.x, { batchSize: 256 }), ty);
        m.dispose();
      }
      out.runs.push(run);
      log(`k ${k}, draw ${seed}: ${recipes.map((r) => `${r} ${(run.accuracy[r] * 100).toFixed(1)}%`).join(', ')}`);
      x.dispose(); y.dispose();
    }
  }
  out.mean = {};
  for (const k of ks) {
    const rs = out.runs.filter((r) => r.k === k);
    out.mean[k] = Object.fromEntries(recipes.map((r) => [r, rs.reduce((s, x) => s + x.accuracy[r], 0) / rs.length]));
  }
  return out;
}

async function main() {
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  const eg = globalThis.__edgegrad ?? await import('../../dist/index.js');
  if (!eg.pretrain) throw new Error('this dist/ has no eg.pretrain: run npm run build first');
  const argv = globalThis.__edgegradArgv ?? process.argv.slice(2);
  const arg = (name, d) => { const i = argv.indexOf(`--${name}`); return i < 0 ? d : argv[i + 1]; };
  await eg.ready({ backend: 'wasm' });
  const t0 = performance.now();
  const res = await fewLabels(eg, {
    data: arg('data', 'digits'), ks: arg('k', '10,20').split(',').map(Number), seeds: arg('seeds', '1,2,3').split(',').map(Number),
    epochs: Number(arg('epochs', 60)), temperature: Number(arg('temperature', 0.2)), contrastiveUpTo: arg('contrastive-up-to', 'flatten'),
    contrastiveBatch: Number(arg('contrastive-batch', 128)), contrastiveLr: Number(arg('contrastive-lr', 3e-3)), probeFrom: arg('probe-from', 'flatten'), aug: arg('aug', 'full'), unlabelled: Number(arg('unlabelled', 8000)), log: (s) => console.log(s),
    ...(arg('recipes') ? { recipes: arg('recipes').split(',') } : {}),
    pretrainEpochs: { denoising: Number(arg('dae-epochs', 3)), rbm: Number(arg('rbm-epochs', 5)), contrastive: Number(arg('contrastive-epochs', 15)) },
  });
  const pct = (v) => `${(v * 100).toFixed(1)}%`;
  for (const k of Object.keys(res.mean)) console.log(`${res.data}, ${k} labels per class (mean of ${res.runs.filter((r) => r.k === Number(k)).length} draws): ${Object.entries(res.mean[k]).map(([r, v]) => `${r} ${pct(v)}`).join(', ')}`);
  res.totalSeconds = (performance.now() - t0) / 1000;
  console.log(`(${res.totalSeconds.toFixed(0)} s)`);
  if (arg('out')) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(arg('out'), JSON.stringify({ command: `node models/pretrain/few-labels.mjs ${argv.join(' ')}`, ...res }, null, 1) + '\n');
  }
}

// run as a script (node models/pretrain/few-labels.mjs --data digits), or from a harness that sets
// globalThis.__edgegrad (the library built from the sources) and __edgegradMain; not when a test imports it
if (typeof process !== 'undefined' && (/few-labels\.mjs$/.test(process.argv[1] ?? '') || globalThis.__edgegradMain)) await main();
