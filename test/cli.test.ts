// The `edgegrad` command, run as a user runs it (node dist/cli.js): info, predict from .json and .npy,
// and errors for people with exit codes 1 (bad input) and 2 (bad usage).
import { describe, expect, it, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
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
});
