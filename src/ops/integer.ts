// Integers held in float32 (an ONNX graph's uint8 ... int64 values: every integer up to 2^24 in magnitude is
// exact there, so Add, Sub, Mul, Max, Min, comparisons and max pooling need nothing more). Two ops give the
// rest of integer semantics: toInteger rounds a float result to its integer type (Div truncates toward zero,
// Pow rounds to nearest, a Cast to an integer type truncates) and wraps or saturates it to the type's range;
// requantize is ONNX's QuantizeLinear / QLinear requantization, per tensor or per axis. Neither carries a
// gradient: integer values are data, not something training changes. Both run on the CPU side of the
// backend's memory, as fakeQuant does (integer graphs are small: indices, masks, quantized tests), or as the
// webgpu backend's kernels (src/backend/webgpu/numeric.ts: the same bits; toInteger's refusals at its next read).
import { registerOp } from '../graph/registry.js';
import { sizeOfShape } from '../graph/ir.js';
import { roundHalfEven } from './quant.js';
import { fail } from './util.js';
import type { RunContext } from '../graph/registry.js';
import type { Node } from '../graph/ir.js';
import type { DeviceNumeric } from '../backend/webgpu/numeric.js';

/** The webgpu backend's kernels for these ops (a backend the CPU cannot read). */
function deviceNumeric(ctx: RunContext): DeviceNumeric | undefined {
  return ctx.be.syncRead ? undefined : (ctx.be as { numeric?: DeviceNumeric }).numeric;
}

/** The node's input and output as float32 views of the backend's memory (a backend the CPU reads: wasm). */
function views(ctx: RunContext, n: Node): { x: Float32Array; y: Float32Array; shape: number[] } {
  if (!ctx.be.syncRead) fail(n.op, `node '${n.name}': runs on the CPU; the '${ctx.be.name}' backend cannot (run it on wasm)`);
  const shape = ctx.shape(n.inputs[0]), size = sizeOfShape(shape);
  return { x: ctx.be.f32(ctx.ptr(n.inputs[0]), size), y: ctx.be.f32(ctx.ptr(n.outputs[0]), size), shape };
}

/** 2^24: beyond it float32 skips integers */
export const EXACT_INT = 16777216;

export interface ToIntegerAttrs {
  /** 'trunc': toward zero (integer Div, Cast); 'even': to nearest, ties to even (Pow) */
  round: 'trunc' | 'even';
  /** the integer type's width (8, 16, 32, 64) and signedness; 8 and 16 bits wrap modulo 2^bits as C does */
  bits: number;
  signed: boolean;
  /** what the node computes, for errors (the ONNX node and op) */
  what: string;
}

/** One value of toInteger: rounded, checked exact, wrapped to 8 / 16 bits. */
export function toIntegerValue(v: number, a: ToIntegerAttrs): number {
  if (!Number.isFinite(v)) throw new Error(`edgegrad: ${a.what} gives ${v} (an integer division by zero?): integers have no ${v}`);
  let r = a.round === 'trunc' ? Math.trunc(v) : roundHalfEven(v);
  if (Math.abs(r) > EXACT_INT) throw new Error(`edgegrad: ${a.what} gives ${r}, beyond 2^24: edgegrad holds integers in float32, exact only up to 2^24 in magnitude`);
  if (a.bits <= 16) {
    const m = 2 ** a.bits;
    r = ((r % m) + m) % m;
    if (a.signed && r >= m / 2) r -= m;
  } else if (!a.signed && r < 0) {
    throw new Error(`edgegrad: ${a.what} gives ${r}, negative for an unsigned ${a.bits}-bit type (it would wrap to ${2 ** a.bits + r}, beyond 2^24)`);
  }
  return r;
}

registerOp({
  name: 'toInteger',
  infer([x]) { return [x.slice()]; },
  run(ctx, n) {
    const a = n.attrs as unknown as ToIntegerAttrs, gpu = deviceNumeric(ctx);
    if (gpu) {
      const size = sizeOfShape(ctx.shape(n.inputs[0]));
      gpu.toInteger(size, ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]), a.round, a.bits, a.signed, (v) => toIntegerValue(v, a));
      return;
    }
    const { x, y } = views(ctx, n);
    for (let i = 0; i < x.length; i++) y[i] = toIntegerValue(x[i], a);
  },
  grad: () => [undefined],
});

export interface RequantizeAttrs {
  /** per tensor (one value) or per index of `axis` (of the value as stored) */
  scale: number[];
  zeroPoint: number[];
  axis: number;
  qmin: number;
  qmax: number;
  /**
   * 'divide': x / scale (QuantizeLinear, in float32); 'multiply': x * scale, scale the float32 multiplier
   * x_scale * w_scale / y_scale of a QLinear op's integer sums (as ONNX Runtime requantizes)
   */
  mode: 'divide' | 'multiply';
}

/** y = saturate(round_half_even(x / scale or x * scale) + zero point) per element, per tensor or per axis */
registerOp({
  name: 'requantize',
  infer([x]) { return [x.slice()]; },
  run(ctx, n) {
    const a = n.attrs as unknown as RequantizeAttrs, gpu = deviceNumeric(ctx);
    if (gpu) {
      const shape = ctx.shape(n.inputs[0]);
      gpu.requantize(sizeOfShape(shape), ctx.ptr(n.inputs[0]), ctx.ptr(n.outputs[0]), sizeOfShape(shape.slice(a.axis + 1)), a.scale, a.zeroPoint, a.mode, a.qmin, a.qmax);
      return;
    }
    const { x, y, shape } = views(ctx, n);
    const C = a.scale.length, inner = sizeOfShape(shape.slice(a.axis + 1));
    for (let i = 0; i < x.length; i++) {
      const c = C === 1 ? 0 : Math.floor(i / inner) % C;
      const q = roundHalfEven(a.mode === 'divide' ? Math.fround(x[i] / a.scale[c]) : Math.fround(x[i] * a.scale[c])) + a.zeroPoint[c];
      y[i] = q < a.qmin ? a.qmin : q > a.qmax ? a.qmax : q;
    }
  },
  grad: () => [undefined],
});
