// Neg / Abs / Exp / Log / Sqrt / Reciprocal; Add / Sub / Mul / Div / Pow, and Max / Min / Sum of any count: two computed operands (met as maps when their layouts differ), or one computed and
// one constant (an NCHW [1, C, 1, 1] / [C, 1, 1] constant against a map becomes NHWC [1, 1, 1, C]).
import { formatShape } from '../../../tensor.js';
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext, Val } from './context.js';
import { tensorFrom } from './tensor.js';
import { INTEGER_STEP, integerResult } from './integer.js';

/** The exact GELU, x * 0.5 * (1 + erf(x / sqrt 2)), recognized step by step (Val.gelu); true if n was a step. */
function geluStep(cx: ImportContext, n: OnnxNode): boolean {
  const raw = (k: number) => (n.input[k] ? cx.vals.get(n.input[k]) : undefined);
  const [p, q] = [raw(0), raw(1)];
  const scalar = (v: Val | undefined, want: number) => !!v?.konst && v.konst.data.length === 1 && Math.abs(v.konst.data[0] - want) < 1e-5 * Math.abs(want);
  const computed = (v: Val | undefined) => !!v && v.id !== undefined && !v.split && !v.gelu;
  const set = (step: 'scaled' | 'erf' | 'erf1' | 'twice', x: Val) => { cx.set(n, { shape: x.shape, nhwc: x.nhwc, gelu: { step, x, from: n } }); return true; };
  switch (n.opType) {
    case 'Div': return computed(p) && scalar(q, Math.SQRT2) ? set('scaled', p!) : false;
    case 'Mul':
      if (computed(p) && scalar(q, Math.SQRT1_2)) return set('scaled', p!);
      if (computed(q) && scalar(p, Math.SQRT1_2)) return set('scaled', q!);
      // x * (1 + erf(x / sqrt 2)), either order, with the same x
      if (p?.gelu?.step === 'erf1' && q?.id === p.gelu.x.id && computed(q)) return set('twice', q!);
      if (q?.gelu?.step === 'erf1' && p?.id === q.gelu.x.id && computed(p)) return set('twice', p!);
      // ... * 0.5: the activation
      for (const [a, b] of [[p, q], [q, p]] as const) {
        if (a?.gelu?.step === 'twice' && scalar(b, 0.5)) {
          const x = a.gelu.x;
          const [id] = cx.g.node('activation', [x.id!], { activation: 'gelu', alpha: 1 }, n.name);
          cx.set(n, { id, nhwc: x.nhwc, shape: x.shape });
          return true;
        }
      }
      return false;
    case 'Add':
      if (p?.gelu?.step === 'erf' && scalar(q, 1)) return set('erf1', p.gelu.x);
      if (q?.gelu?.step === 'erf' && scalar(p, 1)) return set('erf1', q.gelu.x);
      return false;
    default: return false;
  }
}

/** Erf: a step of the exact GELU (see geluStep), else the erf op (elementwise: a map stays one) */
function erf(cx: ImportContext, n: OnnxNode): void {
  const v = cx.vals.get(n.input[0]);
  if (v?.gelu?.step === 'scaled') return cx.set(n, { shape: v.shape, nhwc: v.nhwc, gelu: { step: 'erf', x: v.gelu.x, from: n } });
  const x = cx.graphVal(n, 0);
  const [id] = cx.g.node('erf', [x.id!], {}, n.name);
  cx.set(n, { id, nhwc: x.nhwc, shape: x.shape });
}

function binary(cx: ImportContext, n: OnnxNode): void {
  if (geluStep(cx, n)) return;
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
    // a weight operand trains (a scale, a shift, a bias: trainsConstant), but not a Pow's exponent, nor an integer
    return cx.g.param(`${n.name}/${k}`, tensorFrom(data, shape), cx.trainsConstant(n, k) && !(n.opType === 'Pow' && k === 1) && itype === undefined);
  };
  if (p.konst && q.konst) cx.unsupported(n, 'two constant operands');
  // integers (Val.itype): the result has the type of the operands (of the base, for Pow); Div and Pow round
  // to it, sums and products wrap to 8 / 16 bits, all checked within 2^24 (integer.ts)
  const itype = n.opType === 'Pow' ? p.itype : p.itype ?? q.itype;
  const step = itype !== undefined ? INTEGER_STEP[n.opType] : undefined;
  let [id] = cx.g.node(n.opType.toLowerCase(), [toGraph(p, q, 0), toGraph(q, p, 1)], {}, step ? `${n.name}/float` : n.name);
  if (step) id = integerResult(cx, n, id, itype!, step);
  const main = p.id !== undefined ? p : q;
  cx.set(n, { id, nhwc: main.nhwc, shape: main.nhwc ? cx.mapShape(id) : cx.g.values[id].shape, ...(itype !== undefined ? { itype } : {}) });
}

