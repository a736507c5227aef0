// Files of opsets 1-10: their ops rewritten to the semantics the converters read (opset 11 and later),
// node by node before conversion, as ONNX's changelog describes each change: Clip's bounds, Slice's,
// Reshape's and Pad's attributes become inputs; Upsample (7-9) and Resize-10 become Resize with the
// asymmetric coordinate rule; BatchNormalization's `spatial` and the legacy `broadcast` / `axis` of the
// arithmetic ops (before 7) are resolved; Cast's type names (before 6) become codes. An old form whose
// meaning differs from every current one is refused with the node's name.
import type { OnnxAttr, OnnxNode } from '../proto.js';
import type { ImportContext } from './context.js';

const TYPE_NAMES: Record<string, number> = {
  FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13,
};

const strAttr = (name: string, v: string): OnnxAttr => ({ name, type: 3, s: new TextEncoder().encode(v) });

/** Rewrite n (an opset < 11 node) in place to its current form; nothing for nodes that did not change. */
export function upgradeNode(cx: ImportContext, n: OnnxNode): void {
  if (cx.opset >= 11) return;
  /** a constant input made from an old attribute */
  const konst = (what: string, data: ArrayLike<number>, dims: number[], int: boolean): string => {
    const name = `${n.name}/${what}`;
    cx.vals.set(name, { shape: dims, konst: { data: Float32Array.from(data), int } });
    return name;
  };
  const has = (k: string) => n.attribute.some((a) => a.name === k);
  const drop = (...ks: string[]) => { n.attribute = n.attribute.filter((a) => !ks.includes(a.name)); };
  const floats = (k: string) => n.attribute.find((a) => a.name === k)?.floats;
  switch (n.opType) {
    case 'Clip': // bounds as attributes before 11 (absent: unbounded)
      if (n.input.length === 1) {
        n.input = [n.input[0], konst('min', [cx.float(n, 'min', -Infinity)], [], false), konst('max', [cx.float(n, 'max', Infinity)], [], false)];
        drop('min', 'max');
      }
      break;
    case 'Slice': // starts / ends / axes as attributes before 10
      if (n.input.length === 1) {
        const starts = cx.ints(n, 'starts', []), ends = cx.ints(n, 'ends', []);
        const axes = has('axes') ? cx.ints(n, 'axes', []) : starts.map((_, i) => i);
        n.input = [n.input[0], konst('starts', starts, [starts.length], true), konst('ends', ends, [ends.length], true), konst('axes', axes, [axes.length], true)];
        drop('starts', 'ends', 'axes');
      }
      break;
    case 'Reshape': // shape as an attribute before 5
      if (n.input.length === 1) {
        const shape = cx.ints(n, 'shape', []);
        n.input = [n.input[0], konst('shape', shape, [shape.length], true)];
        drop('shape');
      }
      break;
    case 'Pad': // pads (read by the converter either way) and value as attributes before 11
      if (n.input.length === 1 && has('value')) {
        n.input = [n.input[0], '', konst('value', [cx.float(n, 'value', 0)], [], false)];
        drop('value');
      }
      break;
    case 'Upsample': { // 7: scales attribute; 9: scales input; 1: height_scale / width_scale
      let scales = n.input[1];
      if (!scales) {
        const s = floats('scales') ?? [1, 1, cx.float(n, 'height_scale', 1), cx.float(n, 'width_scale', 1)];
        scales = konst('scales', s, [s.length], false);
      }
      const mode = cx.str(n, 'mode', 'nearest');
      n.opType = 'Resize';
      n.input = [n.input[0], '', scales];
      n.attribute = [strAttr('mode', mode === 'bilinear' ? 'linear' : mode), strAttr('coordinate_transformation_mode', 'asymmetric'), strAttr('nearest_mode', 'floor')];
      break;
    }
    case 'Resize': // 10: (X, scales), asymmetric coordinates, nearest rounding down
      if (n.input.length === 2) {
        n.input = [n.input[0], '', n.input[1]];
        n.attribute = [strAttr('mode', cx.str(n, 'mode', 'nearest')), strAttr('coordinate_transformation_mode', 'asymmetric'), strAttr('nearest_mode', 'floor')];
      }
      break;
    case 'BatchNormalization': // spatial (7-8): 1 is today's; is_test / consumed_inputs (before 7): no meaning at inference
      if (has('spatial') && cx.int(n, 'spatial', 1) !== 1) cx.unsupported(n, 'spatial 0 (statistics per element, not per channel)');
      drop('spatial', 'is_test', 'consumed_inputs');
      break;
    case 'Add': case 'Sub': case 'Mul': case 'Div': case 'Pow': { // before 7: broadcast 1 aligns B at axis
      if (cx.int(n, 'broadcast', 0) !== 1) { drop('broadcast', 'axis', 'consumed_inputs'); break; }
      const a = cx.get(n, 0), b = cx.get(n, 1);
      const axis = has('axis') ? cx.int(n, 'axis', 0) : a.shape.length - b.shape.length;
      const trailing = a.shape.length - axis - b.shape.length;
      if (trailing < 0) cx.unsupported(n, `legacy broadcast of ${JSON.stringify(b.shape)} at axis ${axis} of a rank-${a.shape.length} value`);
      if (trailing > 0) {
        if (!b.konst) cx.unsupported(n, `legacy broadcast at axis ${axis} of a computed operand`);
        n.input = [n.input[0], konst('b', b.konst!.data, [...b.shape, ...new Array<number>(trailing).fill(1)], b.konst!.int)];
      }
      drop('broadcast', 'axis', 'consumed_inputs');
      break;
    }
    case 'Cast': { // before 6: the type by name
      const to = n.attribute.find((a) => a.name === 'to');
      if (to?.s?.length) {
        const name = new TextDecoder().decode(to.s).toUpperCase();
        if (!(name in TYPE_NAMES)) cx.unsupported(n, `cast to '${name}'`);
        drop('to');
        n.attribute.push({ name: 'to', type: 2, i: TYPE_NAMES[name] });
      }
      break;
    }
    default:
      // consumed_inputs (before 6) was an optimization hint with no meaning
      if (has('consumed_inputs')) drop('consumed_inputs');
  }
}
