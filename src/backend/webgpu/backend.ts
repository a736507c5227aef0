// The webgpu backend: one GPU storage buffer as the heap (the same arena carves it, so handles, plans and
// ownership work as on wasm), WGSL kernels as its kernel table, and reads only asynchronously
// (`await t.data()`; dataSync() refuses). Nothing is evicted: eviction would read synchronously.
import { HeapBackend } from '../heap.js';
import { kernelTable } from '../backend.js';
import type { Kernels, Ptr } from '../kernels.js';
import { RefMemory } from '../ref/memory.js';
import { elementwiseRandomOptimKernels } from '../ref/elementwise-random-optim.js';
import { requestGpuDevice, type AdapterReport } from './device.js';
import { GpuHeap } from './gpu.js';
import { gpuCopy, webgpuKernels } from './kernels.js';

/** The handle returned by descriptor(): below the heap base, never a real allocation. */
const DESCRIPTOR = 64;
const HEAP_BASE = 256;

export class WebGpuBackend extends HeapBackend {
  readonly name = 'webgpu';
  readonly build = 'webgpu';
  override readonly syncRead = false;
  declare readonly memory: GpuHeap;

  private constructor(readonly device: GPUDevice, readonly adapter: AdapterReport, heap: GpuHeap, private readonly descriptorValues: { values: readonly number[] }) {
    super(heap, kernelTable('webgpu', { ...webgpuKernels(heap, () => descriptorValues.values), ...hostRandom(heap) }), HEAP_BASE);
    this.reclaimFloor = Infinity;
  }

  static async create(): Promise<WebGpuBackend> {
    const { device, report, keep } = await requestGpuDevice();
    const heap = new GpuHeap(device, 16, Math.min(report.limits.maxStorageBufferBindingSize, report.limits.maxBufferSize));
    const be = new WebGpuBackend(device, report, heap, { values: [] });
    be.keep = keep;
    void device.lost.then((info) => { be.lost = info.message || info.reason || 'lost'; });
    return be;
  }

  /** The entry point and adapter the device came from (see GpuDevice.keep). */
  /** @internal */ keep: unknown[] = [];

  /** Why the device was lost, if it was. */
  lost?: string;

  private check(): void {
    if (this.lost) throw new Error(`edgegrad: the WebGPU device was lost (${this.lost}); call 'await eg.ready({ backend: "webgpu" })' to start again`);
  }

  override write(ptr: Ptr, data: ArrayBufferView): void {
    this.check();
    this.memory.write(ptr, data);
  }

  override async read(ptr: Ptr, bytes: number): Promise<Uint8Array> {
    this.check();
    return this.memory.read(ptr, bytes);
  }

  override readSync(): Uint8Array {
    throw new Error("edgegrad: the webgpu backend reads back only asynchronously: use 'await t.data()'");
  }

  override copy(dst: Ptr, src: Ptr, bytes: number): void {
    gpuCopy(this.memory, dst, src, bytes);
  }

  private noHostView(): never {
    throw new Error('edgegrad: this op reads tensor memory on the CPU, which the webgpu backend cannot do: it has no webgpu kernel yet');
  }

  override f32(): Float32Array { return this.noHostView(); }
  override i32(): Int32Array { return this.noHostView(); }

  override descriptor(values: readonly number[]): number {
    if (values.length > 64) throw new Error(`edgegrad: descriptor of ${values.length} ints exceeds 64`);
    this.descriptorValues.values = values.slice();
    return DESCRIPTOR;
  }

  /** Everything encoded so far submitted (and, awaited, done). */
  async sync(): Promise<void> {
    this.memory.flush();
    await this.device.queue.onSubmittedWorkDone();
  }
}

/**
 * The random kernels: xoshiro128** is a sequential stream, so the draws are made on the CPU by the
 * reference kernels (the same streams as wasm: a seeded run draws the same weights and dropout masks on
 * every backend) and uploaded; the generator's state is shadowed on the CPU by its handle.
 */
function hostRandom(heap: GpuHeap): Pick<Kernels, 'rngSeed' | 'rngUniform' | 'rngNormal' | 'dropoutMask'> {
  const states = new Map<number, Uint8Array>();
  /** Run a reference draw of n floats from the state at `rng`, upload it to `out`. */
  const draw = (rng: number, n: number, out: number, f: (k: ReturnType<typeof elementwiseRandomOptimKernels>, outAt: number) => void) => {
    const state = states.get(rng);
    if (!state) throw new Error('edgegrad: internal: a webgpu random stream was used before it was seeded');
    const mem = new RefMemory(Math.max(1, Math.ceil((n * 4 + 64) / 65536)));
    new Uint8Array(mem.buffer, 0, 16).set(state);
    f(elementwiseRandomOptimKernels(mem), 64);
    state.set(new Uint8Array(mem.buffer, 0, 16));
    heap.write(out, new Float32Array(mem.buffer, 64, n));
  };
  return {
    rngSeed(rng, seed) {
      const mem = new RefMemory(1);
      elementwiseRandomOptimKernels(mem).rngSeed(0, seed);
      states.set(rng, new Uint8Array(mem.buffer, 0, 16).slice());
    },
    rngUniform: (rng, n, out, lo, hi) => draw(rng, n, out, (k, at) => k.rngUniform(0, n, at, lo, hi)),
    rngNormal: (rng, n, out, mean, std, truncated) => draw(rng, n, out, (k, at) => k.rngNormal(0, n, at, mean, std, truncated)),
    dropoutMask: (rng, n, out, rate) => draw(rng, n, out, (k, at) => k.dropoutMask(0, n, at, rate)),
  };
}
