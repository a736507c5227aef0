// Float16 weight storage: a weight kept as IEEE half values, two per 32-bit word (half the bytes of float32),
// widened to float32 by `unpackHalf` right before the layer that reads it, so computation stays float32 and
// only one layer's widened weights are alive at a time (the planner reuses their buffer). The values are
// rounded to half once, when stored (src/graph/half.ts); loadModel's `weights: 'float16'` asks for it.
import { registerOp } from '../graph/registry.js';
import { sizeOfShape } from '../graph/ir.js';
import { halfToFloat } from '../io/half.js';
import { fail } from './util.js';
import type { DeviceHalf } from '../backend/webgpu/half.js';

/** float16 bits -> float32, all 65,536 of them (a lookup beats the arithmetic in the widening loop). */
let table: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfToFloat(h);
  }
  return table;
}

/** n halves packed two per word at `packed` (element 2k in the low 16 bits of word k) as float32 into y. */
export function unpackHalves(packed: Int32Array, n: number, y: Float32Array): void {
  const t = halfTable();
  for (let k = 0; k < n >> 1; k++) {
    const w = packed[k];
    y[2 * k] = t[w & 0xffff];
    y[2 * k + 1] = t[(w >>> 16) & 0xffff];
  }
  if (n & 1) y[n - 1] = t[packed[n >> 1] & 0xffff];
}

registerOp({
  name: 'unpackHalf',
  infer([p], a, node) {
    const shape = a.shape as number[];
    if (p.length !== 1 || p[0] !== Math.ceil(sizeOfShape(shape) / 2)) fail('unpackHalf', `node '${node}': ${p[0]} words cannot hold the ${sizeOfShape(shape)} halves of ${JSON.stringify(shape)}`);
    return [shape.slice()];
  },
  outputDtype: () => 'float32',
  run(ctx, n) {
    const size = sizeOfShape(n.attrs.shape as number[]);
    // on the webgpu backend its kernel (the same values); elsewhere widened on the host, over the backend's memory
    const gpu = ctx.be.syncRead ? undefined : (ctx.be as { half?: DeviceHalf }).half;
    if (gpu) return gpu.unpack(size, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]));
    if (!ctx.be.syncRead) fail('unpackHalf', `node '${n.name}': widens float16 weights on the CPU; the '${ctx.be.name}' backend cannot`);
    unpackHalves(ctx.be.i32(ctx.ptr(n.inputs[0]), Math.ceil(size / 2)), size, ctx.be.f32(ctx.ptr(n.outputs[0]), size));
  },
  grad(n, [dy]) {
    if (dy !== undefined) fail('unpackHalf', `weight '${n.name.replace(/\/f32$/, '')}' is stored as float16 (loadModel's weights: 'float16'), which does not train: load the model in float32 to fine-tune it`);
    return [undefined];
  },
});
