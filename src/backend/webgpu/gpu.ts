// The GPU side of the webgpu backend: one storage buffer is the heap (handles are byte offsets into it, as
// in wasm: the same arena carves it), kernels are WGSL compute shaders that bind the whole heap once and
// take their operands as offsets in a uniform block, and dispatches are batched into one command encoder
// until something must cross to the CPU (a read, a write, growing the heap).
import type { HeapMemory } from '../backend.js';

const PAGE = 65536;
/** Bytes of each dispatch's uniform block (the minimum uniform offset alignment): 64 words of arguments. */
const SLOT = 256;
const RING_SLOTS = 4096;
export const ARG_WORDS = SLOT / 4;

/**
 * What every kernel's WGSL starts with: the heap as f32 words, the argument block (u32 words, f32 by
 * bitcast), and the flat thread index over a 1-D dispatch that may wrap into y (65535 groups per axis).
 */
export const PRELUDE: string = /* wgsl */ `
struct Args { w: array<vec4<u32>, ${ARG_WORDS / 4}> };
@group(0) @binding(0) var<storage, read_write> mem: array<f32>;
@group(0) @binding(1) var<uniform> args: Args;
fn ai(i: u32) -> u32 { return args.w[i / 4u][i % 4u]; }
fn af(i: u32) -> f32 { return bitcast<f32>(ai(i)); }
fn memI(i: u32) -> i32 { return bitcast<i32>(mem[i]); }
fn flat(g: vec3u, n: vec3u) -> u32 { return g.x + g.y * n.x * 64u; }
// not constant expressions: WGSL refuses infinities and NaN there
fn negInf() -> f32 { return bitcast<f32>(0xff800000u | (ai(0u) & 0u)); }
fn qnan() -> f32 { return bitcast<f32>(0x7fc00000u | (ai(0u) & 0u)); }
// by the bits: a compiler may assume x != x is false
fn isNan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
`;

/** A kernel's arguments: u32 words (offsets in f32 elements, sizes, codes) then f32 words. */
export interface KernelArgs {
  u?: number[];
  f?: number[];
}

export class GpuHeap implements HeapMemory {
  buffer: ArrayBuffer;
  gpuBuffer: GPUBuffer;
  private encoder?: GPUCommandEncoder;
  private ring: GPUBuffer;
  private ringAt = 0;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  /**
   * Objects the node binding must not collect while the GPU may still use them: shader modules for as long
   * as their pipelines, and each batch's bind groups and command buffer until its work is done.
   */
  private readonly modules: GPUShaderModule[] = [];
  private batch: unknown[] = [];
  /** Dispatches encoded and not yet submitted. */
  pending = 0;

