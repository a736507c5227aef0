// The reference backend's heap: one growable ArrayBuffer with the shape of a WebAssembly.Memory (`buffer`,
// `grow(pages)`), so the same arena carves it and buffer handles are byte offsets, as in wasm. Growing
// replaces the buffer (old views detach from the data, as wasm views do): take views fresh after any
// allocation.
const PAGE = 65536;

import type { HeapMemory } from '../backend.js';
export type { HeapMemory };

export class RefMemory implements HeapMemory {
  buffer: ArrayBuffer;
  constructor(pages = 16, private readonly maxPages = 65536) {
    this.buffer = new ArrayBuffer(pages * PAGE);
  }
  grow(pages: number): number {
    const old = this.buffer.byteLength / PAGE;
    if (old + pages > this.maxPages) throw new RangeError(`edgegrad: reference heap cannot grow past ${this.maxPages} pages`);
    const next = new ArrayBuffer((old + pages) * PAGE);
    new Uint8Array(next).set(new Uint8Array(this.buffer));
    this.buffer = next;
    return old;
  }
}

/** Views of the heap at a handle (fresh each call). */
export const f32 = (m: HeapMemory, p: number, n: number): Float32Array => new Float32Array(m.buffer, p, n);
export const i32 = (m: HeapMemory, p: number, n: number): Int32Array => new Int32Array(m.buffer, p, n);
export const u32 = (m: HeapMemory, p: number, n: number): Uint32Array => new Uint32Array(m.buffer, p, n);
export const u8 = (m: HeapMemory, p: number, n: number): Uint8Array => new Uint8Array(m.buffer, p, n);
export const i8 = (m: HeapMemory, p: number, n: number): Int8Array => new Int8Array(m.buffer, p, n);
