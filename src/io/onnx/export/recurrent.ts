// lstm, gru, simpleRnn as ONNX LSTM / GRU / RNN, one direction each, layout 0 (ONNX Runtime runs no other):
// X [B, T, F] transposed to [T, B, F], the weights as ONNX rows [1, gates*U, F] in ONNX's gate order (LSTM
// i, o, f, c), the bias as [Wb ; Rb] (Rb zero, except resetAfter's recurrent row: linear_before_reset 1),
// initial states unsqueezed to [1, B, U]; Y [T, 1, B, U] back to [B, T, U], and the states squeezed to [B, U].
// goBackwards (Keras: the output sequence in processing order) is ONNX 'reverse' with Y read backwards in time.
import type { Node } from '../../../graph/ir.js';
import { attrInt, attrInts, attrStr, fail, type ExportContext, type ExportFamily } from './context.js';

/**
 * edgegrad activation -> ONNX's (HardSigmoid at ONNX's default alpha 0.2, beta 0.5: edgegrad's hardSigmoid;
 * linear as Affine, whose alpha 1 and beta 0 are written: ONNX Runtime's default alpha is 0)
 */
const ACTIVATIONS: Record<string, string> = { sigmoid: 'Sigmoid', tanh: 'Tanh', relu: 'Relu', hardSigmoid: 'HardSigmoid', linear: 'Affine' };
/** edgegrad's LSTM gate g (i, f, c, o) is ONNX's gate block LSTM_BLOCK[g] (ONNX i, o, f, c) */
const LSTM_BLOCK = [0, 2, 3, 1];
const GATES: Record<string, number> = { lstm: 4, gru: 3, simpleRnn: 1 };
const OP: Record<string, string> = { lstm: 'LSTM', gru: 'GRU', simpleRnn: 'RNN' };