  constructor(readonly device: GPUDevice, pages: number, readonly maxBytes: number) {
    this.gpuBuffer = this.newBuffer(pages * PAGE);
    // the arena reads only byteLength of the host side of a heap
    this.buffer = { byteLength: pages * PAGE } as ArrayBuffer;
    this.ring = device.createBuffer({ size: SLOT * RING_SLOTS, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    // a shader or dispatch the implementation refused: kept, and thrown by the next read (never a silent zero)
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => { this.error ??= ev.error.message; };
  }

  /** The first error the device reported, if any. */
  error?: string;

  private newBuffer(size: number): GPUBuffer {
    return this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  }

  /** Grow the heap by whole pages: a new buffer with the old contents (handles stay valid). */
  grow(pages: number): number {
    const old = this.buffer.byteLength, size = old + pages * PAGE;
    if (size > this.maxBytes) throw new RangeError(`edgegrad: out of GPU memory: the heap cannot grow to ${size} bytes (the device allows ${this.maxBytes} in one buffer)`);
    const next = this.newBuffer(size);
    const enc = this.takeEncoder();
    enc.copyBufferToBuffer(this.gpuBuffer, 0, next, 0, old);
    this.flush();
    this.gpuBuffer.destroy();
    this.gpuBuffer = next;
    this.buffer = { byteLength: size } as ArrayBuffer;
    return old / PAGE;
  }

  private takeEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  /** Submit what is encoded. */
  flush(): void {
    if (!this.encoder) return;
    const cmd = this.encoder.finish();
    this.device.queue.submit([cmd]);
    const held = [...this.batch, cmd, this.encoder];
    this.batch = [];
    void this.device.queue.onSubmittedWorkDone().then(() => { held.length = 0; });
    this.encoder = undefined;
    this.pending = 0;
  }

  private pipeline(code: string): GPUComputePipeline {
    let p = this.pipelines.get(code);
    if (!p) {
      // WGSL's directives (`enable f16;`) come before any declaration: ahead of the prelude
      const at = code.startsWith('enable ') ? code.indexOf(';') + 1 : 0;
      const module = this.device.createShaderModule({ code: code.slice(0, at) + PRELUDE + code.slice(at) });
      this.modules.push(module);
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      this.pipelines.set(code, p);
    }
    return p;
  }

  /**
   * Encode one dispatch of `code` (a WGSL entry point `main` with @workgroup_size(64)) over `threads`
   * threads; the shader reads its arguments with ai(k) / af(k).
   */
  run(code: string, threads: number, a: KernelArgs): void {
    if (threads <= 0) return;
    const words = new Uint32Array(ARG_WORDS);
    const u = a.u ?? [], f = a.f ?? [];
    if (u.length + f.length > ARG_WORDS) throw new Error(`edgegrad: internal: ${u.length + f.length} kernel arguments exceed ${ARG_WORDS}`);
    u.forEach((v, i) => { words[i] = v >>> 0; });
    new Float32Array(words.buffer).set(f, u.length);
    if (this.ringAt === RING_SLOTS) { this.flush(); this.ringAt = 0; }
    const at = this.ringAt++ * SLOT;
    this.device.queue.writeBuffer(this.ring, at, words);
    const pipe = this.pipeline(code);
    const bind = this.device.createBindGroup({
      layout: pipe.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: this.gpuBuffer } }, { binding: 1, resource: { buffer: this.ring, offset: at, size: SLOT } }],
    });
    const groups = Math.ceil(threads / 64);
    const x = Math.min(groups, 65535), y = Math.ceil(groups / x);
    this.batch.push(bind);
    const pass = this.takeEncoder().beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(x, y);
    pass.end();
    this.pending++;
  }

  /** Bytes into the heap (after everything encoded so far has run). */
  write(at: number, data: ArrayBufferView): void {
    this.flush();
    if (data.byteLength % 4 === 0) {
      this.device.queue.writeBuffer(this.gpuBuffer, at, data.buffer, data.byteOffset, data.byteLength);
      return;
    }
    // writeBuffer takes whole words: pad the tail with what is there... which only a read could tell; the
    // arena rounds every block to 64 bytes, so the padding bytes belong to the same block and are unused
    const padded = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
    padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.device.queue.writeBuffer(this.gpuBuffer, at, padded);
  }

  private staging?: GPUBuffer;
  private reading: Promise<unknown> = Promise.resolve();

  /**
   * Bytes out of the heap, once everything encoded so far has run. Reads take turns through one staging
   * buffer (mapping many short-lived buffers at once exhausted Dawn on SwiftShader).
   */
  read(at: number, bytes: number): Promise<Uint8Array> {
    const size = Math.max(Math.ceil(bytes / 4) * 4, 4);
    // a snapshot now, in order with what is encoded so far: later dispatches cannot change what this read sees
    const snap = this.device.createBuffer({ size, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    if (bytes) this.takeEncoder().copyBufferToBuffer(this.gpuBuffer, at, snap, 0, size);
    const turn = this.reading.then(async () => {
      // the previous read has unmapped the staging buffer; it grows here, in turn, never under another read
      if (!this.staging || this.staging.size < size) {
        this.staging?.destroy();
        this.staging = this.device.createBuffer({ size: Math.max(size, 1 << 16), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      }
      const staging = this.staging;
      this.takeEncoder().copyBufferToBuffer(snap, 0, staging, 0, size);
      this.flush();
      await staging.mapAsync(GPUMapMode.READ, 0, size);
      snap.destroy();
      if (this.error) {
        staging.unmap();
        const message = this.error;
        this.error = undefined;
        throw new Error(`edgegrad: the WebGPU device refused work: ${message}`);
      }
      const out = new Uint8Array(staging.getMappedRange(0, size).slice(0, bytes));
      staging.unmap();
      return out;
    });
    this.reading = turn.catch(() => undefined);
    return turn;
  }
}
