// The webgpu backend: one GPU storage buffer as the heap (the same arena carves it, so handles, plans and
// ownership work as on wasm), WGSL kernels as its kernel table, and reads only asynchronously
// (`await t.data()`; dataSync() refuses). Nothing is evicted: eviction would read synchronously.
import { HeapBackend } from '../heap.js';
import { kernelTable } from '../backend.js';
import type { Kernels, Ptr } from '../kernels.js';
import { requestGpuDevice, type AdapterReport } from './device.js';
import { GpuHeap } from './gpu.js';
import { gpuCopy, webgpuKernels } from './kernels.js';
import { activationKernels } from './act.js';
import { augmentKernels } from './augment.js';
import { randomKernels, type HostDraws } from './random.js';
import { recurrentKernels } from './recurrent.js';
import { deviceStats, syncStats, type DeviceStats } from './stats.js';
import { deviceIndexing, type DeviceIndexing } from './indexing.js';
import { deviceNumeric, type DeviceNumeric } from './numeric.js';
import { deviceHalf, type DeviceHalf } from './half.js';
import { deviceMetrics, type DeviceMetrics } from './metrics.js';
import { refuseNonFiniteOnRead } from './read-guard.js';
import type { Tensor } from '../../tensor.js';
import './device-ops.js'; // predict's Monte-Carlo moments and oneHot there (registers itself with ../device-ops.ts)
import '../../train/step-gpu.js'; // fit's step on this backend (registers itself with src/train/step.ts)

/** The handle returned by descriptor(): below the heap base, never a real allocation. */
const DESCRIPTOR = 64;
const HEAP_BASE = 256;

export class WebGpuBackend extends HeapBackend implements HostDraws, DeviceStats {
  readonly name = 'webgpu';
  readonly build = 'webgpu';
  override readonly syncRead = false;
  declare readonly memory: GpuHeap;

  private readonly random: ReturnType<typeof randomKernels>;
  private readonly stats: DeviceStats;
  /** The kernels of the ops that loop over tensor memory on wasm (gathers, resizes, pools: ./indexing.ts). */
  readonly indexing: DeviceIndexing & { settle(): Promise<void> };
  /** The kernels of the ops that loop over tensor memory on wasm (integers, casts, fakeQuant, ...: ./numeric.ts). */
  readonly numeric: DeviceNumeric;
  /** Float16 weights: the widening kernel, and the f16 GEMM / convolution where the device has shader-f16 (./half.ts). */
  readonly half: DeviceHalf;
  /** fit's metrics summed on the device (./metrics.ts). */
  readonly metrics: DeviceMetrics;

  private constructor(readonly device: GPUDevice, readonly adapter: AdapterReport, heap: GpuHeap, private readonly descriptorValues: { values: readonly number[] }) {
    const random = randomKernels(heap), stats = deviceStats(heap);
    super(heap, kernelTable('webgpu', {
      ...webgpuKernels(heap, () => descriptorValues.values),
      ...activationKernels(heap), ...recurrentKernels(heap), ...augmentKernels(heap),
      ...random, ...syncStats(), sumSquaresTo: stats.sumSquaresTo,
    }), HEAP_BASE);
    this.random = random;
    this.stats = stats;
    this.indexing = deviceIndexing(heap, (bytes) => this.alloc(bytes));
    this.numeric = deviceNumeric(heap, this);
    this.half = deviceHalf(heap, adapter.f16);
    this.metrics = deviceMetrics(heap);
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
    const out = await this.memory.read(ptr, bytes);
    // an index a gather found out of range since the last read: wasm's error, now
    await this.indexing.settle();
    // a value toInteger refuses (non-finite, beyond 2^24) since the last read: wasm's error, now
    await this.numeric.settle();
    return out;
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

  hostUniform(rng: number, n: number): Float32Array { return this.random.hostUniform(rng, n); }
  hostNormal(rng: number, n: number): Float32Array { return this.random.hostNormal(rng, n); }

  // the statistics whose result a GPU cannot return synchronously: on the device (into a float at acc), or awaited
  countNonFiniteTo(n: number, x: Ptr, acc: Ptr): void { this.stats.countNonFiniteTo(n, x, acc); }
  sumSquaresTo(n: number, x: Ptr, acc: Ptr): void { this.stats.sumSquaresTo(n, x, acc); }
  penaltyTo(n: number, w: Ptr, l1: number, l2: number, acc: Ptr): void { this.stats.penaltyTo(n, w, l1, l2, acc); }
  flagNonFinite(n: number, x: Ptr, slot: Ptr, tag: number): void { this.stats.flagNonFinite(n, x, slot, tag); }

  /** predict's inputs checked on the device, refused when an output is read (./read-guard.ts; src/graph/finite.ts's ReadGuard). */
  refuseNonFiniteOnRead(xs: Tensor[], whats: string[], ys: Tensor[], op: string): void { refuseNonFiniteOnRead(this, xs, whats, ys, op); }

  /** How many of the n floats at x are NaN or infinite (the kernel countNonFinite, read back). */
  countNonFiniteAsync(n: number, x: Ptr): Promise<number> { return this.statAsync((acc) => this.countNonFiniteTo(n, x, acc)); }
  /** The sum of squares of the n floats at x (float32 partial sums; wasm sums in float64). */
  sumSquaresAsync(n: number, x: Ptr): Promise<number> { return this.statAsync((acc) => this.sumSquaresTo(n, x, acc)); }
  /** sum l1 |w| + l2 w^2 over the n floats at w. */
  penaltyAsync(n: number, w: Ptr, l1: number, l2: number): Promise<number> { return this.statAsync((acc) => this.penaltyTo(n, w, l1, l2, acc)); }

  private async statAsync(run: (acc: Ptr) => void): Promise<number> {
    const acc = this.alloc(4);
    try {
      this.kernels.fillValue(1, acc, 0);
      run(acc);
      return new Float32Array((await this.read(acc, 4)).buffer)[0];
    } finally {
      this.free(acc);
    }
  }

  /** Everything encoded so far submitted (and, awaited, done). */
  async sync(): Promise<void> {
    this.memory.flush();
    await this.device.queue.onSubmittedWorkDone();
  }
}
