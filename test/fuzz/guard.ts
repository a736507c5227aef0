// Guarded buffers for kernel tests: every operand and workspace is allocated with guard bytes on both
// sides, filled with a pattern, and checked after the kernel ran. A kernel that writes one byte outside
// what it was given (or past the workspace size its *Size function promised) is caught, whatever the
// arena placed next to it. Outputs and workspaces start as garbage, so a kernel that reads them before
// writing is caught by the comparison with the reference.
import type { HeapBackend } from '../../src/backend/index.js';

const GUARD = 256;
const PATTERN = 0xa5;

interface Buf { name: string; base: number; bytes: number }

export class Guarded {
  private bufs: Buf[] = [];

  constructor(private readonly be: HeapBackend) {}

  /** A buffer of `bytes`, filled with `data` (f32) or with garbage (NaN-free large values). */
  alloc(name: string, bytes: number, data?: ArrayLike<number>): number {
    const base = this.be.alloc(bytes + 2 * GUARD);
    const u8 = new Uint8Array(this.be.memory.buffer, base, bytes + 2 * GUARD);
    u8.fill(PATTERN);
    const ptr = base + GUARD;
    // garbage, not zeros: a kernel must not assume a zeroed output or workspace
    const f = new Float32Array(this.be.memory.buffer, ptr, bytes >> 2);
    if (data) f.set(data); else f.fill(-3.1e7);
    this.bufs.push({ name, base, bytes });
    return ptr;
  }

  f32(name: string, data: ArrayLike<number>): number {
    return this.alloc(name, data.length * 4, data);
  }

  read(ptr: number, n: number): Float32Array {
    return new Float32Array(this.be.memory.buffer, ptr, n).slice();
  }

  /** Names of the buffers whose guard bytes changed, with the first offset hit ('ws +12 after end'). */
  damaged(): string[] {
    const out: string[] = [];
    for (const b of this.bufs) {
      const u8 = new Uint8Array(this.be.memory.buffer, b.base, b.bytes + 2 * GUARD);
      for (let i = 0; i < GUARD; i++) {
        if (u8[i] !== PATTERN) { out.push(`${b.name}: ${GUARD - i} bytes before its start`); break; }
      }
      for (let i = 0; i < GUARD; i++) {
        if (u8[GUARD + b.bytes + i] !== PATTERN) { out.push(`${b.name}: ${i} bytes after its end (${b.bytes} bytes)`); break; }
      }
    }
    return out;
  }

  free(): void {
    for (const b of this.bufs) this.be.free(b.base);
    this.bufs = [];
  }
}

/** Grow the wasm memory (then release the block): an overflow then lands on live data instead of trapping. */
export function growMemory(be: HeapBackend, bytes: number): void {
  be.free(be.alloc(bytes));
}
