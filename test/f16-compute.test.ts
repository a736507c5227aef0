// Float16 compute (loadModel's { weights: 'float16', compute: 'float16' }): dense layers, convolutions and
// MatMuls multiply their float16 weights in f16 on a WebGPU device with shader-f16. Dawn on SwiftShader (Node's
// 'webgpu') has no shader-f16; Deno's wgpu on Mesa's lavapipe Vulkan driver has, so the models run there
// (test/smoke/f16-compute.mjs, on the built package) against the same float16 weights computed in float32 on
// wasm, the path checked against ONNX Runtime in test/half-storage.test.ts.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as eg from '../src/index.js';

const root = join(import.meta.dirname, '..');
const lavapipe = '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json';

interface ModelReport {
  name: string; rows: number; agree: number; scale: number;
  /** max |y - truth| / max |truth|: float32 compute on webgpu, float16 compute, and float16 against float32 on webgpu */
  errF32: number; errF16: number; f16VsF32: number;
  dispatches: number; summary: string;
}

describe.skipIf(!existsSync(lavapipe) && !process.env.CI)('float16 compute on WebGPU (Deno on lavapipe: shader-f16)', () => {
  let r: { adapter: { f16: boolean; description: string }; reports: ModelReport[]; wasmError: string; optionError: string };
  const report = (name: string) => r.reports.find((m) => m.name === name)!;

  it('runs the models in Deno on the built package', () => {
    expect(existsSync(join(root, 'dist', 'index.js')), 'build dist/ first').toBe(true);
    // lavapipe, not the SwiftShader driver vitest.config.ts sets for Node
    const env = { ...process.env, VK_ICD_FILENAMES: lavapipe };
    const out = execFileSync(join(root, 'node_modules', '.bin', 'deno'), ['run', '--allow-read', '--allow-env', 'test/smoke/f16-compute.mjs'],
      { cwd: root, env, encoding: 'utf8', timeout: 180_000, stdio: ['ignore', 'pipe', 'ignore'] });
    r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.adapter.description).toMatch(/llvmpipe/i);
    expect(r.adapter.f16).toBe(true);
  });

  // The error of f16 arithmetic on the same half weights: A is rounded to half (relative 2^-11) and each
  // product is rounded to half (2^-11 again), the sums are f32, so a layer's output is off by at most about
  // 1e-3 of the sum of |a b| it adds; across a few layers (the errors compound, cancellation makes the sum
  // smaller than that) 1e-2 of the output scale is a safe bound. Measured: 1e-4 to 1e-3. And the f16 result
  // must differ from the f32 one by far more than the 1e-6 at which the float32 paths agree: the f16 kernels ran.
  it.each(['mlp', 'mlp-batch1', 'cnn', 'matmul', 'squeezenet'])('%s: within f16 arithmetic of the float32 result, measurably not it', (name) => {
    const m = report(name);
    expect(m.errF32, 'float32 compute on webgpu vs wasm').toBeLessThan(5e-6);
    expect(m.errF16, 'float16 compute vs float32 on wasm').toBeLessThan(1e-2);
    expect(m.f16VsF32, 'float16 compute vs float32 on webgpu').toBeGreaterThan(2e-5);
    expect(m.agree, `argmax of ${m.rows} rows`).toBeGreaterThanOrEqual(Math.ceil(0.9 * m.rows));
  });

  it('the f16 kernels ran in place of the widening, and summary() names the nodes', () => {
    const ops = (m: ModelReport) => m.summary.split('\n').find((l) => l.includes('nodes after inference passes'))!;
    // a dense MLP (K = 301, 257, 129; N = 257, 129, 11): every layer in f16, no float32 copy of a weight
    expect(report('mlp').dispatches).toBe(3);
    expect(ops(report('mlp'))).not.toContain('unpackHalf');
    expect(report('mlp').summary).toContain('Float16 compute (float16 products, float32 sums) in 3 nodes: dense, dense_1, dense_2');
    expect(report('mlp-batch1').dispatches).toBe(3);
    // convolutions 3x3 (K = 27, N = 13), strided (K = 117, N = 21), 1x1 (a GEMM: K = 42, N = 9), and the dense head;
    // the depthwise one (2 columns per group) keeps the widening path, and summary() says so
    expect(report('cnn').dispatches).toBe(4);
    expect(ops(report('cnn'))).toContain('unpackHalf');
    expect(report('cnn').summary).toMatch(/in 4 nodes: .*; widened to float32: depthwise_conv2d \(2 output columns per group, too few for a tile\)/);
    // an ONNX MatMul of tokens [batch, 6, 33] by a constant [33, 19]: the batch is more rows of one f16 GEMM
    expect(report('matmul').dispatches).toBe(1);
    expect(report('matmul').summary).toContain('in 1 node: proj');
    // SqueezeNet 1.1: all 26 convolutions, 3x3, 1x1 and the strided first one
    expect(report('squeezenet').dispatches).toBe(26);
    expect(ops(report('squeezenet'))).not.toContain('unpackHalf');
    expect(report('squeezenet').summary).toMatch(/Float16 storage: 26 weights .* multiplied in float16 where the next line says/);
  });

  it('refused at load where it cannot run, saying why', () => {
    expect(r.wasmError).toMatch(/compute: 'float16' runs on the webgpu backend, and the active one is 'wasm'/);
    expect(r.optionError).toMatch(/options.compute must be 'float32' or 'float16' \(with weights: 'float16'\), got "float16" with weights: "float32"/);
  });
});

// Dawn on SwiftShader offers no shader-f16: the load names the adapter and the missing feature
describe.skipIf(!existsSync('/usr/lib/chromium/vk_swiftshader_icd.json'))('float16 compute without shader-f16 (Dawn on SwiftShader)', () => {
  it('loadModel refuses compute: float16, naming the adapter; weights: float16 alone still loads', async () => {
    const gpu = await eg.ready({ backend: 'webgpu' }) as Awaited<ReturnType<typeof eg.ready>> & { adapter: { f16: boolean } };
    try {
      expect(gpu.adapter.f16).toBe(false);
      const bytes = readFileSync(join(root, 'models', 'digits-cnn.onnx'));
      await expect(eg.loadModel(bytes, { weights: 'float16', compute: 'float16' })).rejects.toThrow(/compute: 'float16' needs a WebGPU device with 'shader-f16', and this adapter \(.*SwiftShader.*\) does not offer it/i);
      expect((await eg.loadModel(bytes, { weights: 'float16' })).halfStorage!.compute).toBe('float32');
    } finally {
      await eg.ready({ backend: 'wasm' });
    }
  });
});
