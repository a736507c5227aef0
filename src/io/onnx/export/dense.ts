// dense as Gemm, matMul as MatMul, qdense as Gemm on QDQ input, weights and bias; a fused activation follows
// as its own node.
import type { Node } from '../../../graph/ir.js';
import type { QWeights } from '../../../ops/quant.js';
import { emitActivation } from './activation.js';
import { attrInts, fail, type ExportContext, type ExportFamily } from './context.js';
import { int32Bias, qdqInput } from './quant.js';

/** Gemm of ins and the activation of node n after it (the model's output name on the last of them) */
function gemm(cx: ExportContext, n: Node, ins: string[], alpha: number, out: string | undefined): void {
  const linear = n.attrs.activation === 'linear';
  const y = cx.emit('Gemm', ins, [], n.name, linear ? out : undefined);
  cx.setOut(n, linear ? y : emitActivation(cx, y, n.attrs.activation as string, alpha, n.name, out, false));
}

export const denseFamily: ExportFamily = {
  dense: (cx, n, out) => {
    const [x, w, b] = n.inputs;
    const ins = [cx.valueName(x), cx.param(w)];
    if (b !== undefined) ins.push(cx.param(b));
    gemm(cx, n, ins, n.attrs.alpha as number, out);
  },
  // matMul (rank 2 or more, as imported): MatMul, with its transposes, bias and activation where it has them
  matMul: (cx, n, out) => {
    const [a, b, bias] = n.inputs;
    const tr = (id: number, t: unknown, k: string) => {
      const v = cx.g.values[id].kind === 'param' ? cx.param(id) : cx.valueName(id);
      if (!t) return v;
      const r = cx.shapeOf(id).length;
      return cx.emit('Transpose', [v], [attrInts('perm', [...Array(r - 2).keys(), r - 1, r - 2])], `${n.name}/t${k}`);
    };
    const act = (n.attrs.activation as string | undefined) ?? 'linear';
    const plain = act === 'linear' && bias === undefined;
    let y = cx.emit('MatMul', [tr(a, n.attrs.transposeA, 'a'), tr(b, n.attrs.transposeB, 'b')], [], n.name, plain ? out : undefined);
    if (bias !== undefined) y = cx.emit('Add', [y, cx.param(bias)], [], `${n.name}/bias`, act === 'linear' ? out : undefined);
    cx.setOut(n, act === 'linear' ? y : emitActivation(cx, y, act, (n.attrs.alpha as number) ?? 0, n.name, out, false));
  },
  qdense: (cx, n, out) => {
    const q = n.attrs.q as QWeights;
    if (q.raw) fail(`node '${n.name}': integer results (imported MatMulInteger) do not export yet`);
    const ins = [qdqInput(cx, cx.valueName(n.inputs[0]), q.input.scale, q.input.zeroPoint, n.name), cx.int8Weights(`${n.name}/kernel`, q.w, [q.K, q.N], q.scale)];
    if (q.bias) ins.push(int32Bias(cx, `${n.name}/bias`, q));
    gemm(cx, n, ins, 0, out);
  },
};
