// Comparisons and logic on computed values (on constants they fold at import): each result is a mask, a
// float value of 0s and 1s (Val.mask), built from ops that have gradients (step, abs, max): Greater is
// step(a - b); Equal, GreaterOrEqual and LessOrEqual hold where no strict order does, and both operands are
// numbers (IEEE: a NaN equals nothing, ±Infinity equals itself): notNaN(v) = step(|v| + 1) is 0 only for
// NaN. Not is 1 - x, And a product, Or a maximum, Xor |a - b|. A Cast of a mask to float is the mask; Where
// reads one as its condition (elementwise.ts).
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext, Val } from './context.js';
import { tensorFrom } from './tensor.js';

/** Operand k as a graph value id (a constant becomes a frozen parameter), plain layout. */
function operand(cx: ImportContext, n: OnnxNode, k: number): { id: number; v: Val } {
  const v = cx.get(n, k);
  if (v.konst) return { id: cx.g.param(`${n.name}/${k}`, tensorFrom(v.konst.data, v.shape.length ? v.shape : [1]), false), v };
  const p = cx.asPlain(v, `${n.name}/${k}`);
  return { id: p.id!, v: p };
}

function logic(cx: ImportContext, n: OnnxNode): void {
  const op = n.opType, nm = n.name!;
  const node = (o: string, ins: number[], attrs: Record<string, unknown>, k: string | null) => cx.g.node(o, ins, attrs, k === null ? nm : `${nm}/${k}`)[0];
  let oneId: number | undefined;
  const one = () => (oneId ??= cx.scalarParam(`${nm}/one`, 1));
  const step = (x: number, k: string | null) => node('activation', [x], { activation: 'step', alpha: 0 }, k);
  // 1 where v is a number (±Infinity included), 0 where it is NaN
  const notNaN = (v: number, k: string) => step(node('add', [node('unary', [v], { op: 'abs' }, `${k}_abs`), one()], {}, `${k}_abs1`), `${k}_number`);
  const a = operand(cx, n, 0);
  if (a.v.id === undefined && (op === 'Not' || (n.input[1] && cx.get(n, 1).konst))) cx.unsupported(n, 'two constant operands');
  let id: number;
  if (op === 'Not') id = node('sub', [one(), a.id], {}, null);
  else {
    const b = operand(cx, n, 1);
    switch (op) {
      case 'Greater': id = step(node('sub', [a.id, b.id], {}, 'diff'), null); break;
      case 'Less': id = step(node('sub', [b.id, a.id], {}, 'diff'), null); break;
      case 'GreaterOrEqual': case 'LessOrEqual': case 'Equal': {
        // (not a < b) and both numbers; Equal: neither order
        const numbers = node('mul', [notNaN(a.id, 'a'), notNaN(b.id, 'b')], {}, 'numbers');
        const below = op === 'LessOrEqual' ? [] : [step(node('sub', [b.id, a.id], {}, 'less_diff'), 'less')];
        const above = op === 'GreaterOrEqual' ? [] : [step(node('sub', [a.id, b.id], {}, 'greater_diff'), 'greater')];
        const strict = [...below, ...above].reduce((s, v) => node('add', [s, v], {}, 'strict'));
        id = node('mul', [numbers, node('sub', [one(), strict], {}, 'unordered')], {}, null);
        break;
      }
      case 'And': id = node('mul', [a.id, b.id], {}, null); break;
      case 'Or': id = node('max', [a.id, b.id], {}, null); break;
      default: id = node('unary', [node('sub', [a.id, b.id], {}, 'diff')], { op: 'abs' }, null); // Xor
    }
  }
  cx.set(n, { id, shape: cx.plainShape(id), mask: true });
}

export const logicFamily: Family = {
  Equal: { convert: logic },
  Less: { convert: logic },
  Greater: { convert: logic },
  LessOrEqual: { convert: logic },
  GreaterOrEqual: { convert: logic },
  Not: { convert: logic },
  And: { convert: logic },
  Or: { convert: logic },
  Xor: { convert: logic },
};
