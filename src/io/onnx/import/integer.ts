// Integer values in an imported graph (Val.itype): held as exact integers in float32 (ops/integer.ts). The
// ONNX integer types, and where float arithmetic needs one more step to give the integer result.
import type { ToIntegerAttrs } from '../../../ops/integer.js';
import '../../../ops/integer.js';
import type { OnnxNode } from '../proto.js';
import type { ImportContext } from './context.js';

/** ONNX integer element types: width, signedness and name (BOOL is a mask, see Val.mask) */
export const INT_TYPES: Readonly<Record<number, { bits: number; signed: boolean; name: string }>> = {
  2: { bits: 8, signed: false, name: 'uint8' }, 3: { bits: 8, signed: true, name: 'int8' },
  4: { bits: 16, signed: false, name: 'uint16' }, 5: { bits: 16, signed: true, name: 'int16' },
  6: { bits: 32, signed: true, name: 'int32' }, 7: { bits: 64, signed: true, name: 'int64' },
  12: { bits: 32, signed: false, name: 'uint32' }, 13: { bits: 64, signed: false, name: 'uint64' },
};

/** The range of an integer type, as far as float32 holds it exactly (2^24 for the wide ones). */
export function intRange(itype: number): [number, number] {
  const t = INT_TYPES[itype];
  if (!t || t.bits > 16) return t && !t.signed ? [0, 16777216] : [-16777216, 16777216];
  return t.signed ? [-(2 ** (t.bits - 1)), 2 ** (t.bits - 1) - 1] : [0, 2 ** t.bits - 1];
}

/**
 * Node n's float result `id` as an integer of type itype: rounded ('trunc' toward zero: Div; 'even': Pow,
 * and a no-op for sums and products, which are integers already), wrapped to 8 or 16 bits as C wraps, and
 * checked exact (|v| <= 2^24) at run time. The node takes n's name; the float result should not.
 */
export function integerResult(cx: ImportContext, n: OnnxNode, id: number, itype: number, round: 'trunc' | 'even'): number {
  const t = INT_TYPES[itype];
  if (!t) cx.unsupported(n, `integer arithmetic on ONNX type ${itype}`);
  const attrs: ToIntegerAttrs = { round, bits: t.bits, signed: t.signed, what: `node '${n.name}' (${n.opType}, ${t.name})` };
  return cx.g.node('toInteger', [id], attrs as unknown as Record<string, unknown>, n.name)[0];
}

/** How an integer op's float result becomes the integer one: Div truncates, Pow rounds, sums and products wrap. */
export const INTEGER_STEP: Readonly<Record<string, 'trunc' | 'even'>> = { Div: 'trunc', Pow: 'even', Add: 'even', Sub: 'even', Mul: 'even' };
