// The built package (dist/) imported by name in Node, Deno and Bun, and loaded by a page in headless
// Chromium: each runs a GEMM and a conv2d against plain loops. Deno and Bun come from their npm packages;
// Chromium is Debian's (.ci/run installs it; locally the browser test is skipped, loudly, without it).
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { encode as encodePng } from 'fast-png';
import { browserTests, CHROMIUM, launchChromium, serve } from './browser.js';

const root = join(import.meta.dirname, '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);

interface Report { ok: boolean; build: string; builds: string[]; rng: string; relaxedDot?: boolean; int8Path?: { dot: string; reason: string; relaxedExact?: boolean }; onnx?: { rows: number; rowSum: number } }
/** Node's random bits (computed once): every other runtime must draw the same bits from the same seeds. */
let nodeRngCache = '';
const nodeRng = () => (nodeRngCache ||= runSmoke(process.execPath, ['test/smoke/run.mjs']).rng);

function runSmoke(cmd: string, args: string[]): Report {
  const out = execFileSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('runtimes', () => {
  it('dist/ is built', () => {
    expect(existsSync(join(root, 'dist', 'index.js')), 'run npm run build').toBe(true);
  });

  it('Node imports the package by name and runs GEMM + conv2d', () => {
    const r = runSmoke(process.execPath, ['test/smoke/run.mjs']);
    expect(r.ok).toBe(true);
    expect(r.onnx?.rows).toBe(4);
    expect(r.onnx?.rowSum).toBeCloseTo(1, 5); // softmax rows of the imported MLP
    expect(r.builds).toContain('simd');
    expect(r.rng).toMatch(/^[0-9a-f]{100,}$/);
  });

  it('Node without relaxed SIMD (20 without its flag) loads the SIMD128 build on demand: async entry points work, a first synchronous op names the fix', () => {
    // Node 20 runs relaxed SIMD only with --experimental-wasm-relaxed-simd (vitest's workers have it; a plain
    // child does not); later Nodes have it on and take the flag's negation
    const major = Number(process.versions.node.split('.')[0]);
    const flags = major >= 22 ? ['--no-experimental-wasm-relaxed-simd'] : [];
    const script = `import * as eg from 'edgegrad';
let sync = '';
try { eg.tensor([1, 2], [2]); } catch (e) { sync = e.message; }
const m = await eg.loadModel('test/fixtures/mlp_tanh_sigmoid.onnx');
const y = m.predict(eg.ones([2, 784])).dataSync();
console.log(JSON.stringify({ sync, build: eg.getBackend().build, builds: eg.supportedBuilds(), rows: y.length / 10 }));`;
    const out = execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.build).toBe('simd');
    expect(r.builds).toContain('simd');
    expect(r.builds).not.toContain('relaxed');
    expect(r.rows).toBe(2);
    expect(r.sync).toMatch(/await eg\.ready\(\)/);
  });

  it.skipIf(!existsSync('/usr/lib/chromium/vk_swiftshader_icd.json'))('Node without relaxed SIMD, webgpu active: copyTo(\'wasm\') and quantize load the SIMD128 build themselves', () => {
    const major = Number(process.versions.node.split('.')[0]);
    const flags = major >= 22 ? ['--no-experimental-wasm-relaxed-simd'] : [];
    const script = `import * as eg from 'edgegrad';
await eg.ready({ backend: 'webgpu' });
const m = eg.sequential([eg.layers.dense({ units: 4, activation: 'relu', inputShape: [6], seed: 1 }), eg.layers.dense({ units: 2, activation: 'softmax', seed: 2 })]);
const x = eg.randomUniform([16, 6], 0, 1, 1);
const w = await x.copyTo('wasm');
const q = await eg.quantize(m, { calibration: x });
const active = eg.getBackend().name;
let refused = '';
try { q.predict(await x.copyTo('wasm')); } catch (e) { refused = e.message; }
// the message's advice: run it where it lives
await eg.ready({ backend: 'wasm', wasmBuild: 'simd', threads: 1 });
const y = q.predict(await x.copyTo('wasm'));
console.log(JSON.stringify({ active, copied: w.location, build: w.backend.build, int8: q.summary().includes('int8'), refused, rows: y.shape[0] }));`;
    const out = execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 90_000, stdio: ['ignore', 'pipe', 'ignore'] });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r).toMatchObject({ active: 'webgpu', copied: 'wasm', build: 'simd', int8: true, rows: 16 });
    expect(r.refused).toContain("or run where it lives after await eg.ready({ backend: 'wasm', wasmBuild: 'simd', threads: 1 })");
  });

  it('Deno runs the same check', () => {
    const r = runSmoke(bin('deno'), ['run', '--allow-read', '--allow-env', 'test/smoke/run.mjs']);
    expect(r.ok).toBe(true);
    expect(r.onnx?.rows).toBe(4);
    expect(r.onnx?.rowSum).toBeCloseTo(1, 5); // softmax rows of the imported MLP
    expect(r.build).toBe('relaxed');
    // the relaxed build ran its known-answer test of the i8 x i7 dot; whether the GEMM takes that path is
    // timed per machine (a CPU without VNNI emulates the dot, slower than SIMD128), and the int8 check above
    // (r.ok) holds on whichever path was chosen
    expect(typeof r.int8Path?.relaxedExact, `Deno's int8 path: ${JSON.stringify(r.int8Path)}`).toBe('boolean');
    expect(r.relaxedDot).toBe(r.int8Path?.dot === 'relaxed-dot');
    if (r.int8Path?.dot === 'relaxed-dot') expect(r.int8Path.relaxedExact).toBe(true);
    expect(r.rng, 'seeded random bits equal to Node').toBe(nodeRng());
  });

  it('Bun runs the same check', () => {
    const r = runSmoke(bin('bun'), ['test/smoke/run.mjs']);
    expect(r.ok).toBe(true);
    expect(r.onnx?.rows).toBe(4);
    expect(r.onnx?.rowSum).toBeCloseTo(1, 5); // softmax rows of the imported MLP
    expect(r.build).toBe('relaxed');
    expect(r.rng, 'seeded random bits equal to Node').toBe(nodeRng());
  });

  // Deno's navigator.gpu (wgpu) and Bun's bun-webgpu (Dawn) on the SwiftShader Vulkan driver that
  // vitest.config.ts puts on the loader path
  const swiftshader = existsSync('/usr/lib/chromium/vk_swiftshader_icd.json') || !!process.env.CI;
  it.skipIf(!swiftshader).each([['Deno', 'deno', ['run', '--allow-read', '--allow-env']], ['Bun', 'bun', []]] as const)('%s runs the webgpu backend and matches wasm', (_name, cmd, args) => {
    const out = execFileSync(bin(cmd), [...args, 'test/smoke/webgpu-run.mjs'], { cwd: root, encoding: 'utf8', timeout: 90_000, stdio: ['ignore', 'pipe', 'ignore'] });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.err).toBeLessThan(1e-5);
    expect(r.locations).toEqual(['webgpu', 'webgpu']);
    expect(`${r.adapter.device} ${r.adapter.description}`).toMatch(/swiftshader/i);
    expect(r.adapter.fallback).toBe(true);
    // a software adapter: 'auto' keeps wasm
    expect(r.auto).toBe('wasm');
  });

  // Deno without the Vulkan driver above: wgpu takes its GL backend on Mesa's llvmpipe (libgl1-mesa-dri,
  // which Debian's chromium pulls in), a third WebGPU implementation under the same kernels
  const llvmpipe = existsSync('/usr/lib/x86_64-linux-gnu/dri/swrast_dri.so') || !!process.env.CI;
  it.skipIf(!llvmpipe)('Deno on Mesa llvmpipe (wgpu over OpenGL) runs the webgpu backend and matches wasm', () => {
    const env = { ...process.env };
    delete env.VK_ICD_FILENAMES;
    const out = execFileSync(bin('deno'), ['run', '--allow-read', '--allow-env', 'test/smoke/webgpu-run.mjs'], { cwd: root, env, encoding: 'utf8', timeout: 90_000, stdio: ['ignore', 'pipe', 'ignore'] });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.adapter.description).toMatch(/llvmpipe/i);
    expect(r.err).toBeLessThan(1e-5);
    expect(r.locations).toEqual(['webgpu', 'webgpu']);
    expect(r.auto).toBe('wasm');
  });

  it('the edgegrad command runs under Deno and Bun too (info, predict on an image)', () => {
    const png = join(mkdtempSync(join(tmpdir(), 'edgegrad-rt-')), 'zero.png');
    // a 28x28 grayscale PNG of a ring: some input the digits CNN can classify
    const px = Uint8Array.from({ length: 784 }, (_, i) => { const y = Math.floor(i / 28) - 13.5, x = (i % 28) - 13.5; return Math.abs(Math.hypot(x, y) - 8) < 2 ? 255 : 0; });
    writeFileSync(png, encodePng({ width: 28, height: 28, data: px, channels: 1, depth: 8 }));
    const node = JSON.parse(execFileSync(process.execPath, ['dist/cli.js', 'predict', 'models/digits-cnn.onnx', png, '--json'], { cwd: root, encoding: 'utf8' }));
    for (const [cmd, pre] of [[bin('deno'), ['run', '--allow-read', '--allow-env']], [bin('bun'), []]] as const) {
      const info = execFileSync(cmd, [...pre, 'dist/cli.js', 'info', 'models/digits-cnn.onnx'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      expect(info).toMatch(/Parameters: \d+/);
      const p = JSON.parse(execFileSync(cmd, [...pre, 'dist/cli.js', 'predict', 'models/digits-cnn.onnx', png, '--json'], { cwd: root, encoding: 'utf8', timeout: 60_000 }));
      expect(p.argmax).toEqual(node.argmax);
      (p.output[0] as number[]).forEach((v, i) => expect(v).toBeCloseTo(node.output[0][i], 5));
    }
  });

  /** Run a ```ts block of the README (after `## heading`) against the built package; returns its last JSON line. */
  function runReadmeBlock(heading: string, report: string): Record<string, unknown> {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const code = new RegExp(`## ${heading}\\n\\n\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(readme)?.[1];
    expect(code, `README has a ts block under '## ${heading}'`).toBeTruthy();
    const file = join(root, 'test', 'smoke', `.readme-${process.pid}.mjs`);
    writeFileSync(file, `${code}\nconsole.log(JSON.stringify(${report}));\n`);
    try {
      const out = execFileSync(process.execPath, [file], { cwd: root, encoding: 'utf8', timeout: 120_000 });
      return JSON.parse(out.trim().split('\n').pop()!);
    } finally {
      rmSync(file, { force: true });
    }
  }

  it("the README's quick start runs as written against the built package", () => {
    const r = runReadmeBlock('Quick start', '{ y: y.shape, p: p.shape, dw: dw.shape, loss }');
    expect(r.y).toEqual([1, 14, 14, 8]);
    expect(r.p).toEqual([1, 10]);
    expect(r.dw).toEqual([3, 3, 1, 8]);
    expect(Number.isFinite(r.loss)).toBe(true);
  });

  it("the README's training example runs as written and learns the digits", () => {
    const r = runReadmeBlock('Training', '{ acc: model.evaluate(eg.data.slice(x, 8000), eg.data.slice(y, 8000)).accuracy, epochs: history.epoch.length, mean: mean.shape, variance: variance.shape }');
    expect(r.acc as number).toBeGreaterThan(0.9);
    expect(r.mean).toEqual([5, 10]);
    expect(r.variance).toEqual([5, 10]);
  });

  if (!browserTests) console.warn(`runtimes.test: ${CHROMIUM} not found: browser smoke test skipped (bash .ci/run installs it)`);

  it.skipIf(!browserTests)('WebGPU in headless Chromium (SwiftShader), in a page and in a module worker, matches wasm', async () => {
    const { server, port } = await serve(['/dist/', '/test/smoke/', '/test/fixtures/']);
    // --enable-unsafe-webgpu is required (without it requestAdapter() is null) and enough on this driver
    const { browser, close } = await launchChromium(['--enable-unsafe-webgpu']);
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/test/smoke/webgpu.html`);
      await page.waitForFunction('window.__page !== undefined && window.__worker !== undefined', undefined, { timeout: 90_000 });
      for (const where of ['__page', '__worker']) {
        const r = await page.evaluate(`window.${where}`) as { err: number; locations: string[]; syncError: string; adapter: { fallback: boolean }; auto: string; error?: string };
        expect(r.error, where).toBeUndefined();
        expect(r.err, where).toBeLessThan(1e-5);
        expect(r.locations).toEqual(['webgpu', 'webgpu']);
        expect(r.syncError).toContain("use 'await t.data()'");
        // a software adapter: 'auto' keeps wasm
        expect(r.adapter.fallback).toBe(true);
        expect(r.auto).toBe('wasm');
      }
    } finally {
      await close();
      server.close();
    }
  });

  it.skipIf(!browserTests)('headless Chromium loads the bundle from a page and runs the check', async () => {
    const { server, port } = await serve(['/dist/', '/test/smoke/', '/test/fixtures/']);
    const { browser, close } = await launchChromium(['--disable-gpu']);
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/test/smoke/page.html`);
      await page.waitForFunction('window.__result !== undefined', undefined, { timeout: 60_000 });
      const r = await page.evaluate('window.__result') as Report & { error?: string };
      expect(r.error).toBeUndefined();
      expect(r.ok).toBe(true);
      expect(r.build).toBe('relaxed');
      expect(r.rng, 'seeded random bits equal to Node').toBe(nodeRng());
      // model I/O in the browser: IndexedDB round trip, and an ONNX model fetched over HTTP (lazy chunks)
      await page.goto(`http://127.0.0.1:${port}/test/smoke/io.html`);
      await page.waitForFunction('window.__io !== undefined', undefined, { timeout: 60_000 });
      const io = await page.evaluate('window.__io') as { err: number; cnnShape: number[]; missing: string; error?: string };
      expect(io.error).toBeUndefined();
      expect(io.err).toBeLessThan(1e-6);
      expect(io.cnnShape).toEqual([1, 10]);
      expect(io.missing).toBe("edgegrad.loadModel: no model saved as 'indexeddb://nope'");
      // the saved models listed (none in a fresh profile), and deleted
      const more = io as unknown as { before: unknown[]; listed: Array<{ url: string; bytes: number; recent: boolean }>; removed: boolean[]; after: string[] };
      expect(more.before).toEqual([]);
      expect(more.listed.map((r) => r.url)).toEqual(['indexeddb://another', 'indexeddb://tiny']);
      for (const r of more.listed) { expect(r.bytes).toBeGreaterThan(50); expect(r.recent).toBe(true); }
      expect(more.removed).toEqual([true, false]);
      expect(more.after).toEqual(['indexeddb://another']);
    } finally {
      await close();
      server.close();
    }
  });
});
