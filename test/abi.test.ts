// The TypeScript view of the kernel ABI (src/backend/wasm/kernels.ts) against what assembly/ exports, on
// every build: each declared kernel exists with the declared number of parameters, and every exported
// function is declared. A signature changed on one side only fails here, not as a silent misread.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILDS, useBuild } from './helpers.js';

/** name -> parameter count, from the method signatures of the Kernels interfaces. */
function declared(): Map<string, number> {
  const src = readFileSync(join(import.meta.dirname, '..', 'src', 'backend', 'wasm', 'kernels.ts'), 'utf8')
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
