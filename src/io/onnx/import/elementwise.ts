// Add / Sub / Mul / Div: two computed operands (met as maps when their layouts differ), or one computed and
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
    let shape = v.shape;
    if (other.nhwc) {
      const s = v.shape.length === 3 ? [1, ...v.shape] : v.shape;
      if (s.length === 4 && s[2] === 1 && s[3] === 1) shape = [s[0], 1, 1, s[1]];
      else if (v.konst!.data.length !== 1) cx.unsupported(n, `constant ${formatShape(v.shape)} broadcast against a feature map`);
    }
    return cx.g.param(`${n.name}/${k}`, tensorFrom(v.konst!.data, shape), true);
  };
  if (p.konst && q.konst) cx.unsupported(n, 'two constant operands');
  const [id] = cx.g.node(n.opType.toLowerCase(), [toGraph(p, q, 0), toGraph(q, p, 1)], {}, n.name);
  const main = p.id !== undefined ? p : q;
  cx.set(n, { id, nhwc: main.nhwc, shape: main.nhwc ? cx.mapShape(id) : cx.g.values[id].shape });
}

export const elementwiseFamily: Family = {
  Add: { convert: binary },
  Sub: { convert: binary },
  Mul: { convert: binary },
  Div: { convert: binary },
};
