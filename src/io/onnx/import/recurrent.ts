// LSTM, GRU and RNN -> the graph ops lstm, gru, simpleRnn (one per direction). ONNX holds the weights per
// direction as [dirs, gates*H, F] rows in its gate order (LSTM i, o, f, c); the ops take [F, gates*U] columns in
// Keras's (i, f, c, o), one bias (ONNX's Wb + Rb, except GRU's recurrent candidate bias with
// linear_before_reset, which is resetAfter's second bias row), and batch-major [B, T, F] sequences, so a
// layout-0 X [T, B, F] is transposed in and the outputs Y [T, dirs, B, H], Y_h / Y_c [dirs, B, H] (layout 1:
// [B, T, dirs, H], [B, dirs, H]) are assembled from the directions' [B, T, H] and [B, H].
import { formatShape } from '../../../tensor.js';
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext, Val } from './context.js';
import { tensorFrom } from './tensor.js';

/** ONNX activation -> edgegrad's (those the recurrent kernels run; HardSigmoid at ONNX's default 0.2, 0.5) */
const ACTIVATIONS: Record<string, string> = { Sigmoid: 'sigmoid', Tanh: 'tanh', Relu: 'relu', HardSigmoid: 'hardSigmoid' };

interface Kind { op: 'lstm' | 'gru' | 'simpleRnn'; gates: number; acts: number; states: number; defaults: string[] }
const KINDS: Record<string, Kind> = {
  LSTM: { op: 'lstm', gates: 4, acts: 3, states: 2, defaults: ['Sigmoid', 'Tanh', 'Tanh'] },
  GRU: { op: 'gru', gates: 3, acts: 2, states: 1, defaults: ['Sigmoid', 'Tanh'] },
  RNN: { op: 'simpleRnn', gates: 1, acts: 1, states: 1, defaults: ['Tanh'] },
};
/** edgegrad gate k (LSTM i, f, c, o) is ONNX's gate block LSTM_BLOCK[k] (ONNX i, o, f, c); GRU and RNN keep theirs */
const LSTM_BLOCK = [0, 2, 3, 1];

