// Files and data written by someone hostile or careless: paths a model names that escape its folder,
// weights shorter or longer than the graph needs, malformed model.json fields, labels out of range, NaN
// inputs, divergence, interrupted saves. Each must end in an edgegrad error that says what and where,
// never a read outside the model's folder, a computation on uninitialized memory, or a bare TypeError.
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { onnx } from 'onnx-proto';
import * as tf from '@tensorflow/tfjs';
import { useBuild } from './helpers.js';
import * as eg from '../src/index.js';
import { writeFileAtomic } from '../src/io/write.js';

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

/** A TF.js layers model saved by TensorFlow.js itself: dense 4 -> 3 (relu) -> 2. */
async function tfjsModel(): Promise<{ json: Record<string, unknown>; weights: Uint8Array; tfModel: tf.Sequential }> {
  const m = tf.sequential();
  m.add(tf.layers.dense({ units: 3, inputShape: [4], activation: 'relu' }));
  m.add(tf.layers.dense({ units: 2 }));
  let art: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => { art = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  const json = { modelTopology: art!.modelTopology, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: art!.weightSpecs }], format: art!.format, generatedBy: art!.generatedBy };
  return { json, weights: new Uint8Array(art!.weightData as ArrayBuffer), tfModel: m };
}

/** x [N, 6] -> Gemm (W [6, 3], b [3]) -> y, W and b in the external file `location`. */
function externalGemm(location: string): Uint8Array {
  const t = (name: string, dims: number[], offset: number, length: number) => ({ name, dims, dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: location }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(length) }] });
  const vi = (name: string, d: number) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: d }] } } } });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'g', node: [{ opType: 'Gemm', name: 'fc', input: ['x', 'W', 'b'], output: ['y'] }], initializer: [t('W', [6, 3], 0, 72), t('b', [3], 72, 12)], input: [vi('x', 6)], output: [vi('y', 3)] },
  })).finish();
}

/** conv (8 filters) -> BatchNormalization, with the bias and the batch-norm parameters given as stated. */
function convBn(bias: number, bn: number[]): Uint8Array {
  const f = (name: string, n: number, dims = [n]) => ({ name, dims, dataType: 1, rawData: new Uint8Array(new Float32Array(n).fill(0.5).buffer) });
  const vi = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  return onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: [{ opType: 'Conv', name: 'conv', input: ['x', 'W', 'B'], output: ['c'] }, { opType: 'BatchNormalization', name: 'bn', input: ['c', 's', 'o', 'm', 'v'], output: ['y'] }],
      initializer: [f('W', 8 * 2 * 9, [8, 2, 3, 3]), f('B', bias), f('s', bn[0]), f('o', bn[1]), f('m', bn[2]), f('v', bn[3])],
      input: [vi('x', [1, 2, 5, 5])], output: [vi('y', [1, 8, 3, 3])],
    },
  })).finish();
}