function recurrent(cx: ExportContext, n: Node, out: string | undefined): void {
  const a = n.attrs, G = GATES[n.op], U = a.units as number, op = OP[n.op];
  // ONNX's sequence_lens pads only at the end, and its states start from the inputs every run
  if (a.masked) fail(`node '${n.name}' (${n.op}): a masked recurrent layer (Masking, mask_zero) has no ONNX ${op} form here`);
  if (a.stateful) fail(`node '${n.name}' (${n.op}): a stateful recurrent layer carries its states between batches, which an ONNX ${op} does not`);
  // inputs x, W, R, then b (unless attrs.bias is false), h0 (and c0) with initialState, the peepholes
  const [x, w, r] = n.inputs, hasBias = a.bias !== false, b = hasBias ? n.inputs[3] : undefined;
  const states = a.initialState ? n.inputs.slice(3 + +hasBias, 3 + +hasBias + (n.op === 'lstm' ? 2 : 1)) : [];
  const data = (id: number, what: string) => {
    const v = cx.g.values[id];
    if (!v.tensor) fail(`node '${n.name}' (${n.op}): its ${what} is computed by the graph; ONNX ${op} takes it here only as a weight`);
    return cx.data(id);
  };
  // ONNX rows from edgegrad's columns: row block(g)*U + j, column k = m[k, g*U + j]
  const block = (g: number) => (n.op === 'lstm' ? LSTM_BLOCK[g] : g);
  const rows = (m: ArrayLike<number>, K: number) => {
    const o = new Float32Array(G * U * K);
    for (let g = 0; g < G; g++) for (let j = 0; j < U; j++) for (let k = 0; k < K; k++) o[(block(g) * U + j) * K + k] = m[k * G * U + g * U + j];
    return o;
  };
  const F = cx.shapeOf(x)[2];
  const bias = new Float32Array(2 * G * U), bd = b === undefined ? [] : data(b, 'bias');
  // b [G*U] is Wb (Rb zero); resetAfter's [2, 3U] is Wb then Rb
  for (let part = 0; part < bd.length / (G * U); part++) for (let g = 0; g < G; g++) for (let j = 0; j < U; j++) bias[part * G * U + block(g) * U + j] = bd[part * G * U + g * U + j];
  const ins = [
    cx.emit('Transpose', [cx.valueName(x)], [attrInts('perm', [1, 0, 2])], `${n.name}/time_major`),
    cx.floatInit(`${n.name}/W`, [1, G * U, F], rows(data(w, 'kernel'), F)),
    cx.floatInit(`${n.name}/R`, [1, G * U, U], rows(data(r, 'recurrent kernel'), U)),
    cx.floatInit(`${n.name}/B`, [1, 2 * G * U], bias),
  ];
  if (states.length || a.peepholes) ins.push('', ...states.map((s, k) => cx.emit('Unsqueeze', [cx.valueName(s), cx.intInit(`${n.name}/axes`, [0])], [], `${n.name}/initial_${'hc'[k]}`)));
  if (a.peepholes) {
    while (ins.length < 7) ins.push('');
    // the op's peepholes are i, f, o; ONNX's i, o, f
    const p = data(n.inputs[3 + +hasBias + states.length], 'peepholes');
    ins.push(cx.floatInit(`${n.name}/P`, [1, 3 * U], [...p.subarray(0, U), ...p.subarray(2 * U), ...p.subarray(U, 2 * U)]));
  }
  const act = (nm: unknown) => ACTIVATIONS[nm as string] ?? fail(`node '${n.name}' (${n.op}): activation '${String(nm)}' has no ONNX ${op} equivalent here (${Object.keys(ACTIVATIONS).join(', ')})`);
  const f = a.activation ?? 'tanh', rec = a.recurrentActivation ?? 'sigmoid';
  const acts = n.op === 'lstm' ? [rec, f, f] : n.op === 'gru' ? [rec, f] : [f];
  const attrs: unknown[] = [attrInt('hidden_size', U), attrStr('direction', a.reverse || a.goBackwards ? 'reverse' : 'forward'), { name: 'activations', type: 8, strings: acts.map((s) => new TextEncoder().encode(act(s))) }];
  if (n.op === 'gru') attrs.push(attrInt('linear_before_reset', a.resetAfter ? 1 : 0));
  // alpha and beta go to the activations that take them, in order
  const params = acts.flatMap((s) => (s === 'linear' ? [[1, 0]] : s === 'hardSigmoid' ? [[0.2, 0.5]] : []));
  if (acts.includes('linear')) attrs.push({ name: 'activation_alpha', type: 6, floats: params.map((p) => p[0]) }, { name: 'activation_beta', type: 6, floats: params.map((p) => p[1]) });
  const outs = [0, 1, 2].slice(0, n.op === 'lstm' ? 3 : 2).map((k) => cx.unique(`${n.name}_${['Y', 'Y_h', 'Y_c'][k]}`));
  cx.nodes.push({ opType: op, name: cx.unique(n.name), input: ins, output: outs, attribute: attrs });
  // Y [T, 1, B, U] -> [B, T, U] (backwards in time for goBackwards: the order it was processed in)
  let y = outs[0];
  if (a.goBackwards) y = cx.emit('Slice', [y, cx.intInit(`${n.name}/starts`, [-1]), cx.intInit(`${n.name}/ends`, [Number.MIN_SAFE_INTEGER]), cx.intInit(`${n.name}/axes`, [0]), cx.intInit(`${n.name}/steps`, [-1])], [], `${n.name}/backwards`);
  y = cx.emit('Squeeze', [y, cx.intInit(`${n.name}/axes`, [1])], [], `${n.name}/Y_squeeze`);
  cx.setOut(n, cx.emit('Transpose', [y], [attrInts('perm', [1, 0, 2])], `${n.name}/batch_major`, out));
  // the final states [1, B, U] -> [B, U] (outputs past them are the op's own, for training)
  outs.slice(1).forEach((s, k) => cx.onnxName.set(n.outputs[k + 1], cx.emit('Squeeze', [s, cx.intInit(`${n.name}/axes`, [0])], [], `${n.name}/${['Y_h', 'Y_c'][k]}_squeeze`)));
}

export const recurrentFamily: ExportFamily = { lstm: recurrent, gru: recurrent, simpleRnn: recurrent };