function recurrent(cx: ImportContext, n: OnnxNode): void {
  const kind = KINDS[n.opType];
  const G = kind.gates;
  const layout = cx.int(n, 'layout', 0);
  const dirName = cx.str(n, 'direction', 'forward');
  const dirs = dirName === 'bidirectional' ? 2 : 1;
  if (!['forward', 'reverse', 'bidirectional'].includes(dirName)) cx.unsupported(n, `direction '${dirName}'`);
  if (cx.attr(n, 'clip')) cx.unsupported(n, `clip ${cx.float(n, 'clip', 0)} (edgegrad's cells do not clip their inputs)`);
  if (cx.int(n, 'input_forget', 0)) cx.unsupported(n, 'input_forget 1 (coupled input and forget gates)');
  if (cx.attr(n, 'activation_alpha') || cx.attr(n, 'activation_beta')) cx.unsupported(n, "activation_alpha / activation_beta (edgegrad's activations have fixed parameters; HardSigmoid's are ONNX's defaults 0.2, 0.5)");
  const acts = cx.attr(n, 'activations')?.strings?.map((s: Uint8Array) => new TextDecoder().decode(s)) ?? [];
  if (acts.length && acts.length !== kind.acts * dirs) cx.unsupported(n, `${acts.length} activations for ${dirs} direction${dirs > 1 ? 's' : ''} (${kind.acts} each)`);

  // X as [B, T, F]: the batch is X's axis 1 in layout 0, axis 0 in layout 1
  const x0 = cx.asPlain(cx.graphVal(n, 0), `${n.name}/x`);
  if (x0.shape.length !== 3) cx.unsupported(n, `X ${formatShape(x0.shape)} must be rank 3`);
  const bAxis = layout ? 0 : 1, tAxis = 1 - bAxis;
  if (x0.shape[tAxis] === -1 || (x0.shape[bAxis] !== -1 && x0.shape.includes(-1))) cx.unsupported(n, `X ${formatShape(x0.shape)}: its batch (-1 here) must be axis ${bAxis} (layout ${layout})`);
  const x = layout ? x0 : { id: cx.g.node('transpose', [x0.id!], { perm: [1, 0, 2] }, `${n.name}/x_batch_major`)[0], shape: [x0.shape[1], x0.shape[0], x0.shape[2]] };
  const [B, T, F] = x.shape;

  // weights are initializers, or model inputs of a fixed shape (ONNX's node tests feed them so)
  const weightIn = (k: number, what: string) => {
    const v = cx.asPlain(cx.get(n, k), `${n.name}/${what}`);
    if (!v.konst && v.shape.includes(-1)) cx.unsupported(n, `${what} ('${n.input[k]}') ${formatShape(v.shape)} must be an initializer or a model input of a fixed shape`);
    return v;
  };
  const W = weightIn(1, 'W'), R = weightIn(2, 'R');
  const H = cx.int(n, 'hidden_size', R.shape[2]);
  const shapeIs = (v: Val, s: number[], what: string) => { if (v.shape.join() !== s.join()) cx.unsupported(n, `${what} ${formatShape(v.shape)} instead of ${formatShape(s)} (${dirs} direction${dirs > 1 ? 's' : ''}, hidden_size ${H}, ${F} features)`); };
  shapeIs(W, [dirs, G * H, F], 'W');
  shapeIs(R, [dirs, G * H, H], 'R');
  const Bv = n.input[3] ? weightIn(3, 'B') : undefined;
  if (Bv) shapeIs(Bv, [dirs, 2 * G * H], 'B');
  const mask = n.input[4] ? lengthMask(cx, n, B, T) : undefined;
  const P = n.opType === 'LSTM' && n.input[7] ? weightIn(7, 'P') : undefined;
  if (P) shapeIs(P, [dirs, 3 * H], 'P');
  const lbr = n.opType === 'GRU' && cx.int(n, 'linear_before_reset', 0) === 1;
  const node = (op: string, ins: number[], nm: string, attrs: Record<string, unknown> = {}) => cx.g.node(op, ins, attrs, nm)[0];
  const slice = (id: number, axis: number, start: number, len: number, nm: string) => node('slice', [id], nm, { axis, start, end: start + len });

  /** constant weights of direction d as the op's (W [F, G*H], R [H, G*H], one bias), rearranged once here */
  const constWeights = (nm: string, d: number): number[] => {
    const block = (g: number) => (n.opType === 'LSTM' ? LSTM_BLOCK[g] : g);
    // columns in edgegrad's gate order: W_eg[f, g*H + j] = W[d, block(g)*H + j, f]
    const cols = (m: Val, rows: number) => {
      const out = new Float32Array(rows * G * H), src = m.konst!.data, off = d * G * H * rows;
      for (let g = 0; g < G; g++) for (let j = 0; j < H; j++) for (let r = 0; r < rows; r++) out[r * G * H + g * H + j] = src[off + (block(g) * H + j) * rows + r];
      return out;
    };
    const bias = (part: 0 | 1) => {
      const out = new Float32Array(G * H);
      if (Bv) for (let g = 0; g < G; g++) for (let j = 0; j < H; j++) out[g * H + j] = Bv.konst!.data[d * 2 * G * H + part * G * H + block(g) * H + j];
      return out;
    };
    const wb = bias(0), rb = bias(1);
    const b = lbr ? Float32Array.from([...wb, ...rb]) : wb.map((v, i) => v + rb[i]);
    return [cx.param(`${nm}/kernel`, tensorFrom(cols(W, F), [F, G * H])), cx.param(`${nm}/recurrent_kernel`, tensorFrom(cols(R, H), [H, G * H])), cx.param(`${nm}/bias`, tensorFrom(b, [b.length]))];
  };

  /** weights that are model inputs: the same rearrangement as graph nodes (slices of gate blocks, concats) */
  const computedWeights = (nm: string, d: number): number[] => {
    // [1, rows, G*H] gate blocks in edgegrad's order along the last axis
    const gates = (id: number, what: string) => (n.opType === 'LSTM' ? node('concat', LSTM_BLOCK.map((b) => slice(id, cx.g.values[id].shape.length - 1, b * H, H, `${nm}/${what}_${b}`)), `${nm}/${what}_gates`) : id);
    const mat = (v: Val, rows: number, what: string) => {
      const t = node('transpose', [slice(v.id!, 0, d, 1, `${nm}/${what}_dir`)], `${nm}/${what}_columns`, { perm: [0, 2, 1] });
      return node('reshape', [gates(t, what)], `${nm}/${what}`, { shape: [rows, G * H] });
    };
    const konst = (v: Val, what: string) => (v.konst ? cx.g.param(`${nm}/${what}_const`, tensorFrom(v.konst.data, v.shape), false) : v.id!);
    const Wd = mat({ ...W, id: konst(W, 'W') }, F, 'kernel'), Rd = mat({ ...R, id: konst(R, 'R') }, H, 'recurrent_kernel');
    if (!Bv) return [Wd, Rd, cx.g.param(`${nm}/bias`, tensorFrom(new Float32Array((lbr ? 2 : 1) * G * H), [(lbr ? 2 : 1) * G * H]), false)];
    const bd = slice(konst(Bv, 'B'), 0, d, 1, `${nm}/B_dir`);
    const [wb, rb] = [0, 1].map((part) => gates(slice(bd, 1, part * G * H, G * H, `${nm}/B_${part}`), `B_${part}`));
    const b = lbr ? node('concat', [wb, rb], `${nm}/B_both`) : node('add', [wb, rb], `${nm}/B_sum`);
    return [Wd, Rd, node('reshape', [b], `${nm}/bias`, { shape: [(lbr ? 2 : 1) * G * H] })];
  };

  const outs = Array.from({ length: dirs }, (_, d) => {
    const nm = dirs > 1 ? `${n.name}/${d ? 'backward' : 'forward'}` : n.name!;
    const ins = [x.id!, ...(W.konst && R.konst && (!Bv || Bv.konst) ? constWeights(nm, d) : computedWeights(nm, d))];
    const states = [5, 6].slice(0, kind.states).map((k) => initialState(cx, n, k, d, layout, H, x));
    const initial = states.some((s) => s !== undefined);
    if (initial) states.forEach((s, i) => ins.push(s ?? zerosLike(cx, n, states, i)));
    // ONNX's peepholes are i, o, f; the op's i, f, o
    if (P?.konst) {
      const p = P.konst.data.subarray(d * 3 * H, (d + 1) * 3 * H);
      ins.push(cx.param(`${nm}/peepholes`, tensorFrom(Float32Array.from([...p.subarray(0, H), ...p.subarray(2 * H), ...p.subarray(H, 2 * H)]), [3 * H])));
    } else if (P) {
      const pd = slice(P.id!, 0, d, 1, `${nm}/P`);
      ins.push(node('reshape', [node('concat', [0, 2, 1].map((k) => slice(pd, 1, k * H, H, `${nm}/P_${k}`)), `${nm}/P_ifo`)], `${nm}/peepholes`, { shape: [3 * H] }));
    }
    if (mask !== undefined) ins.push(mask);
    const names = (acts.length ? acts.slice(d * kind.acts, (d + 1) * kind.acts) : kind.defaults).map((a: string) => {
      const e = ACTIVATIONS[a];
      if (!e) cx.unsupported(n, `activation '${a}' (edgegrad's recurrent cells run ${Object.keys(ACTIVATIONS).join(', ')})`);
      return e;
    });
    // LSTM's g (candidate) and h (output) activations are one in edgegrad (Keras's activation)
    if (n.opType === 'LSTM' && names[1] !== names[2]) cx.unsupported(n, `activations ${acts.join(', ')}: the cell's input and output activations (g, h) must be the same`);
    const attrs: Record<string, unknown> = { units: H, activation: names[names.length - 1], reverse: d === 1 || dirName === 'reverse', goBackwards: false, initialState: initial };
    if (n.opType !== 'RNN') attrs.recurrentActivation = names[0];
    if (n.opType === 'LSTM') attrs.peepholes = !!P;
    if (mask !== undefined) attrs.masked = true;
    if (n.opType === 'GRU') attrs.resetAfter = lbr;
    return cx.g.node(kind.op, ins, attrs, nm);
  });

  // Y: the directions' [B, T, H] side by side -> [B, T, dirs, H] (layout 1), or [T, dirs, B, H] (layout 0)
  const join = (k: number, shape: number[], perm: number[], what: string) => {
    // past a sequence's length its state holds (the op's masked steps) and Y is 0 (ONNX)
    const parts = outs.map((o, d) => (k === 0 && mask !== undefined ? cx.g.node('mul', [o[k], mask], {}, `${n.name}/${what}_${d}_masked`)[0] : o[k]));
    const both = parts.length > 1 ? cx.g.node('concat', parts, {}, `${n.name}/${what}_directions`)[0] : parts[0];
    const [r] = cx.g.node('reshape', [both], { shape }, layout ? n.name : `${n.name}/${what}_split`);
    const id = layout ? r : cx.g.node('transpose', [r], { perm }, `${n.name}/${what}`)[0];
    return { id, shape: cx.plainShape(id) };
  };
  if (n.output[0]) cx.set(n, join(0, [B, T, dirs, H], [1, 2, 0, 3], 'Y'), 0);
  if (n.output[1]) cx.set(n, join(1, [B, dirs, H], [1, 0, 2], 'Y_h'), 1);
  if (n.output[2] && n.opType === 'LSTM') cx.set(n, join(2, [B, dirs, H], [1, 0, 2], 'Y_c'), 2);
}