const UNARY: Record<string, string> = { Neg: 'neg', Abs: 'abs', Exp: 'exp', Log: 'log', Sqrt: 'sqrt', Reciprocal: 'reciprocal' };

/** Neg / Abs / Exp / Log / Sqrt / Reciprocal of a computed value (of constants they fold at import) */
function unary(cx: ImportContext, n: OnnxNode): void {
  const x = cx.graphVal(n, 0);
  const [id] = cx.g.node('unary', [x.id!], { op: UNARY[n.opType] }, n.name);
  cx.set(n, { id, nhwc: x.nhwc, shape: x.shape });
}

/**
 * Pow: a constant scalar exponent 2 is square, 0.5 sqrt, -1 reciprocal, 1 the value, 3 x * x²; any other
 * exponent (a tensor, computed, or a computed base of a constant) is the broadcasting pow op.
 */
function pow(cx: ImportContext, n: OnnxNode): void {
  const x0 = cx.get(n, 0), e = cx.get(n, 1);
  // (integers: the pow op, rounded to the integer result)
  const p = e.konst && e.konst.data.length === 1 && x0.id !== undefined && x0.itype === undefined ? e.konst.data[0] : NaN;
  if (![1, 2, 0.5, -1, 3].includes(p)) return binary(cx, n);
  const x = cx.graphVal(n, 0);
  const u = (op: string, src: number, nm: string) => cx.g.node('unary', [src], { op }, nm)[0];
  let id: number;
  if (p === 1) return cx.set(n, x);
  else if (p === 2) id = u('square', x.id!, n.name!);
  else if (p === 0.5) id = u('sqrt', x.id!, n.name!);
  else if (p === -1) id = u('reciprocal', x.id!, n.name!);
  else id = cx.g.node('mul', [x.id!, u('square', x.id!, `${n.name}/sq`)], {}, n.name)[0];
  cx.set(n, { id, nhwc: x.nhwc, shape: x.shape });
}

/** Max / Min / Sum of one or more operands (broadcasting): a chain of binary nodes, left to right. */
function variadic(cx: ImportContext, n: OnnxNode): void {
  const ins = n.input.filter(Boolean);
  if (ins.length === 0) cx.unsupported(n, 'no operand');
  if (ins.length === 1) return cx.set(n, cx.get(n, 0));
  const opType = n.opType === 'Sum' ? 'Add' : n.opType;
  let acc = ins[0];
  for (let k = 1; k < ins.length; k++) {
    const last = k === ins.length - 1, out = last ? n.output[0] : `${n.name}/${k}`;
    binary(cx, { ...n, opType, name: last ? n.name : `${n.name}/${k}`, input: [acc, ins[k]], output: [out] });
    acc = out;
  }
}

/**
 * Where with a constant condition (a mask known at load) over computed or constant operands: a·m + b·(1 − m)
 * with m the 0/1 mask, broadcasting; exact for finite operands (an infinity or NaN in the branch not taken
 * would show: such a select needs a select kernel, which edgegrad does not have yet).
 */
function where(cx: ImportContext, n: OnnxNode): void {
  const c = cx.get(n, 0);
  if (!c.konst && !c.mask) cx.unsupported(n, `a computed condition (input 0 ('${n.input[0]}')) that is not a comparison's result`);
  const operand = (k: number): Val => { const v = cx.get(n, k); return v.konst ? v : cx.asPlain(v, `${n.name}/${k}`); };
  const [a, b] = [operand(1), operand(2)];
  if (a.id === undefined && b.id === undefined && c.konst) cx.unsupported(n, 'two constant operands');
  const id = (v: Val, k: number) => v.id ?? cx.g.param(`${n.name}/${k}`, tensorFrom(v.konst!.data, v.shape.length ? v.shape : [1]), cx.trainsConstant(n, k));
  let mask: number, notMask: number;
  if (c.konst) {
    const m = c.konst.data.map((v) => (v ? 1 : 0)), shape = c.shape.length ? c.shape : [1];
    mask = cx.g.param(`${n.name}/mask`, tensorFrom(m, shape), false);
    notMask = cx.g.param(`${n.name}/not_mask`, tensorFrom(m.map((v) => 1 - v), shape), false);
  } else {
    mask = c.id!;
    notMask = cx.g.node('sub', [cx.scalarParam(`${n.name}/one`, 1), mask], {}, `${n.name}/not_mask`)[0];
  }
  const [am] = cx.g.node('mul', [id(a, 1), mask], {}, `${n.name}/a`);
  const [bm] = cx.g.node('mul', [id(b, 2), notMask], {}, `${n.name}/b`);
  const [out] = cx.g.node('add', [am, bm], {}, n.name);
  cx.set(n, { id: out, shape: cx.g.values[out].shape });
}

export const elementwiseFamily: Family = {
  Where: { convert: where },
  Max: { convert: variadic },
  Min: { convert: variadic },
  Sum: { convert: variadic },
  Erf: { convert: erf },
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
