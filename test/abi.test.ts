// The TypeScript view of the kernel ABI (src/backend/kernels.ts, and the wasm-only exports in
// src/backend/wasm/exports.ts) against what assembly/ exports, on
// every build: each declared kernel exists with the declared number of parameters, and every exported
// function is declared. A signature changed on one side only fails here, not as a silent misread.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKENDS, BUILDS, useBuild } from './helpers.js';
import { KERNEL_NAMES } from '../src/backend/kernels.js';
import { kernelTable, lackedKernels } from '../src/backend/backend.js';

/** name -> parameter count, from the method signatures of the Kernels interfaces. */
function declared(): Map<string, number> {
  const src = ['kernels.ts', 'wasm/exports.ts'].map((f) => readFileSync(join(import.meta.dirname, '..', 'src', 'backend', f), 'utf8')).join('\n')
    .replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const out = new Map<string, number>();
  // a method: name(params): type;  (params may span lines)
  for (const m of src.matchAll(/^\s*([a-zA-Z]\w*)\(([^)]*)\):\s*[\w<>[\]|\s]+;/gm)) {
    const params = m[2].trim();
    out.set(m[1], params ? params.split(',').filter((p) => p.trim()).length : 0);
  }
  return out;
}

describe.each(BUILDS)('kernel ABI (%s build)', (build) => {
  it('every kernel kernels.ts declares is exported with that many parameters, and every export is declared', () => {
    const be = useBuild(build);
    const exports = be.kernels as unknown as Record<string, unknown>;
    const decl = declared();
    expect(decl.size).toBeGreaterThan(50);
    const wrong: string[] = [];
    for (const [name, n] of decl) {
      const f = exports[name];
      if (typeof f !== 'function') wrong.push(`${name}: declared, not exported`);
      else if ((f as (...a: unknown[]) => unknown).length !== n) wrong.push(`${name}: declared with ${n} parameters, exported with ${(f as (...a: unknown[]) => unknown).length}`);
    }
    for (const [name, v] of Object.entries(exports)) {
      if (typeof v === 'function' && !decl.has(name)) wrong.push(`${name}: exported, not declared`);
    }
    expect(wrong).toEqual([]);
  });
});

/** The ABI alone (src/backend/kernels.ts): what every backend's kernel table implements. */
function abi(): Map<string, number> {
  const only = readFileSync(join(import.meta.dirname, '..', 'src', 'backend', 'kernels.ts'), 'utf8');
  const all = declared();
  return new Map([...all].filter(([name]) => new RegExp(`^\\s*${name}\\(`, 'm').test(only)));
}

describe('the kernel table of every backend', () => {
  it('KERNEL_NAMES lists exactly the ABI', () => {
    expect([...KERNEL_NAMES].sort()).toEqual([...abi().keys()].sort());
  });

  it.each(BACKENDS)('%s implements every kernel with the ABI\'s parameters, and lacks none', (build) => {
    const be = useBuild(build);
    const table = be.kernels as unknown as Record<string, (...a: unknown[]) => unknown>;
    const wrong = [...abi()].filter(([name, n]) => typeof table[name] !== 'function' || table[name].length !== n).map(([name]) => name);
    expect(wrong).toEqual([]);
    expect(be.lacks()).toEqual([]);
  });

  it('a backend that lacks a kernel says which, and calling it names the backend and the kernel', () => {
    const table = kernelTable('partial', { axpy: () => undefined });
    expect(lackedKernels(table)).toContain('gemm');
    expect(lackedKernels(table)).not.toContain('axpy');
    expect(() => table.gemm(0, 0, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0)).toThrow("backend 'partial' lacks kernel 'gemm'");
  });
});
