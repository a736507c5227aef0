// add / sub / mul / div; a constant operand of a map is written [1, C, 1, 1] (NCHW).
import { type ExportFamily, type Exporter } from './context.js';

const binary = (opType: string): Exporter => (cx, n, out) => {
  const [p, q] = n.inputs;
  const map = cx.isMap.has(p) || cx.isMap.has(q);
  const nm = (id: number) => (cx.g.values[id].kind === 'param' && map ? cx.param(id, 'map-const') : cx.valueName(id));
  cx.setOut(n, cx.emit(opType, [nm(p), nm(q)], [], n.name, out), map);
};

export const elementwiseFamily: ExportFamily = {
  add: binary('Add'),
  sub: binary('Sub'),
  mul: binary('Mul'),
  div: binary('Div'),
};
