// Comparisons and logic on computed values (on constants they fold at import): each result is a mask, a
// float value of 0s and 1s (Val.mask), built from ops that have gradients (step, sign, abs, max): Greater
// is step(a - b), Equal is 1 - sign(|a - b|), Not is 1 - x, And a product, Or a maximum, Xor |a - b|. A Cast
// of a mask to float is the mask; Where reads one as its condition (elementwise.ts).
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
  const one = () => cx.scalarParam(`${nm}/one`, 1);
  const step = (x: number, k: string | null) => node('activation', [x], { activation: 'step', alpha: 0 }, k);
  const a = operand(cx, n, 0);
  if (a.v.id === undefined && (op === 'Not' || (n.input[1] && cx.get(n, 1).konst))) cx.unsupported(n, 'two constant operands');
  let id: number;
  if (op === 'Not') id = node('sub', [one(), a.id], {}, null);
  else {
    const b = operand(cx, n, 1);
    switch (op) {
      case 'Greater': id = step(node('sub', [a.id, b.id], {}, 'diff'), null); break;
      case 'Less': id = step(node('sub', [b.id, a.id], {}, 'diff'), null); break;
      case 'GreaterOrEqual': id = node('sub', [one(), step(node('sub', [b.id, a.id], {}, 'diff'), 'less')], {}, null); break;
      case 'LessOrEqual': id = node('sub', [one(), step(node('sub', [a.id, b.id], {}, 'diff'), 'greater')], {}, null); break;
      case 'Equal': {
        const d = node('unary', [node('sub', [a.id, b.id], {}, 'diff')], { op: 'abs' }, 'abs');
        id = node('sub', [one(), node('activation', [d], { activation: 'sign', alpha: 0 }, 'sign')], {}, null);
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
