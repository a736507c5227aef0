// The memory owner: one growable memory (a WebAssembly.Memory, the reference heap), carved by a first-fit free list with coalescing.
// Blocks are 64-byte aligned (cache lines; SIMD loads never straddle). Growing the memory keeps every
// address valid but detaches old views, so views are always made fresh from `memory.buffer`.
import type { HeapMemory } from './backend.js';

const ALIGN = 64;
const PAGE = 65536;

export class Arena {
  private free: Array<{ ptr: number; size: number }> = [];
  private used = new Map<number, number>();
  private top: number;
  /** Peak bytes in use, for memory reports. */
  peak = 0;
  inUse = 0;

  constructor(readonly memory: HeapMemory, base: number, private readonly maxBytes = 4 * 1024 ** 3 - PAGE) {
    this.top = align(base);
  }

  /** A block from free space or the memory already there, without growing it; -1 when none fits. */
  tryAlloc(bytes: number): number {
    const size = align(Math.max(bytes, 1));
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i];
      if (b.size >= size) {
        const ptr = b.ptr;
        if (b.size === size) this.free.splice(i, 1);
        else { b.ptr += size; b.size -= size; }
        return this.take(ptr, size);
      }
    }
    if (this.top + size <= this.memory.buffer.byteLength) {
      const ptr = this.top;
      this.top += size;
      return this.take(ptr, size);
    }
    return -1;
  }

  /** Tests: fill every free byte (free blocks and the memory above the top) with `byte`, as a stale read would see it. */
  fillFree(byte: number): void {
    const u8 = new Uint8Array(this.memory.buffer);
    for (const b of this.free) u8.fill(byte, b.ptr, b.ptr + b.size);
    u8.fill(byte, this.top);
  }

  /** Bytes free now without growing: the free blocks and the memory above the top. */
  freeBytes(): number {
    return this.free.reduce((s, b) => s + b.size, 0) + this.memory.buffer.byteLength - this.top;
  }

  /** Whether tryAlloc(bytes) would succeed. */
  fits(bytes: number): boolean {
    const size = align(Math.max(bytes, 1));
    return this.top + size <= this.memory.buffer.byteLength || this.free.some((b) => b.size >= size);
  }

  alloc(bytes: number): number {
    const got = this.tryAlloc(bytes);
    if (got >= 0) return got;
    const size = align(Math.max(bytes, 1));
    const ptr = this.top;
    const end = ptr + size;
    if (end > this.maxBytes) {
      throw new RangeError(`edgegrad: out of backend memory: cannot allocate ${bytes} bytes (in use ${this.inUse}, limit ${this.maxBytes})`);
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    return this.take(ptr, size);
  }

  release(ptr: number): void {
    const size = this.used.get(ptr);
    if (size === undefined) throw new Error(`edgegrad: double free or foreign pointer ${ptr}`);
    this.used.delete(ptr);
    this.inUse -= size;
    if (ptr + size === this.top) {
      this.top = ptr;
      // absorb a free block that now touches the top
      const last = this.free[this.free.length - 1];
      if (last && last.ptr + last.size === this.top) { this.top = last.ptr; this.free.pop(); }
      return;
    }
    // insert sorted by address and coalesce with neighbours
    let i = 0;
    while (i < this.free.length && this.free[i].ptr < ptr) i++;
    this.free.splice(i, 0, { ptr, size });
    const next = this.free[i + 1];
    if (next && ptr + size === next.ptr) { this.free[i].size += next.size; this.free.splice(i + 1, 1); }
    const prev = this.free[i - 1];
    if (prev && prev.ptr + prev.size === ptr) { prev.size += this.free[i].size; this.free.splice(i, 1); }
  }

  private take(ptr: number, size: number): number {
    this.used.set(ptr, size);
    this.inUse += size;
    if (this.inUse > this.peak) this.peak = this.inUse;
    return ptr;
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