/**
 * sequence_lens as a mask [B, T, 1] of the steps each sequence has (1 for t < its length), or undefined where
 * every sequence runs all T steps. Lengths computed by the graph (an integer input) are read at run time; a
 * constant of other lengths fixes the batch, so it is read only where the batch is fixed too.
 */
function lengthMask(cx: ImportContext, n: OnnxNode, B: number, T: number): number | undefined {
  const sl = cx.get(n, 4), what = `sequence_lens ('${n.input[4]}')`;
  if (sl.shape.length !== 1 || !(sl.shape[0] === B || (sl.konst && B === -1))) cx.unsupported(n, `${what} ${formatShape(sl.shape)} must be [batch] (${B === -1 ? 'the batch here' : B})`);
  if (sl.konst) {
    const lens = Array.from(sl.konst.data);
    if (lens.every((v) => v === T)) return undefined;
    if (B === -1) cx.unsupported(n, `${what} is a constant ${JSON.stringify(lens)} of lengths other than ${T}: it fixes the batch, which edgegrad leaves free (make it a model input)`);
    if (lens.some((v) => !(Number.isInteger(v) && v >= 0 && v <= T))) cx.unsupported(n, `${what} ${JSON.stringify(lens)}: lengths must be in [0, ${T}]`);
    const m = new Float32Array(B * T);
    lens.forEach((len, b) => m.fill(1, b * T, b * T + len));
    return cx.g.param(`${n.name}/sequence_mask`, tensorFrom(m, [B, T, 1]), false);
  }
  // int32 lengths (indices inside): the lengthMask op reads them; integers held in float: step(length - t)
  if (sl.dtype === 'int32') return cx.g.node('lengthMask', [sl.id!], { steps: T }, `${n.name}/sequence_mask`)[0];
  const len = cx.g.node('reshape', [sl.id!], { shape: [B, 1, 1] }, `${n.name}/sequence_lens`)[0];
  const t = cx.g.param(`${n.name}/steps`, tensorFrom(Float32Array.from({ length: T }, (_, i) => i), [1, T, 1]), false);
  const left = cx.g.node('sub', [len, t], {}, `${n.name}/steps_left`)[0];
  return cx.g.node('activation', [left], { activation: 'step', alpha: 0 }, `${n.name}/sequence_mask`)[0];
}

