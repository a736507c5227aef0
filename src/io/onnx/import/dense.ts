// Gemm / MatMul with a rank-2 initializer B -> dense (alpha folded into the weights, beta into the bias;
// int8 weights from a DequantizeLinear kept when they are per output column); other MatMuls -> matMul.
import { formatShape } from '../../../tensor.js';
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext, Val } from './context.js';
import { tensorFrom } from './tensor.js';

/**
 * MatMul beyond a dense layer: a rank-3 input ([batch, T, D], a transformer's tokens) times a constant
 * [D, E], or two computed operands (attention's Q·Kᵀ and its product with V, [batch, heads, T, D] among
 * them), rank 2 or more each, the axes before the last two broadcast.
 */
function matMul(cx: ImportContext, n: OnnxNode): void {
  const a = cx.asPlain(cx.graphVal(n, 0), `${n.name}/a`);
  const bv = cx.get(n, 1);
  const b = bv.konst ? { id: cx.param(`${n.name}/B`, tensorFrom(bv.konst.data, bv.shape)), shape: bv.shape } : cx.asPlain(bv, `${n.name}/b`);
  if (a.shape.length < 2 || b.shape.length < 2) cx.unsupported(n, `operands ${formatShape(a.shape)} x ${formatShape(b.shape)}: rank 2 or more (a vector operand is not read yet)`);
  const [id] = cx.g.node('matMul', [a.id!, b.id!], {}, n.name);
  cx.set(n, { id, shape: cx.plainShape(id) });
}

function gemm(cx: ImportContext, n: OnnxNode): void {
  const op = n.opType;
  if (op === 'MatMul' && (cx.get(n, 0).shape.length !== 2 || !cx.get(n, 1).konst)) return matMul(cx, n);
  let a = cx.graphVal(n, 0);
  if (a.shape.length !== 2) cx.unsupported(n, `input ${formatShape(a.shape)} must be rank 2`);
  if (op === 'Gemm' && cx.int(n, 'transA', 0)) {
    // Aᵀ: a whole matrix only (transposing a batch of rows would make the batch the inner dimension)
    if (a.shape.includes(-1)) cx.unsupported(n, `transA 1 on ${formatShape(a.shape)}, whose rows are the batch`);
    const [t] = cx.g.node('transpose', [a.id!], { perm: [1, 0] }, `${n.name}/At`);
    a = { id: t, shape: [a.shape[1], a.shape[0]] };
  }
  const bv = cx.get(n, 1);
  if (!bv.konst) return gemmComputed(cx, n, a);
  if (bv.shape.length !== 2) cx.unsupported(n, `B (input 1 ('${n.input[1]}')) must be rank 2, got ${formatShape(bv.shape)}`);
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
  // C: a bias of N values folds into the dense layer; any other C (a scalar, [M, N], computed) is added after
  const c = op === 'Gemm' && n.input[2] ? cx.get(n, 2) : undefined;
  const asBias = c?.konst && c.konst.data.length === N && (c.shape.length <= 1 || c.shape[c.shape.length - 1] === N);
  if (asBias) ins.push(cx.param(`${n.name}/B`, tensorFrom(c!.konst!.data.map((v) => v * beta), [N])));
  const [id] = cx.g.node('dense', ins, { activation: 'linear', alpha: 0 }, c && !asBias ? `${n.name}/AB` : n.name);
  const shape = [a.shape[0], N];
  cx.set(n, c && !asBias ? { id: addC(cx, n, id, c, beta), shape } : { id, shape });
}

/** alpha·A·B (B computed, transB as given) + beta·C: a matMul of two graph values. */
function gemmComputed(cx: ImportContext, n: OnnxNode, a: Val): void {
  let b = cx.asPlain(cx.get(n, 1), `${n.name}/b`);
  if (b.shape.length !== 2) cx.unsupported(n, `B ${formatShape(b.shape)} must be rank 2`);
  if (n.opType === 'Gemm' && cx.int(n, 'transB', 0)) b = { id: cx.g.node('transpose', [b.id!], { perm: [1, 0] }, `${n.name}/Bt`)[0], shape: [b.shape[1], b.shape[0]] };
  const alpha = n.opType === 'Gemm' ? cx.float(n, 'alpha', 1) : 1, beta = n.opType === 'Gemm' ? cx.float(n, 'beta', 1) : 1;
  const c = n.opType === 'Gemm' && n.input[2] ? cx.get(n, 2) : undefined;
  let [id] = cx.g.node('matMul', [a.id!, b.id!], {}, alpha !== 1 || c ? `${n.name}/AB` : n.name);
  if (alpha !== 1) id = cx.g.node('mul', [id, cx.scalarParam(`${n.name}/alpha`, alpha)], {}, c ? `${n.name}/alphaAB` : n.name)[0];
  cx.set(n, { id: c ? addC(cx, n, id, c, beta) : id, shape: cx.plainShape(id) });
}

/** ab + beta·C, C broadcast (unidirectionally, as Gemm's C is) over the product. */
function addC(cx: ImportContext, n: OnnxNode, ab: number, c: Val, beta: number): number {
  let cid: number;
  if (c.konst) cid = cx.g.param(`${n.name}/C`, tensorFrom(c.konst.data.map((v) => v * beta), c.shape.length ? c.shape : [1]), true);
  else {
    cid = cx.asPlain(c, `${n.name}/c`).id!;
    if (beta !== 1) cid = cx.g.node('mul', [cid, cx.scalarParam(`${n.name}/beta`, beta)], {}, `${n.name}/betaC`)[0];
  }
  return cx.g.node('add', [ab, cid], {}, n.name)[0];
}

export const denseFamily: Family = {
  Gemm: { convert: gemm },
  MatMul: { convert: gemm },
};
