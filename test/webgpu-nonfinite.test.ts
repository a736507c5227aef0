// Eager ops at the edges of their domains on webgpu (Dawn on SwiftShader) against wasm: WGSL leaves exp, log,
// sqrt and pow undefined there (log(-2) came back log 2, exp(NaN) Infinity), and its max may drop a NaN, so the
// kernels say what IEEE arithmetic and wasm give: NaN, ±Infinity and 0 where wasm has them (found by an outside run).
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import * as eg from '../src/index.js';
import { setBackend, type Backend } from '../src/backend/index.js';
import { useBuild } from './helpers.js';

const driver = existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');
if (!driver && process.env.CI) throw new Error('test/webgpu-nonfinite: CI must have the SwiftShader driver (Debian chromium): .ci/run installs it');

const EDGES = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 2, -2, 0.5, -0.5, 3, -3, 1e-30, 100, -100, 1e30, -1e30];
/**
 * Equal as numbers, NaN equal to NaN; the sign of a zero is not compared and subnormal results may flush to
 * zero (GPUs may do both); finite results within `rel` (WGSL's pow is exp2(y log2 x): ~1e-6 relative).
 */
const same = (a: number, b: number, rel = 2e-6) => (Number.isNaN(a) && Number.isNaN(b)) || a === b || Math.abs(a - b) <= rel * Math.abs(b)
  || (Math.abs(a) < 1.2e-38 && Math.abs(b) < 1.2e-38);

describe.skipIf(!driver)('non-finite and out-of-domain values on webgpu, as on wasm', () => {
  let wasm: Backend, gpu: Backend;
  beforeAll(async () => {
    wasm = useBuild('simd');
    gpu = await eg.ready({ backend: 'webgpu' });
  });

  async function both(f: () => eg.Tensor): Promise<[ArrayLike<number>, ArrayLike<number>]> {
    setBackend(wasm);
    const a = f().dataSync();
    setBackend(gpu);
    const b = await f().data();
    setBackend(wasm);
    return [a, b];
  }

  it('exp, log, sqrt at NaN, ±Infinity, 0, negatives and overflow', async () => {
    for (const [name, op] of [['exp', eg.exp], ['log', eg.log], ['sqrt', eg.sqrt]] as const) {
      const [a, b] = await both(() => op(eg.tensor(EDGES)));
      EDGES.forEach((x, i) => expect(same(b[i], a[i]), `${name}(${x}): webgpu ${b[i]}, wasm ${a[i]}`).toBe(true));
    }
  });

  it('pow over every pair of edge values', async () => {
    const xs: number[] = [], ys: number[] = [];
    for (const x of EDGES) for (const y of EDGES) { xs.push(x); ys.push(y); }
    const [a, b] = await both(() => eg.pow(eg.tensor(xs), eg.tensor(ys)));
    xs.forEach((x, i) => expect(same(b[i], a[i], 1e-5), `pow(${x}, ${ys[i]}): webgpu ${b[i]}, wasm ${a[i]}`).toBe(true));
  });

  it('softmax and log-softmax of rows holding NaN or ±Infinity', async () => {
    const rows = [[1, 2, 3], [1, NaN, 3], [1, Infinity, 3], [1, -Infinity, 3], [-Infinity, -Infinity, -Infinity], [1e30, -1e30, 0]];
    for (const log of [false, true]) {
      const [a, b] = await both(() => (log ? eg.logSoftmax : eg.softmax)(eg.tensor(rows)));
      for (let i = 0; i < a.length; i++) expect(same(b[i], a[i]), `${log ? 'log' : ''}softmax row ${Math.floor(i / 3)}: webgpu ${b[i]}, wasm ${a[i]}`).toBe(true);
    }
  });
});
