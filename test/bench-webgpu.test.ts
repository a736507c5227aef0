// The WebGPU bench (`npm run bench -- --webgpu`, bench/webgpu.mjs) in its sized-down form on SwiftShader: it
// starts both libraries on the same adapter, times every row it has at small sizes and writes its table, so
// the script is ready to run on a real GPU. Its numbers here are a software adapter's: not checked.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

const driver = existsSync('/usr/lib/chromium/vk_swiftshader_icd.json');
if (!driver && process.env.CI) throw new Error('test/bench-webgpu: CI must have the SwiftShader driver (Debian chromium): .ci/run installs it');

describe.skipIf(!driver)('npm run bench -- --webgpu --small', () => {
  it('runs edgegrad and tfjs-webgpu on the same adapter and writes a table with a number in each column', () => {
    const out = execFileSync(process.execPath, ['bench/run.mjs', '--webgpu', '--small'], { encoding: 'utf8', timeout: 240_000, env: process.env });
    expect(out).toContain('swiftshader');
    expect(out).not.toContain('did not start');
    const table = readFileSync('bench/results/webgpu-small.md', 'utf8');
    expect(table).toContain('a software adapter');
    const rows = table.split('\n').filter((l) => /^\| (GEMM|conv|LeNet)/.test(l));
    expect(rows.length).toBe(5);
    for (const r of rows) {
      const [, , ours, theirs] = r.split('|').map((c) => c.trim());
      expect(Number(ours), r).toBeGreaterThan(0);
      expect(Number(theirs), r).toBeGreaterThan(0);
    }
  }, 300_000);
});