/**
 * Input k (initial_h 5, initial_c 6) for direction d as [B, H]: a graph value ([dirs, B, H], layout 1 [B, dirs,
 * H]) sliced and reshaped; a constant, the same row for every example, broadcast to the batch of x; undefined
 * where there is none (or it is zeros).
 */
function initialState(cx: ImportContext, n: OnnxNode, k: number, d: number, layout: number, H: number, x: Val): number | undefined {
  if (!n.input[k]) return undefined;
  const v = cx.get(n, k);
  const what = k === 5 ? 'initial_h' : 'initial_c';
  const dAxis = layout ? 1 : 0, bAxis = 1 - dAxis;
  if (v.shape.length !== 3 || v.shape[2] !== H) cx.unsupported(n, `${what} ${formatShape(v.shape)} is not [${layout ? 'batch, dirs' : 'dirs, batch'}, ${H}]`);
  if (v.zeros) return undefined;
  if (v.konst) {
    const dims = v.shape, data = v.konst.data;
    if (data.every((e) => e === 0)) return undefined;
    const row = (b: number) => Array.from({ length: H }, (_, j) => data[layout ? (b * dims[1] + d) * H + j : (d * dims[1] + b) * H + j]);
    // rows that differ per example would fix the batch size, which edgegrad's models leave free
    if (Array.from({ length: dims[bAxis] }, (_, b) => row(b).join()).some((r, _, all) => r !== all[0])) cx.unsupported(n, `${what} is a constant ${formatShape(dims)} whose rows differ per example: it fixes the batch at ${dims[bAxis]} (make it a model input, or one row for all)`);
    // the row for every example: a dense of x's first step with a zero kernel and the row as its bias
    const F = x.shape[2], nm = `${n.name}/${what}_${d}`;
    const [first] = cx.g.node('slice', [x.id!], { axis: 1, start: 0, end: 1 }, `${nm}/step0`);
    const [flat] = cx.g.node('reshape', [first], { shape: [-1, F] }, `${nm}/step0_flat`);
    const zero = cx.g.param(`${nm}/zero_kernel`, tensorFrom(new Float32Array(F * H), [F, H]), false);
    return cx.g.node('dense', [flat, zero, cx.g.param(`${nm}/row`, tensorFrom(Float32Array.from(row(0)), [H]), false)], { activation: 'linear', alpha: 0 }, nm)[0];
  }
  // X's batch (-1, or its size where every input is a whole tensor)
  const B = x.shape[0];
  if (v.shape[bAxis] !== B) cx.unsupported(n, `${what} ${formatShape(v.shape)}: its batch (${B === -1 ? '-1 here' : B}) must be axis ${bAxis} (layout ${layout})`);
  const [s] = cx.g.node('slice', [cx.asPlain(v, `${n.name}/${what}`).id!], { axis: dAxis, start: d, end: d + 1 }, `${n.name}/${what}_${d}`);
  return cx.g.node('reshape', [s], { shape: [B, H] }, `${n.name}/${what}_${d}_bh`)[0];
}

/** A zero state beside a given one (an LSTM given initial_h but not initial_c): the given one times 0. */
function zerosLike(cx: ImportContext, n: OnnxNode, states: Array<number | undefined>, i: number): number {
  const given = states.find((s) => s !== undefined)!;
  return cx.g.node('mul', [given, cx.scalarParam(`${n.name}/zero`, 0)], {}, `${n.name}/state_${i}_zeros`)[0];
}

export const recurrentFamily: Family = {
  LSTM: { convert: recurrent },
  GRU: { convert: recurrent },
  RNN: { convert: recurrent },
};
