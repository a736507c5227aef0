// One-dimensional Conv / MaxPool / AveragePool / BatchNormalization ([N, C, L] inputs, PyTorch's Conv1d, pools
// and BatchNorm1d) as their 2-D
// forms over [N, C, 1, L] maps: the attributes gain a leading 1 (kernel [1, k], strides [1, s], pads
// [0, a, 0, b], dilations [1, d]), a filter [O, I, k] becomes [O, I, 1, k], and the output map reshapes
// back to [N, O, L']. Same kernels, same gradients, and the export writes the 2-D form between two Reshapes.
import { num, type OnnxNode } from '../proto.js';
import type { ConverterEntry, ImportContext } from './context.js';

/** The converter of a 2-D op, extended to rank-3 inputs. */
export function oneD(entry: ConverterEntry): ConverterEntry {
  return {
    ...entry,
    convert(cx: ImportContext, n: OnnxNode): void {
      const x0 = cx.vals.get(n.input[0]);
      if (!x0 || x0.id === undefined || x0.shape.length !== 3 || x0.nhwc) return entry.convert(cx, n);
      const nm = n.name || `${n.opType}_${n.output[0]}`;
      const [N, C, L] = x0.shape;
      const x2 = `${nm}/2d_in`;
      cx.vals.set(x2, { id: cx.g.node('reshape', [x0.id], { shape: [N, C, 1, L] }, x2)[0], shape: [N, C, 1, L] });
      const inputs = [x2, ...n.input.slice(1)];
      const w = n.opType === 'Conv' && n.input[1] ? cx.vals.get(n.input[1]) : undefined;
      if (w?.konst && w.shape.length === 3) {
        const w2 = `${nm}/2d_W`;
        cx.vals.set(w2, { shape: [w.shape[0], w.shape[1], 1, w.shape[2]], konst: w.konst });
        inputs[1] = w2;
      }
      const lift = (key: string, pad: number) => {
        const a = n.attribute.find((t) => t.name === key);
        if (!a?.ints) return [];
        const v = a.ints.map((i) => num(i));
        return [{ ...a, ints: key === 'pads' ? [0, v[0], 0, v[1]] : [pad, ...v] }];
      };
      const attribute = [
        ...n.attribute.filter((a) => !['kernel_shape', 'strides', 'pads', 'dilations'].includes(a.name ?? '')),
        ...lift('kernel_shape', 1), ...lift('strides', 1), ...lift('pads', 0), ...lift('dilations', 1),
      ];
      const y2 = `${nm}/2d_out`;
      entry.convert(cx, { ...n, input: inputs, output: [y2, ...n.output.slice(1)], attribute });
      const y = cx.asPlain(cx.vals.get(y2)!, y2);
      const shape = [y.shape[0], y.shape[1], y.shape[3]];
      cx.set(n, { id: cx.g.node('reshape', [y.id!], { shape }, nm)[0], shape });
    },
  };
}
