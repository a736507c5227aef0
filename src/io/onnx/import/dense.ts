// Gemm / MatMul with a rank-2 initializer B -> dense (alpha folded into the weights, beta into the bias;
// int8 weights from a DequantizeLinear kept when they are per output column); other MatMuls -> matMul.
import { formatShape } from '../../../tensor.js';
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext } from './context.js';
import { tensorFrom } from './tensor.js';

/**
 * MatMul beyond a dense layer: a rank-3 input ([batch, T, D], a transformer's tokens) times a constant
 * [D, E], or two computed operands (attention's Q·Kᵀ and its product with V), rank 2 or 3 each.
 */
function matMul(cx: ImportContext, n: OnnxNode): void {
  const a = cx.asPlain(cx.graphVal(n, 0), `${n.name}/a`);
  const bv = cx.get(n, 1);
  const b = bv.konst ? { id: cx.param(`${n.name}/B`, tensorFrom(bv.konst.data, bv.shape)), shape: bv.shape } : cx.asPlain(bv, `${n.name}/b`);
  if (a.shape.length > 3 || b.shape.length > 3) cx.unsupported(n, `operands ${formatShape(a.shape)} x ${formatShape(b.shape)}: rank 2 or 3 only`);
  const [id] = cx.g.node('matMul', [a.id!, b.id!], {}, n.name);
  cx.set(n, { id, shape: cx.plainShape(id) });
}

function gemm(cx: ImportContext, n: OnnxNode): void {
  const op = n.opType;
  if (op === 'MatMul' && (cx.get(n, 0).shape.length !== 2 || !cx.get(n, 1).konst)) return matMul(cx, n);
  const a = cx.graphVal(n, 0);
  if (a.shape.length !== 2) cx.unsupported(n, `input ${formatShape(a.shape)} must be rank 2`);
  if (op === 'Gemm' && cx.int(n, 'transA', 0)) cx.unsupported(n, 'transA 1');
  const bv = cx.get(n, 1);
  if (!bv.konst || bv.shape.length !== 2) cx.unsupported(n, `B (input 1 ('${n.input[1]}')) must be a rank-2 initializer`);
  const transB = op === 'Gemm' && cx.int(n, 'transB', 0) === 1;
  const [K, N] = transB ? [bv.shape[1], bv.shape[0]] : bv.shape;
  if (K !== a.shape[1]) cx.unsupported(n, `A ${formatShape(a.shape)} does not match B ${formatShape(bv.shape)}${transB ? ' (transposed)' : ''}`);
  const alpha = op === 'Gemm' ? cx.float(n, 'alpha', 1) : 1, beta = op === 'Gemm' ? cx.float(n, 'beta', 1) : 1;
  const wv = new Float32Array(K * N), bd = bv.konst!.data;
  for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) wv[k * N + j] = alpha * (transB ? bd[j * K + k] : bd[k * N + j]);
  const w = tensorFrom(wv, [K, N]);
  const ins = [a.id!, cx.param(`${n.name}/W`, w)];
  const i8 = bv.konst!.int8;
  if (i8 && alpha === 1 && i8.scale.length === N && i8.axis === (transB ? 0 : 1)) {
    const q = new Int8Array(K * N);
    for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) q[k * N + j] = transB ? i8.q[j * K + k] : i8.q[k * N + j];
    cx.g.values[ins[1]].int8 = { w: q, scale: i8.scale };
  }
  if (op === 'Gemm' && n.input[2]) {
    const c = cx.get(n, 2);
    if (!c.konst || c.konst.data.length !== N) cx.unsupported(n, `bias C ${formatShape(c.shape)} must be an initializer of ${N} values`);
    ins.push(cx.param(`${n.name}/B`, tensorFrom(c.konst!.data.map((v) => v * beta), [N])));
  }
  const [id] = cx.g.node('dense', ins, { activation: 'linear', alpha: 0 }, n.name);
  cx.set(n, { id, shape: [-1, N] });
}

export const denseFamily: Family = {
  Gemm: { convert: gemm },
  MatMul: { convert: gemm },
};
