// add / sub / mul / div / max / min / pow (a constant operand of a map is written NCHW), the unary ops (square as Mul) and erf.
import { type ExportFamily, type Exporter } from './context.js';

const binary = (opType: string): Exporter => (cx, n, out) => {
  const [p, q] = n.inputs;
  const map = cx.isMap.has(p) || cx.isMap.has(q);
  const nm = (id: number) => (cx.g.values[id].kind === 'param' && map ? cx.param(id, 'map-const') : cx.valueName(id));
  cx.setOut(n, cx.emit(opType, [nm(p), nm(q)], [], n.name, out), map);
};

const UNARY: Record<string, string> = { neg: 'Neg', abs: 'Abs', exp: 'Exp', log: 'Log', sqrt: 'Sqrt', reciprocal: 'Reciprocal' };

const unary: Exporter = (cx, n, out) => {
  const x = cx.valueName(n.inputs[0]), map = cx.isMap.has(n.inputs[0]);
  const op = n.attrs.op as string;
  cx.setOut(n, op === 'square' ? cx.emit('Mul', [x, x], [], n.name, out) : cx.emit(UNARY[op], [x], [], n.name, out), map);
};

export const elementwiseFamily: ExportFamily = {
  unary,
  erf: (cx, n, out) => cx.setOut(n, cx.emit('Erf', [cx.valueName(n.inputs[0])], [], n.name, out), cx.isMap.has(n.inputs[0])),
  add: binary('Add'),
  sub: binary('Sub'),
  mul: binary('Mul'),
  div: binary('Div'),
  max: binary('Max'),
  min: binary('Min'),
  pow: binary('Pow'),
};
