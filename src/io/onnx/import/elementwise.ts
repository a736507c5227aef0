// Neg / Abs / Exp / Log / Sqrt / Reciprocal; Add / Sub / Mul / Div: two computed operands (met as maps when their layouts differ), or one computed and
// one constant (an NCHW [1, C, 1, 1] / [C, 1, 1] constant against a map becomes NHWC [1, 1, 1, C]).
import { formatShape } from '../../../tensor.js';
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext, Val } from './context.js';
import { tensorFrom } from './tensor.js';

function binary(cx: ImportContext, n: OnnxNode): void {
  let [p, q] = [cx.get(n, 0), cx.get(n, 1)];
  if (p.id !== undefined && q.id !== undefined && p.nhwc !== q.nhwc) { p = cx.asMap(p, `${n.name}/a`); q = cx.asMap(q, `${n.name}/b`); }
  const toGraph = (v: Val, other: Val, k: number): number => {
    if (v.id !== undefined) return v.id;
    let shape = v.shape, data = v.konst!.data;
    if (other.nhwc && data.length !== 1) {
      // an NCHW constant (rank <= 4, broadcast from the right) against a map: its numbers in NHWC order
      if (v.shape.length > 4) cx.unsupported(n, `constant ${formatShape(v.shape)} broadcast against a feature map`);
      const [a, c, h, w] = [...new Array(4 - v.shape.length).fill(1), ...v.shape];
      shape = [a, h, w, c];
      if (c > 1 && h * w > 1) {
        data = new Float32Array(data.length);
        for (let i = 0; i < a; i++) for (let ch = 0; ch < c; ch++) for (let p = 0; p < h * w; p++) data[(i * h * w + p) * c + ch] = v.konst!.data[(i * c + ch) * h * w + p];
      }
    }
    return cx.g.param(`${n.name}/${k}`, tensorFrom(data, shape), true);
  };
  if (p.konst && q.konst) cx.unsupported(n, 'two constant operands');
  const [id] = cx.g.node(n.opType.toLowerCase(), [toGraph(p, q, 0), toGraph(q, p, 1)], {}, n.name);
  const main = p.id !== undefined ? p : q;
  cx.set(n, { id, nhwc: main.nhwc, shape: main.nhwc ? cx.mapShape(id) : cx.g.values[id].shape });
}

const UNARY: Record<string, string> = { Neg: 'neg', Abs: 'abs', Exp: 'exp', Log: 'log', Sqrt: 'sqrt', Reciprocal: 'reciprocal' };

/** Neg / Abs / Exp / Log / Sqrt / Reciprocal of a computed value (of constants they fold at import) */
function unary(cx: ImportContext, n: OnnxNode): void {
  const x = cx.graphVal(n, 0);
  const [id] = cx.g.node('unary', [x.id!], { op: UNARY[n.opType] }, n.name);
  cx.set(n, { id, nhwc: x.nhwc, shape: x.shape });
}

/** Pow of a computed value by a constant exponent: 2 is square, 0.5 sqrt, -1 reciprocal, 1 the value, 3 x * x². */
function pow(cx: ImportContext, n: OnnxNode): void {
  const x = cx.graphVal(n, 0), e = cx.get(n, 1);
  if (!e.konst || e.konst.data.length !== 1) cx.unsupported(n, 'only a constant scalar exponent');
  const p = e.konst!.data[0];
  const u = (op: string, src: number, nm: string) => cx.g.node('unary', [src], { op }, nm)[0];
  let id: number;
  if (p === 1) return cx.set(n, x);
  else if (p === 2) id = u('square', x.id!, n.name!);
  else if (p === 0.5) id = u('sqrt', x.id!, n.name!);
  else if (p === -1) id = u('reciprocal', x.id!, n.name!);
  else if (p === 3) id = cx.g.node('mul', [x.id!, u('square', x.id!, `${n.name}/sq`)], {}, n.name)[0];
  else return cx.unsupported(n, `exponent ${p} (edgegrad computes 2, 3, 0.5, 1 and -1)`);
  cx.set(n, { id, nhwc: x.nhwc, shape: x.shape });
}

export const elementwiseFamily: Family = {
  Pow: { convert: pow },
  Neg: { convert: unary },
  Abs: { convert: unary },
  Exp: { convert: unary },
  Log: { convert: unary },
  Sqrt: { convert: unary },
  Reciprocal: { convert: unary },
  Add: { convert: binary },
  Sub: { convert: binary },
  Mul: { convert: binary },
  Div: { convert: binary },
};