describe('hostile and careless input', () => {
  beforeAll(() => { useBuild('simd'); });

  it('a TF.js model saved by TensorFlow.js (dense first layer, inputShape [4]) loads and matches it', async () => {
    const { json, weights, tfModel } = await tfjsModel();
    const m = await eg.loadModel({ modelJson: json as never, weights });
    const x = eg.randomNormal([3, 4], 0, 1, 1);
    const want = (tfModel.predict(tf.tensor(x.dataSync() as Float32Array, [3, 4])) as tf.Tensor).dataSync();
    Array.from(m.predict(x).dataSync()).forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
  });

  it('TF.js weight paths that leave the model folder are refused, naming the entry; shards are read only as far as declared', async () => {
    const { json, weights } = await tfjsModel();
    const root = tmp('edgegrad-hostile-');
    const dir = join(root, 'model');
    mkdirSync(dir);
    writeFileSync(join(root, 'secret.bin'), weights); // a file outside the model's folder, with the right size
    const load = (paths: string[], via: 'path' | 'url' = 'path') => {
      writeFileSync(join(dir, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...(json.weightsManifest as object[])[0], paths }] }));
      return eg.loadModel(via === 'path' ? join(dir, 'model.json') : pathToFileURL(join(dir, 'model.json')));
    };
    await expect(load(['../secret.bin'])).rejects.toThrow(/weight shard '\.\.\/secret\.bin' listed in '.*model\.json' leaves the model's folder/);
    await expect(load(['%2e%2e/secret.bin'])).rejects.toThrow(/'%2e%2e\/secret\.bin' .*leaves the model's folder/);
    await expect(load(['.%2e/secret.bin'], 'url')).rejects.toThrow(/leaves the model's folder/);
    await expect(load(['/etc/passwd'])).rejects.toThrow(/'\/etc\/passwd' .*is absolute/);
    await expect(load(['/dev/zero'])).rejects.toThrow(/is absolute/);
    await expect(load(['file:///etc/passwd'])).rejects.toThrow(/names a scheme/);
    await expect(load(['http://127.0.0.1:9/x.bin'])).rejects.toThrow(/names a scheme/);
    symlinkSync(join(root, 'secret.bin'), join(dir, 'link.bin'));
    await expect(load(['link.bin'])).rejects.toThrow(/'link\.bin' .*resolves outside the model's folder/);
    symlinkSync('/dev/zero', join(dir, 'zero.bin'));
    await expect(load(['zero.bin'])).rejects.toThrow(/resolves outside the model's folder/);
    writeFileSync(join(dir, 'big.bin'), new Uint8Array(weights.length + 4));
    await expect(load(['big.bin'])).rejects.toThrow(/'big\.bin' is \d+ bytes, more than the \d+ the model declares/);
    writeFileSync(join(dir, 'ok.bin'), weights);
    expect((await load(['ok.bin'])).predict(eg.ones([1, 4])).shape).toEqual([1, 2]);
    await expect(load(['missing.bin'])).rejects.toThrow(/weight shard 'missing\.bin' listed in '.*model\.json' is missing/);
  });

  it('ONNX external data that names a scheme, climbs out or links out is refused, whatever way the model was named', async () => {
    const root = tmp('edgegrad-hostile-onnx-');
    const dir = join(root, 'm');
    mkdirSync(dir);
    const blob = new Uint8Array(84);
    writeFileSync(join(root, 'outside.bin'), blob);
    const cases: Array<[string, RegExp]> = [
      ['http://127.0.0.1:9/w.bin', /names a scheme/],
      ['file:///etc/passwd', /names a scheme/],
      ['../outside.bin', /leaves the model's folder/],
      ['%2e%2e/outside.bin', /leaves the model's folder/],
      ['.%2e/outside.bin', /leaves the model's folder/],
      ['/etc/passwd', /is absolute/],
    ];
    for (const [loc, why] of cases) {
      writeFileSync(join(dir, 'model.onnx'), externalGemm(loc));
      await expect(eg.loadModel(join(dir, 'model.onnx')), loc).rejects.toThrow(why);
      await expect(eg.loadModel(pathToFileURL(join(dir, 'model.onnx'))), loc).rejects.toThrow(why);
      // loaded by a bare file name from its folder, too
      const cwd = process.cwd();
      process.chdir(dir);
      try { await expect(eg.loadModel('model.onnx'), loc).rejects.toThrow(why); } finally { process.chdir(cwd); }
    }
    symlinkSync(join(root, 'outside.bin'), join(dir, 'w.bin'));
    writeFileSync(join(dir, 'model.onnx'), externalGemm('w.bin'));
    await expect(eg.loadModel(join(dir, 'model.onnx'))).rejects.toThrow(/'w\.bin' .*resolves outside the model's folder/);
  });

  it('ONNX weights shorter or longer than the graph needs are refused before anything computes on them', async () => {
    const ok = await eg.loadModel(convBn(8, [8, 8, 8, 8]));
    expect(ok.predict(eg.ones([1, 2, 5, 5])).shape).toEqual([1, 8, 3, 3]);
    await expect(eg.loadModel(convBn(1, [8, 8, 8, 8]))).rejects.toThrow(/'bytes': .*has 1 values where \[8\] needs 8|bias/);
    for (const bn of [[8, 8, 8, 0], [8, 3, 8, 8], [8, 8, 2, 8], [9, 8, 8, 8]]) {
      await expect(eg.loadModel(convBn(8, bn)), JSON.stringify(bn)).rejects.toThrow(/edgegrad.loadModel: .*(needs 8|has 8 channels)/);
    }
    // an odd number of float16 bytes
    const half = onnx.ModelProto.decode(convBn(8, [8, 8, 8, 8]));
    half.graph!.initializer![1] = onnx.TensorProto.create({ name: 'B', dims: [8], dataType: 10, rawData: new Uint8Array(15) });
    await expect(eg.loadModel(onnx.ModelProto.encode(half).finish())).rejects.toThrow(/initializer 'B' declares \[8\] = 8 elements but holds 15 bytes, not a whole number/);
    // a constant Gather (shape arithmetic) whose index is past the end
    const vi = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
    const gather = onnx.ModelProto.encode(onnx.ModelProto.create({
      irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'g',
        node: [{ opType: 'Shape', name: 'shape', input: ['x'], output: ['s'] }, { opType: 'Gather', name: 'pick', input: ['s', 'i'], output: ['d'] }, { opType: 'Relu', name: 'relu', input: ['x'], output: ['y'] }],
        initializer: [{ name: 'i', dims: [1], dataType: 7, rawData: new Uint8Array(new BigInt64Array([7n]).buffer) }],
        input: [vi('x', [1, 2, 5, 5])], output: [vi('y', [1, 2, 5, 5])],
      },
    })).finish();
    await expect(eg.loadModel(gather)).rejects.toThrow(/node 'pick' \(Gather\): index 7 is outside \[-4, 4\)/);
    // an input whose declared size would need terabytes
    const huge = onnx.ModelProto.decode(convBn(8, [8, 8, 8, 8]));
    huge.graph!.input![0].type!.tensorType!.shape!.dim![3] = onnx.TensorShapeProto.Dimension.create({ dimValue: 2147483647 });
    await expect(eg.loadModel(onnx.ModelProto.encode(huge).finish())).rejects.toThrow(/input 'x' declares .* more than edgegrad accepts/);
  });

  it('malformed model.json fields give errors that name the file, the layer and the field', async () => {
    const { json, weights } = await tfjsModel();
    const dir = tmp('edgegrad-json-');
    writeFileSync(join(dir, 'w.bin'), weights);
    const topo = json.modelTopology as { config: { layers: Array<{ config: Record<string, unknown> }> } };
    const variants: Array<[string, (j: Record<string, unknown>) => void, RegExp]> = [
      ['config: null', (j) => { (j.modelTopology as typeof topo).config.layers[0].config = null as never; }, /layer .* has no config object/],
      ['no batch_input_shape', (j) => { delete (j.modelTopology as typeof topo).config.layers[0].config.batch_input_shape; }, /first layer '.*' has no batch_input_shape/],
      ['batch_input_shape [null, "abc"]', (j) => { (j.modelTopology as typeof topo).config.layers[0].config.batch_input_shape = [null, 'abc']; }, /batch_input_shape \[null,"abc"\] has dynamic or invalid dimensions/],
      ['weight shape null', (j) => { ((j.weightsManifest as Array<{ weights: Array<{ shape: unknown }> }>)[0].weights[0]).shape = null; }, /weight '.*': shape null is not a list/],
      ['weight shape "abc"', (j) => { ((j.weightsManifest as Array<{ weights: Array<{ shape: unknown }> }>)[0].weights[0]).shape = 'abc'; }, /shape "abc" is not a list/],
      ['paths null', (j) => { (j.weightsManifest as Array<{ paths: unknown }>)[0].paths = null; }, /weightsManifest\[0\]\.paths is not a list/],
      ['layers null', (j) => { (j.modelTopology as typeof topo).config.layers = null as never; }, /layers is not a list|no Keras model_config/],
      ['modelTopology null', (j) => { j.modelTopology = null; }, /no modelTopology/],
    ];
    for (const [what, mutate, want] of variants) {
      const j = structuredClone({ ...json, weightsManifest: [{ ...(json.weightsManifest as object[])[0], paths: ['w.bin'] }] });
      mutate(j);
      writeFileSync(join(dir, 'model.json'), JSON.stringify(j));
      const err = await eg.loadModel(join(dir, 'model.json')).then(() => undefined, (e: Error) => e);
      expect(err, what).toBeInstanceOf(Error);
      expect(err!.message, what).toMatch(/^edgegrad/);
      expect(err!.message, what).toMatch(/model\.json/);
      expect(err!.message, what).toMatch(want);
    }
    // zero-size and oversized batch-norm weights: refused by the batch norm's shape rule
    const bnJson = { modelTopology: { class_name: 'Sequential', config: { layers: [{ class_name: 'BatchNormalization', config: { name: 'bn', batch_input_shape: [null, 4], axis: -1 } }] } },
      weightsManifest: [{ paths: ['bn.bin'], weights: ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((w, k) => ({ name: `bn/${w}`, shape: [k === 3 ? 0 : 4], dtype: 'float32' })) }] };
    writeFileSync(join(dir, 'bn.bin'), new Uint8Array(48));
    writeFileSync(join(dir, 'model.json'), JSON.stringify(bnJson));
    await expect(eg.loadModel(join(dir, 'model.json'))).rejects.toThrow(/moving variance is \[0\], but \[-1,4\] has 4 channels/);
  });

  it('labels out of range and NaN inputs are refused naming the example; divergence warns, or stops naming the layer', async () => {
    const m = eg.sequential([eg.layers.dense({ units: 10, activation: 'softmax', inputShape: [4], seed: 1 })]);
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const x = eg.randomNormal([6, 4], 0, 1, 2);
    for (const bad of [10, 1000, -1, 2 ** 31 - 1, 2 ** 29, 1e8]) {
      const y = eg.tensor(Int32Array.from([0, 1, 2, bad, 3, 4]), [6], 'int32');
      await expect(m.fit(x, y), String(bad)).rejects.toThrow(new RegExp(`label ${bad} of example 3 is outside \\[0, 10\\)`));
      expect(() => m.evaluate(x, y)).toThrow(/is outside \[0, 10\)/);
    }
    const nan = x.dataSync().slice();
    nan[9] = NaN;
    expect(() => m.predict(eg.tensor(nan, [6, 4]))).toThrow(/x contains 1 NaN or infinite values \(the first, NaN, in example 2\)/);
    expect(() => m.evaluate(eg.tensor(nan, [6, 4]), eg.tensor(Int32Array.from([0, 1, 2, 3, 4, 5]), [6], 'int32'))).toThrow(/NaN/);
    const g = await eg.loadModel(await eg.toOnnx(m));
    expect(() => g.predict(eg.tensor(nan, [6, 4]))).toThrow(/x contains 1 NaN/);
    // a learning rate of 1e3 on real digits: finite losses, accuracy back at chance
    const d = await eg.data.loadDigits();
    const xs = eg.data.slice(d.images, 0, 600).reshape([600, 784]), ys = eg.tensor(Int32Array.from(d.labels.slice(0, 600)), [600], 'int32');
    const build = () => {
      const net = eg.sequential([eg.layers.dense({ units: 32, activation: 'relu', inputShape: [784], seed: 3 }), eg.layers.dense({ units: 10, activation: 'softmax', seed: 4 })]);
      net.compile({ optimizer: eg.optimizers.sgd({ learningRate: 0.05 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
      return net;
    };
    const net = build();
    await net.fit(xs, ys, { epochs: 3, batchSize: 32, seed: 1 });
    net.compile({ optimizer: eg.optimizers.sgd({ learningRate: 1e3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const warn = console.warn;
    const warned: string[] = [];
    console.warn = (s: string) => { warned.push(s); };
    let h: eg.History;
    try { h = await net.fit(xs, ys, { epochs: 4, batchSize: 32, seed: 1 }); } finally { console.warn = warn; }
    // the first batch's loss is the baseline: the epochs after it are orders of magnitude worse
    expect(h!.warnings?.[0] ?? warned[0] ?? '').toMatch(/diverged at epoch \d+: .*layer '.*'/);
    const net2 = build();
    await expect((async () => {
      await net2.fit(xs, ys, { epochs: 2, batchSize: 32, seed: 1 });
      net2.compile({ optimizer: eg.optimizers.sgd({ learningRate: 1e3 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
      await net2.fit(xs, ys, { epochs: 6, batchSize: 32, seed: 1, onDivergence: 'stop' });
    })()).rejects.toThrow(/diverged at epoch \d+: .*the largest gradient relative to its weights is in layer '/);
  });

  it('a failed save leaves the earlier file and no temporary file; a killed save\'s temporary file is cleaned by the next', async () => {
    const dir = tmp('edgegrad-save-');
    const target = join(dir, 'model.onnx');
    await writeFileAtomic(target, new Uint8Array([1, 2, 3]));
    // a stale temporary file from a process that no longer exists
    writeFileSync(`${target}.tmp-999999999-abc`, new Uint8Array(10));
    await writeFileAtomic(target, new Uint8Array([4, 5]));
    expect(readdirSync(dir)).toEqual(['model.onnx']);
    // writing into a folder that is not there fails and names it; the earlier file is intact
    await expect(writeFileAtomic(join(dir, 'nope', 'm.onnx'), new Uint8Array(1))).rejects.toThrow(/cannot write '.*nope\/m\.onnx'.*earlier file there is unchanged/);
    expect(existsSync(target)).toBe(true);
  });

  it('kill -9 during save, 12 times: the file is always a complete model, and the next save cleans up', async () => {
    const dir = tmp('edgegrad-kill-');
    const target = join(dir, 'model.onnx');
    const src = join(import.meta.dirname, '..', 'models', 'mobilenet-v2-features.onnx');
    const pkg = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'index.js')).href;
    // a child that saves a 9 MB model over the same path, again and again, until it is killed
    const script = `const eg = await import(${JSON.stringify(pkg)}); const m = await eg.loadModel(${JSON.stringify(src)});
      await m.save(${JSON.stringify(target)}); process.stdout.write('saved\\n'); for (;;) await m.save(${JSON.stringify(target)});`;
    const { spawn } = await import('node:child_process');
    const first = (await eg.loadModel(target).catch(() => undefined));
    expect(first).toBeUndefined();
    for (let k = 0; k < 12; k++) {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 20 + ((k * 37) % 90))); // somewhere inside a later save
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const m = await eg.loadModel(target); // complete: a whole ONNX file that loads
      expect(m.nodeNames.length).toBeGreaterThan(100);
    }
    // (most kills land while the model is encoded, before the temporary file exists; the clean-up of one
    // that a kill left behind is checked with a planted file in the test before)
    await writeFileAtomic(target, readFileSync(target));
    expect(readdirSync(dir)).toEqual(['model.onnx']); // temporary files of the killed saves are gone
  }, 300_000);

  it('a FIFO or a folder where a model or a shard should be is refused at once (never opened for reading), and HTTP redirects stay below the model\'s URL', async () => {
    const { execFileSync } = await import('node:child_process');
    const { json, weights } = await tfjsModel();
    const dir = tmp('edgegrad-fifo-');
    execFileSync('mkfifo', [join(dir, 'fifo.bin')]);
    execFileSync('mkfifo', [join(dir, 'model.onnx')]);
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...(json.weightsManifest as object[])[0], paths: ['fifo.bin'] }] }));
    await expect(eg.loadModel(join(dir, 'model.json'))).rejects.toThrow(/weight shard 'fifo\.bin'.*not a regular file/);
    await expect(eg.loadModel(join(dir, 'model.onnx'))).rejects.toThrow(/model\.onnx': not a regular file/);
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...(json.weightsManifest as object[])[0], paths: ['.'] }] }));
    await expect(eg.loadModel(join(dir, 'model.json'))).rejects.toThrow(/'\.' .*is the model's folder, not a file/);
    // over HTTP: a shard that redirects out of /models/m/ is refused, one that stays inside loads
    const http = await import('node:http');
    const srv = http.createServer((req, res) => {
      if (req.url === '/models/m/model.json') res.end(JSON.stringify({ ...json, weightsManifest: [{ ...(json.weightsManifest as object[])[0], paths: [(req.headers['x-shard'] as string) ?? 'w.bin'] }] }));
      else if (req.url === '/models/m/w.bin' || req.url === '/secret/x.bin') res.end(weights);
      else if (req.url === '/models/m/out.bin') { res.writeHead(302, { location: '/secret/x.bin' }); res.end(); }
      else if (req.url === '/models/m/in.bin') { res.writeHead(302, { location: '/models/m/w.bin' }); res.end(); }
      else { res.writeHead(404); res.end(); }
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as { port: number }).port;
    const realFetch = globalThis.fetch;
    let shard = 'w.bin';
    globalThis.fetch = ((u: string | URL, init?: RequestInit) => realFetch(u, { ...init, headers: { 'x-shard': shard } })) as typeof fetch;
    try {
      const url = `http://127.0.0.1:${port}/models/m/model.json`;
      shard = 'in.bin';
      expect((await eg.loadModel(url)).predict(eg.ones([1, 4])).shape).toEqual([1, 2]);
      shard = 'out.bin';
      await expect(eg.loadModel(url)).rejects.toThrow(/was redirected to '.*\/secret\/x\.bin', outside the model's URL prefix/);
    } finally {
      globalThis.fetch = realFetch;
      srv.close();
    }
  });

  it('lrScale must be a finite number >= 0; the data helpers take labels as typed arrays; conv layers need a kernel size', async () => {
    const l = eg.layers.dense({ units: 2, inputShape: [3] });
    for (const bad of [NaN, -1, Infinity]) expect(() => { l.lrScale = bad; }).toThrow(/lrScale must be a finite number >= 0/);
    l.lrScale = 0.1;
    expect(l.lrScale).toBe(0.1);
    const labels = Int32Array.from([3, 1, 4, 1, 5]);
    expect(Array.from(eg.data.slice(labels, 1, 3).dataSync())).toEqual([1, 4]);
    expect(eg.data.slice(labels, 1, 3).dtype).toBe('int32');
    expect(Array.from(eg.data.gather(labels, [4, 0]).dataSync())).toEqual([5, 3]);
    expect(eg.data.oneHot(eg.tensor(Int32Array.from([2, 0]), [2], 'int32'), 3).arraySync()).toEqual([[0, 0, 1], [1, 0, 0]]);
    expect(() => eg.data.slice(undefined as never, 0, 1)).toThrow(/edgegrad.data.slice: expects a Tensor/);
    expect(() => eg.layers.conv2d({ filters: 4 } as never)).toThrow(/kernelSize is required/);
    expect(() => eg.backprop.conv2dInput([1, 6, 6, 8], eg.zeros([1, 6, 6, 8]), eg.zeros([3, 3, 8, 1]), 1, 'same'))
      .toThrow(/for a depthwise filter \[3,3,8,1\] pass it in the grouped layout \[3, 3, 1, 8\]/);
    // targets a loss cannot mean
    const bce = eg.sequential([eg.layers.dense({ units: 1, activation: 'sigmoid', inputShape: [3] })]);
    bce.compile({ optimizer: 'sgd', loss: 'binaryCrossentropy' });
    await expect(bce.fit(eg.zeros([2, 3]), eg.tensor([[1], [3]]))).rejects.toThrow(/needs targets in \[0, 1\], got 3 in example 1/);
    const cce = eg.sequential([eg.layers.dense({ units: 3, activation: 'softmax', inputShape: [3] })]);
    cce.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    await expect(cce.fit(eg.zeros([2, 3]), eg.tensor([[0, 1, 0], [5, 5, 5]]))).rejects.toThrow(/example 1 sums to 15/);
    await expect(cce.fit(eg.zeros([2, 3]), eg.tensor([[0, 1, 0], [-1, 1, 1]]))).rejects.toThrow(/needs non-negative targets, got -1 in example 1/);
    expect(cce.evaluate(eg.zeros([2, 3]), eg.tensor([[0.05, 0.9, 0.05], [0, 0, 0]])).loss).toBeGreaterThan(0);
  });
});
