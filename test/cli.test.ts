// The `edgegrad` command, run as a user runs it (node dist/cli.js): info, predict from .json, .npy, PNG
// and JPEG, finetune on a folder of class folders, bench, and errors for people with exit codes 1 (bad
// input) and 2 (bad usage).
import { describe, expect, it, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useBuild } from './helpers.js';
import * as eg from '../src/index.js';

const root = join(import.meta.dirname, '..');
const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });

/** A NumPy 1.0 .npy file of float32 data. */
function npy(shape: number[], data: Float32Array): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64) header += ' ';
  header += '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, ...new TextEncoder().encode('NUMPY'), 1, 0, header.length & 255, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer), 10 + header.length);
  return out;
}

describe('edgegrad command', () => {
  beforeAll(() => { useBuild('simd'); });

  it('info prints the summary, and --json the nodes to cut at', () => {
    const r = cli('info', 'test/fixtures/mnist_cnn.onnx', '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.format).toBe('ONNX');
    expect(j.inputShape).toEqual([1, 28, 28]);
    expect(j.nodes).toContain('/Elu');
    expect(cli('info', 'models/digits-cnn.onnx').stdout).toMatch(/Parameters: \d+; FLOPs per example: \d+; planned activation memory/);
  });

  it('predict runs a .json or .npy input and agrees with the library', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-cli-'));
    const d = await eg.data.loadDigits();
    const x = eg.data.slice(d.images, 0, 3);
    const want = (await eg.loadModel(join(root, 'models', 'digits-cnn.onnx'))).predict(x);
    writeFileSync(join(dir, 'x.npy'), npy([3, 28, 28, 1], x.dataSync() as Float32Array));
    writeFileSync(join(dir, 'one.json'), JSON.stringify(eg.data.slice(d.images, 0, 1).reshape([28, 28, 1]).arraySync()));
    const a = cli('predict', 'models/digits-cnn.onnx', join(dir, 'x.npy'), '--json');
    expect(a.status).toBe(0);
    const ja = JSON.parse(a.stdout);
    expect(ja.shape).toEqual([3, 5]);
    expect(ja.argmax).toEqual([0, 1, 2]); // the first three digits are 0, 1, 2
    (ja.output as number[][]).flat().forEach((v, i) => expect(v).toBeCloseTo(want.dataSync()[i], 5));
    const b = cli('predict', 'models/digits-cnn.onnx', join(dir, 'one.json'));
    expect(b.status).toBe(0);
    expect(b.stdout).toMatch(/^output \[1,5\], argmax per row: 0/);
  });

  it('predict runs a model with two inputs (--input NAME=FILE) and prints both outputs by name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-cli-'));
    const img = Float32Array.from({ length: 2 * 36 }, (_, i) => Math.sin(i)), feat = Float32Array.from({ length: 10 }, (_, i) => Math.cos(i));
    writeFileSync(join(dir, 'img.npy'), npy([2, 1, 6, 6], img));
    writeFileSync(join(dir, 'feat.json'), JSON.stringify([Array.from(feat.subarray(0, 5)), Array.from(feat.subarray(5))]));
    const r = cli('predict', 'test/fixtures/two_io.onnx', '--input', `features=${join(dir, 'feat.json')}`, '--input', `image=${join(dir, 'img.npy')}`, '--json');
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout);
    const m = await eg.loadModel(join(root, 'test', 'fixtures', 'two_io.onnx'));
    const [logits, value] = m.predict([eg.tensor(img, [2, 1, 6, 6]), eg.tensor(feat, [2, 5])]) as eg.Tensor[];
    expect(j.outputs.map((o: { name: string }) => o.name)).toEqual(['logits', 'value']);
    expect(j.outputs[0].output.flat()).toEqual(Array.from(logits.dataSync()).map((v) => expect.closeTo(v, 5)));
    expect(j.outputs[1].output.flat()).toEqual(Array.from(value.dataSync()).map((v) => expect.closeTo(v, 5)));
    expect(j.outputs[0].argmax).toHaveLength(2);
    const plain = cli('predict', 'test/fixtures/two_io.onnx', '--input', `image=${join(dir, 'img.npy')}`, '--input', `features=${join(dir, 'feat.json')}`).stdout;
    expect(plain).toMatch(/^logits: output \[2,3\], argmax per row: \d, \d\n.*\nvalue: output \[2,1\]/s);
    expect(cli('predict', 'test/fixtures/two_io.onnx', join(dir, 'img.npy')).stderr).toMatch(/has 2 inputs \(image, features\): give each with --input NAME=FILE/);
    expect(cli('predict', 'test/fixtures/two_io.onnx', '--input', `image=${join(dir, 'img.npy')}`).stderr).toMatch(/needs --input for features/);
    expect(cli('predict', 'test/fixtures/two_io.onnx', '--input', `pixels=${join(dir, 'img.npy')}`).stderr).toMatch(/has no input 'pixels' \(inputs: image, features\)/);
  });

  it('says what is wrong: missing files, bad inputs, bad usage', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-cli-'));
    let r = cli('info', 'nope.onnx');
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe("edgegrad: cannot read model 'nope.onnx': no such file");
    writeFileSync(join(dir, 'bad.npy'), npy([2, 2], new Float32Array(3)));
    r = cli('predict', 'models/digits-cnn.onnx', join(dir, 'bad.npy'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad\.npy: header says \[2,2\] \(16 bytes\) but 12 bytes follow at offset 128/);
    writeFileSync(join(dir, 'wrong.json'), JSON.stringify([[1, 2], [3, 4]]));
    r = cli('predict', 'models/digits-cnn.onnx', join(dir, 'wrong.json'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/expects input \[batch, 28, 28, 1\], got \[2,2\]/);
    r = cli('train', 'x');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'train'\nusage:/);
  });

  /** The digits as image files: class folders of PNGs (even rows) and JPEGs (odd rows). */
  async function digitFolder(classes: number[], per: number): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-cli-data-'));
    const d = await eg.data.loadDigits();
    const px = d.images.dataSync();
    const seen = new Map<number, number>();
    for (let n = 0; n < 8000; n++) {
      const l = d.labels[n];
      if (!classes.includes(l) || (seen.get(l) ?? 0) >= per) continue;
      seen.set(l, (seen.get(l) ?? 0) + 1);
      mkdirSync(join(dir, `digit${l}`), { recursive: true });
      const gray = Uint8Array.from(px.subarray(n * 784, (n + 1) * 784), (v) => Math.round(v * 255));
      if (seen.get(l)! % 2) writeFileSync(join(dir, `digit${l}`, `${n}.png`), encodePng({ width: 28, height: 28, data: gray, channels: 1, depth: 8 }));
      else {
        const rgba = new Uint8Array(784 * 4);
        gray.forEach((v, i) => rgba.set([v, v, v, 255], i * 4));
        writeFileSync(join(dir, `digit${l}`, `${n}.jpg`), jpeg.encode({ width: 28, height: 28, data: rgba }, 95).data);
      }
    }
    return dir;
  }

  it('predict reads PNG and JPEG images, resized and converted to what the model takes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-cli-'));
    const d = await eg.data.loadDigits();
    const gray = Uint8Array.from(d.images.dataSync().subarray(0, 784), (v) => Math.round(v * 255)); // a 0
    // a grayscale PNG at the model's size: exactly the pixels the library sees
    writeFileSync(join(dir, 'zero.png'), encodePng({ width: 28, height: 28, data: gray, channels: 1, depth: 8 }));
    const m = await eg.loadModel(join(root, 'models', 'digits-cnn.onnx'));
    const want = m.predict(eg.tensor(Float32Array.from(gray, (v) => v / 255), [1, 28, 28, 1])).dataSync();
    const a = JSON.parse(cli('predict', 'models/digits-cnn.onnx', join(dir, 'zero.png'), '--json').stdout);
    (a.output[0] as number[]).forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
    // an RGB JPEG at twice the size: decoded, converted to gray, resized down, still a 0
    const big = new Uint8Array(56 * 56 * 4);
    for (let y = 0; y < 56; y++) for (let x = 0; x < 56; x++) { const v = gray[(y >> 1) * 28 + (x >> 1)]; big.set([v, v, v, 255], (y * 56 + x) * 4); }
    writeFileSync(join(dir, 'zero.jpg'), jpeg.encode({ width: 56, height: 56, data: big }, 95).data);
    const b = cli('predict', 'models/digits-cnn.onnx', join(dir, 'zero.jpg'), '--json');
    expect(b.status, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout).argmax).toEqual([0]);
    writeFileSync(join(dir, 'fake.png'), 'not an image');
    const c = cli('predict', 'models/digits-cnn.onnx', join(dir, 'fake.png'));
    expect(c.status).toBe(1);
    expect(c.stderr).toMatch(/fake\.png: not a PNG or JPEG file \(the first bytes are 6e 6f 74 20\)/);
  });

  it('finetune trains a new head on a folder of class folders and writes a model that predicts them', async () => {
    const data = await digitFolder([5, 6, 7], 40);
    const out = join(mkdtempSync(join(tmpdir(), 'edgegrad-cli-')), 'ft.onnx');
    const r = cli('finetune', 'models/digits-cnn.onnx', '--data', data, '--cut', 'flatten', '--epochs', '40', '--val', '0.25', '--out', out, '--json');
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.classes).toEqual(['digit5', 'digit6', 'digit7']);
    expect([j.train, j.validation]).toEqual([90, 30]);
    expect(j.cachedFeatures).toEqual({ layers: 1, shape: [1568] });
    expect(j.accuracy).toBeGreaterThan(0.9);
    expect(j.valAccuracy).toBeGreaterThan(0.7);
    // progress went to stderr, with a bar and an ETA
    expect(r.stderr).toMatch(/training \[#+\] \d+\/\d+ .*ETA .*loss/);
    // the written model takes the same images and tells the classes apart
    const p = JSON.parse(cli('predict', out, join(data, 'digit6', readdirSync(join(data, 'digit6'))[0]), '--json').stdout);
    expect(p.shape).toEqual([1, 3]);
    const t = cli('finetune', 'models/digits-cnn.onnx', '--data', data);
    expect(t.status).toBe(2);
    expect(t.stderr).toMatch(/finetune needs --out OUT\.onnx/);
  });

  it('finetune also takes a JSON file of examples and labels (an NCHW model: maps in its own layout)', async () => {
    const d = await eg.data.loadDigits();
    const idx: number[] = [];
    for (let n = 0; n < 8000 && idx.length < 100; n++) if (d.labels[n] >= 5) idx.push(n);
    const px = d.images.dataSync();
    // mnist_cnn.onnx (PyTorch) takes [n, 1, 28, 28]
    const x = idx.map((n) => [Array.from({ length: 28 }, (_, r) => Array.from(px.subarray(n * 784 + r * 28, n * 784 + r * 28 + 28)))]);
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-cli-'));
    writeFileSync(join(dir, 'd.json'), JSON.stringify({ x, y: idx.map((n) => d.labels[n] - 5), classes: ['five', 'six', 'seven', 'eight', 'nine'] }));
    const r = cli('finetune', 'test/fixtures/mnist_cnn.onnx', '--data', join(dir, 'd.json'), '--cut', '/Elu', '--epochs', '30', '--val', '0', '--out', join(dir, 'ft.onnx'), '--json');
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.classes).toEqual(['five', 'six', 'seven', 'eight', 'nine']);
    expect(j.perClass.reduce((a: number, b: number) => a + b, 0)).toBe(100);
    expect(j.accuracy).toBeGreaterThan(0.9);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ x: x.slice(0, 3), y: [0, 1] }));
    const b = cli('finetune', 'test/fixtures/mnist_cnn.onnx', '--data', join(dir, 'bad.json'), '--out', join(dir, 'b.onnx'));
    expect([b.status, b.stderr.trim()]).toEqual([1, `edgegrad: ${join(dir, 'bad.json')}: 3 examples but 2 labels`]);
  });

  it('finetune says what is wrong with the data and the cut', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'edgegrad-cli-')), 'ft.onnx');
    let r = cli('finetune', 'models/digits-cnn.onnx', '--data', 'no/such/dir', '--out', out);
    expect([r.status, r.stderr.trim()]).toEqual([1, 'edgegrad: no/such/dir: no such file or folder']);
    const empty = mkdtempSync(join(tmpdir(), 'edgegrad-cli-'));
    mkdirSync(join(empty, 'cats')); mkdirSync(join(empty, 'dogs'));
    writeFileSync(join(empty, 'cats', 'notes.txt'), 'hello');
    r = cli('finetune', 'models/digits-cnn.onnx', '--data', empty, '--out', out);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cats: no images \(\.png, \.jpg, \.jpeg\) in this class folder/);
    const data = await digitFolder([5, 6], 4);
    r = cli('finetune', 'models/digits-cnn.onnx', '--data', data, '--cut', 'flaten', '--out', out);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/has no node 'flaten' \(similar: flatten/);
    // a bad --out is found before any work, not after training
    r = cli('finetune', 'models/digits-cnn.onnx', '--data', data, '--out', join(out, '..', 'no', 'such', 'folder', 'x.onnx'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--out '.*x\.onnx': the folder '.*no\/such\/folder' does not exist/);
    r = cli('quantize', 'models/digits-cnn.onnx', '--fp16', '--out', tmpdir());
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--out '.*' is a folder: give a file name/);
    r = cli('finetune', 'models/digits-cnn.onnx', '--data', data, '--out', out, '--epochs', 'many');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/option '--epochs' needs a number, got 'many'/);
  });

  it('quantize writes int8 (QDQ) or float16 models and reports sizes and accuracies', async () => {
    const calib = await digitFolder([0, 1, 2, 3, 4], 20), data = await digitFolder([0, 1, 2, 3, 4], 60);
    const dir = mkdtempSync(join(tmpdir(), 'edgegrad-cli-'));
    const r = cli('quantize', 'models/digits-cnn.onnx', '--int8', '--calibration', calib, '--data', data, '--out', join(dir, 'q.onnx'), '--json');
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.bytes.ratio).toBeGreaterThanOrEqual(3.5);
    expect(j.accuracy.examples).toBe(300);
    expect(Math.abs(j.accuracy.after - j.accuracy.before)).toBeLessThanOrEqual(0.01);
    // the model has no class names: the folders (digit0 ... digit4) are outputs in sorted order, and it says so
    expect(j.accuracy.note).toBe("class folders taken as outputs 0-4 in sorted order (digit0, digit1, digit2, digit3, digit4): model 'digits_cnn' has no class names");
    // folders named by number are those outputs, whatever their sorted order: 1 and 3 are outputs 1 and 3, not 0 and 1
    const numbered = mkdtempSync(join(tmpdir(), 'edgegrad-cli-data-'));
    for (const l of [1, 3]) renameSync(join(data, `digit${l}`), join(numbered, String(l)));
    const n = JSON.parse(cli('quantize', 'models/digits-cnn.onnx', '--int8', '--calibration', calib, '--data', numbered, '--out', join(dir, 'q2.onnx'), '--json').stdout);
    expect(n.accuracy.examples).toBe(120);
    expect(n.accuracy.before).toBeGreaterThan(0.9);
    expect(n.accuracy.note).toBeUndefined();
    expect(j.nodes.map((n: { as: string }) => n.as)).toEqual(['float32', 'int8', 'int8', 'int8']);
    // the written file runs on the int8 kernels when loaded again
    expect(cli('info', join(dir, 'q.onnx')).stdout).toMatch(/Quantized: int8 weights, int8 activations; 3 of 4 dense\/conv nodes; float32: block1_conv \(float weights\)/);
    const h = cli('quantize', 'models/digits-cnn.onnx', '--fp16', '--out', join(dir, 'h.onnx'));
    expect(h.status, h.stderr).toBe(0);
    expect(h.stdout).toMatch(/size +\d+\.\d kB -> \d+\.\d kB \(1\.99x smaller\)/);
    expect(cli('quantize', 'models/digits-cnn.onnx', '--int8', '--fp16', '--out', 'x.onnx').stderr).toMatch(/exactly one of --int8 and --fp16/);
    expect(cli('quantize', 'models/digits-cnn.onnx', '--int8', '--out', 'x.onnx').stderr).toMatch(/--int8 needs --calibration DIR/);
    const empty = mkdtempSync(join(tmpdir(), 'edgegrad-cli-'));
    const e = cli('quantize', 'models/digits-cnn.onnx', '--int8', '--calibration', empty, '--out', join(dir, 'e.onnx'));
    expect([e.status, e.stderr]).toEqual([1, `edgegrad: ${empty}: no images (.png, .jpg, .jpeg) here or in its sub-folders\n`]);
    // a folder given with a trailing slash is named without it (no 'dir//sub' in messages)
    expect(cli('quantize', 'models/digits-cnn.onnx', '--int8', '--calibration', `${empty}/`, '--out', join(dir, 'e.onnx')).stderr).toBe(`edgegrad: ${empty}: no images (.png, .jpg, .jpeg) here or in its sub-folders\n`);
  });

  it('bench measures the kernels, or a model', () => {
    const r = cli('bench', '--runs', '2', '--json');
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.rows.map((x: { what: string }) => x.what)).toEqual(['GEMM 256x256x256 f32', 'GEMM 512x512x512 f32', 'GEMM 1024x1024x1024 f32', 'conv 3x3 56x56x64 -> 64']);
    for (const row of j.rows) expect(Number(/([\d.]+) GFLOP\/s/.exec(row.rate)![1])).toBeGreaterThan(0);
    const m = cli('bench', 'models/digits-cnn.onnx', '--batch', '4', '--runs', '2');
    expect(m.status, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/models\/digits-cnn\.onnx inference, batch 4 +[\d.]+ ms +[\d.]+ examples\/s, [\d.]+ GFLOP\/s/);
    // --profile: every node of the inference plan timed, by op and slowest first
    const p = cli('bench', 'models/digits-cnn.onnx', '--runs', '3', '--profile', '--json');
    expect(p.status, p.stderr).toBe(0);
    const prof = JSON.parse(p.stdout).profile as { total: number; ops: Array<{ op: string; ms: number; count: number }>; nodes: Array<{ node: string; op: string; ms: number; share: number }> };
    expect(prof.ops.map((o) => o.op)).toContain('conv2d');
    expect(prof.nodes.length).toBe(prof.ops.reduce((a, o) => a + o.count, 0));
    for (let i = 1; i < prof.nodes.length; i++) expect(prof.nodes[i].ms).toBeLessThanOrEqual(prof.nodes[i - 1].ms);
    expect(prof.nodes.reduce((a, n) => a + n.share, 0)).toBeCloseTo(1, 6);
    expect(cli('bench', 'models/digits-cnn.onnx', '--profile').stdout).toMatch(/profile: \d+ nodes[\s\S]*by op:[\s\S]*slowest nodes:/);
    expect(cli('bench', '--profile').stderr).toMatch(/--profile times the nodes of a MODEL/);
  });
});
