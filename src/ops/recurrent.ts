// Recurrent ops over a whole sequence: simple RNN (Elman), LSTM (forget gate, optional peepholes) and GRU
// (both reset forms), forward and backpropagation through time. Sequences are batch-major [B, T, F]. One GEMM
// projects the inputs of all steps (x W + b); each step adds h_{t-1} R with a GEMM into its slice and runs one
// fused cell kernel (assembly/recurrent.ts) for the gates, the cell update and the output. The backward pass
// walks the steps in reverse with the same kernels' backward forms, collecting the pre-activation gradients
// of every step, so the weight gradients are again single GEMMs over all steps (dW = xᵀ dZ, dR = h_{t-1}ᵀ dZ).
// Gate layouts are Keras's: LSTM i, f, c, o; GRU z, r, h.
import { arr, fail, formatShape, type Arr } from './util.js';
import { registerOp, type GradBuilder, type RunContext } from '../graph/registry.js';
import type { Attrs, Node, Shape } from '../graph/ir.js';
import { Act, AMode, Red, Un, type Kernels } from '../backend/kernels.js';
import type { DeviceIndexing } from '../backend/webgpu/indexing.js';

export type RecurrentActivation = 'tanh' | 'sigmoid' | 'hardSigmoid' | 'relu' | 'linear';
export const RECURRENT_ACTIVATIONS: readonly RecurrentActivation[] = ['tanh', 'sigmoid', 'hardSigmoid', 'relu', 'linear'];
export type Cell = 'simpleRnn' | 'lstm' | 'gru';

/** Gates per unit: the width of W, R and b in units. */
export const GATES: Record<Cell, number> = { simpleRnn: 1, lstm: 4, gru: 3 };

function actCode(name: unknown, op: string, what: string): number {
  if (!RECURRENT_ACTIVATIONS.includes(name as RecurrentActivation)) {
    fail(op, `${what} '${String(name)}' is not one a recurrent cell runs (${RECURRENT_ACTIVATIONS.join(', ')})`);
  }
  return Act[name as RecurrentActivation];
}

/** The operands of a recurrent node by role, from its inputs (ids or shapes) and attrs. */
interface Operands<T> { x: T; W: T; R: T; b?: T; h0?: T; c0?: T; p?: T; mask?: T; rm?: T }

function operands<T>(list: readonly T[], a: Attrs, cell: Cell): Operands<T> {
  const [x, W, R] = list;
  let k = 3;
  const b = a.bias !== false ? list[k++] : undefined;
  const h0 = a.initialState ? list[k++] : undefined;
  const c0 = a.initialState && cell === 'lstm' ? list[k++] : undefined;
  const p = a.peepholes ? list[k++] : undefined;
  const mask = a.masked ? list[k++] : undefined;
  // recurrent dropout: the multipliers of h_{t-1} in the recurrent products, one row per sequence
  const rm = a.recurrentDropout ? list[k++] : undefined;
  return { x, W, R, b, h0, c0, p, mask, rm };
}

const ROLES = ['x', 'W', 'R', 'b', 'h0', 'c0', 'p'] as const;
type Role = typeof ROLES[number];

/** Step s of T in processing order: the input's time index t, and the output position (Keras go_backwards: s). */
function steps(a: Attrs, T: number): { t(s: number): number; pos(s: number): number } {
  const back = !!a.reverse || !!a.goBackwards;
  return { t: (s) => (back ? T - 1 - s : s), pos: (s) => (a.goBackwards ? s : back ? T - 1 - s : s) };
}

function inferRecurrent(cell: Cell, shapes: Shape[], a: Attrs, node: string): Operands<Shape> & { B: number; T: number; F: number; U: number } {
  const o = operands(shapes, a, cell), G = GATES[cell], U = a.units as number;
  const where = `node '${node}'`;
  if (!Number.isInteger(U) || U < 1) fail(cell, `${where}: units must be a positive integer, got ${String(U)}`);
  if (!o.x || o.x.length !== 3) fail(cell, `${where}: input must be [batch, steps, features], got ${o.x ? formatShape(o.x) : 'nothing'}`);
  const [B, T, F] = o.x;
  if (T < 1) fail(cell, `${where}: the sequence has no steps (${formatShape(o.x)})`);
  const expect = (s: Shape | undefined, want: number[], what: string): void => {
    if (!s || s.length !== want.length || s.some((d, i) => d !== want[i] && !(d === -1 || want[i] === -1))) {
      fail(cell, `${where}: ${what} must be ${formatShape(want)}, got ${s ? formatShape(s) : 'nothing'}`);
    }
  };
  expect(o.W, [F, G * U], 'the kernel W');
  expect(o.R, [U, G * U], 'the recurrent kernel R');
  if (o.b) {
    const n = o.b.reduce((m, d) => m * d, 1), want = cell === 'gru' && a.resetAfter ? 2 * G * U : G * U;
    if (n !== want) fail(cell, `${where}: the bias must have ${want} values${cell === 'gru' && a.resetAfter ? ' (input and recurrent biases, reset after)' : ''}, got ${formatShape(o.b)}`);
  }
  if (a.initialState) {
    expect(o.h0, [B, U], 'the initial state h0');
    if (cell === 'lstm') expect(o.c0, [B, U], 'the initial cell state c0');
  }
  if (a.peepholes) {
    if (cell !== 'lstm') fail(cell, `${where}: only an LSTM has peepholes`);
    expect(o.p, [3 * U], 'the peephole weights');
  }
  if (a.recurrentDropout) expect(o.rm, [B, U], 'the recurrent dropout multipliers');
  if (a.masked && (!o.mask || o.mask.length < 2 || o.mask[0] !== B || o.mask[1] !== T || o.mask.slice(2).some((d) => d !== 1))) {
    fail(cell, `${where}: the mask must be [${B},${T}] (1 for a step, 0 for padding), got ${o.mask ? formatShape(o.mask) : 'nothing'}`);
  }
  if (a.reverse && a.goBackwards) fail(cell, `${where}: reverse and goBackwards both set`);
  actCode(a.activation ?? 'tanh', cell, `${where}: activation`);
  if (cell !== 'simpleRnn') actCode(a.recurrentActivation ?? 'sigmoid', cell, `${where}: recurrentActivation`);
  return { ...o, B, T, F, U };
}

/** Outputs each op has before the copies of the initial states that a stateful node keeps. */
const OUTPUTS: Record<Cell, number> = { simpleRnn: 3, lstm: 5, gru: 5 };

/**
 * A stateful node (Keras's stateful: the states carry over from batch to batch) reads its initial states
 * from persistent state values and writes its final states back into them. It first copies them to outputs
 * of its own, which the sequence starts from and the backward pass reads (the state values have moved on by
 * then). Returns the handles to start from.
 */
function statefulStart(ctx: RunContext, n: Node, cell: Cell, B: number): { h0: number; c0: number } {
  const o = operands(n.inputs, n.attrs, cell), U = n.attrs.units as number;
  const held = ctx.shape(o.h0!)[0];
  if (held !== B) fail(cell, `node '${n.name}': a stateful layer keeps states for batches of ${held}, got a batch of ${B} (fit, predict and evaluate with batchSize ${held}, and a number of examples divisible by it)`);
  const h0 = ctx.ptr(n.outputs[OUTPUTS[cell]]), c0 = cell === 'lstm' ? ctx.ptr(n.outputs[OUTPUTS[cell] + 1]) : 0;
  ctx.be.copy(h0, ctx.ptr(o.h0!), B * U * F32);
  if (c0) ctx.be.copy(c0, ctx.ptr(o.c0!), B * U * F32);
  return { h0, c0 };
}

function statefulEnd(ctx: RunContext, n: Node, cell: Cell, B: number): void {
  const o = operands(n.inputs, n.attrs, cell), U = n.attrs.units as number;
  ctx.be.copy(ctx.ptr(o.h0!), ctx.ptr(n.outputs[1]), B * U * F32);
  if (cell === 'lstm') ctx.be.copy(ctx.ptr(o.c0!), ctx.ptr(n.outputs[2]), B * U * F32);
}

/** The forward's buffer for h_{t-1} m (recurrent dropout: its last output), or 0. */
function dropBuffer(ctx: RunContext, n: Node): number {
  return n.attrs.recurrentDropout ? ctx.ptr(n.outputs[n.outputs.length - 1]) : 0;
}

/** The resolved dimensions and handles of a running recurrent node. */
function bind(ctx: RunContext, n: Node, cell: Cell) {
  const o = operands(n.inputs, n.attrs, cell);
  const [B, T, F] = ctx.shape(o.x), U = n.attrs.units as number, order = steps(n.attrs, T);
  const p = (id: number | undefined): number => (id === undefined ? 0 : ctx.ptr(id));
  // a stateful forward starts from its copies of the state values (the backward node is never stateful)
  const start = n.attrs.stateful ? statefulStart(ctx, n, cell, B) : undefined;
  const h0 = start ? start.h0 : p(o.h0);
  return {
    B, T, F, U, k: ctx.be.kernels, order,
    x: p(o.x), W: p(o.W), R: p(o.R), b: p(o.b), h0, c0: start ? start.c0 : p(o.c0), peep: p(o.p),
    /** The mask's column for input step t (0: no mask); rows T apart. */
    m: (t: number): number => (o.mask === undefined ? 0 : ctx.ptr(o.mask) + t * F32),
    rm: p(o.rm),
    /** h_{t-1} of processing step s and its row stride: the output written the step before, or h0 (0: zeros). */
    prevH: (hseq: number, s: number): [number, number] => (s > 0 ? [hseq + order.pos(s - 1) * U * F32, T * U] : [h0, U]),
    act: actCode(n.attrs.activation ?? 'tanh', cell, 'activation'),
    ract: actCode(n.attrs.recurrentActivation ?? 'sigmoid', cell, 'recurrentActivation'),
  };
}

/** C = alpha op(A) op(B) + beta C on the node's backend (row strides in elements). */
function gemm(ctx: RunContext, tA: number, tB: number, M: number, N: number, K: number, A: number, lda: number, B: number, ldb: number,
  beta: number, C: number, ldc: number, bias = 0): void {
  const k = ctx.be.kernels;
  k.gemm(tA, tB, M, N, K, 1, A, lda, B, ldb, beta, C, ldc, bias, Act.linear, 0, ctx.be.workspace(k.gemmWorkspaceSize(M, N, K)));
}

/**
 * The per-step product with a recurrent weight, C[M x N] = A[M x K] op(B) + beta C, with op(B) packed once
 * for all the steps of a pass (the plain GEMM packs it on every call: a tenth of an LSTM step). Batches
 * under 4 rows take the plain GEMM's matrix-vector path instead. free() after the last step.
 */
function stepProduct(ctx: RunContext, M: number, trans: number, K: number, N: number, B: number, ldb: number) {
  const k = ctx.be.kernels;
  if (M < 4) {
    return {
      mul: (A: number, lda: number, beta: number, C: number, ldc: number) => gemm(ctx, 0, trans, M, N, K, A, lda, B, ldb, beta, C, ldc),
      free: () => undefined,
    };
  }
  const p = ctx.be.alloc(k.gemmPackedBSize(K, N));
  k.gemmPackB(trans, K, N, B, ldb, p);
  return {
    mul: (A: number, lda: number, beta: number, C: number, ldc: number) =>
      k.gemmPrepacked(AMode.matrix, 0, M, N, K, 1, A, lda, p, beta, C, ldc, 0, Act.linear, 0, ctx.be.workspace(k.gemmPackedASize())),
    free: () => ctx.be.free(p),
  };
}

/**
 * dh += dZ_t op(R) for the step before (simple RNN, LSTM): straight into dh, or with recurrent dropout into
 * `g` and then masked into dh (the product saw h_{t-1} m).
 */
function recurrentBack(r: { B: number; U: number; rm: number; k: Kernels }, rec: ReturnType<typeof stepProduct>, dh: number, g: number) {
  return (dZ: number, ld: number): void => {
    if (!r.rm) { rec.mul(dZ, ld, 1, dh, r.U); return; }
    rec.mul(dZ, ld, 0, g, r.U);
    r.k.rnnMaskRows(r.B, r.U, g, r.U, r.rm, dh, r.U, 1);
  };
}

/** Copy B rows of U floats between strided matrices. */
function copyRows(ctx: RunContext, B: number, U: number, src: number, lds: number, dst: number, ldd: number): void {
  ctx.be.kernels.stridedCopy(2, ctx.be.descriptor([B, U, lds, 1, ldd, 1]), src, dst);
}

const F32 = 4;

/** Outputs after the op's own: the copies of a stateful node's initial states, then h_{t-1} m (recurrent dropout). */
function stateCopies(cell: Cell, a: Attrs, B: number, U: number): Shape[] {
  return [...(a.stateful ? (cell === 'lstm' ? [[B, U], [B, U]] : [[B, U]]) : []), ...(a.recurrentDropout ? [[B, U]] : [])];
}

/**
 * h_{t-1} as the recurrent product sees it: itself, or with recurrent dropout h_{t-1} m written to `buf`
 * ([B, U]). Returns the handle and row stride.
 */
function dropped(r: { B: number; U: number; rm: number; k: Kernels }, hp: number, ldhp: number, buf: number): [number, number] {
  if (!r.rm || !hp) return [hp, ldhp];
  r.k.rnnMaskRows(r.B, r.U, hp, ldhp, r.rm, buf, r.U, 0);
  return [buf, r.U];
}

/**
 * h_{t-1} of every step, in the input's time order ([B, T, U]; h0 or zeros at the first step processed): the
 * left operand of dR = Σ_t h_{t-1}ᵀ dZ_t as one GEMM.
 */
function previousStates(ctx: RunContext, r: ReturnType<typeof bind>, hseq: number, dst: number): void {
  const { B, T, U, order } = r;
  if (!r.h0) ctx.be.kernels.fillValue(B * T * U, dst, 0);
  for (let s = 0; s < T; s++) {
    const to = dst + order.t(s) * U * F32;
    if (s > 0) copyRows(ctx, B, U, hseq + order.pos(s - 1) * U * F32, T * U, to, T * U);
    else if (r.h0) copyRows(ctx, B, U, r.h0, U, to, T * U);
    // with recurrent dropout the products saw h_{t-1} m
    if (r.rm) r.k.rnnMaskRows(B, U, to, T * U, r.rm, to, T * U, 0);
  }
}

/** The input gradient and the weight gradients from the pre-activation gradients dZ ([B*T, G*U]) of all steps. */
function weightGrads(ctx: RunContext, r: ReturnType<typeof bind>, G: number, dZ: number, HP: number, out: Partial<Record<Role, number>>): void {
  const { B, T, F, U } = r, M = B * T, N = G * U;
  if (out.x !== undefined) gemm(ctx, 0, 1, M, F, N, dZ, N, r.W, N, 0, ctx.ptr(out.x), F);
  if (out.W !== undefined) gemm(ctx, 1, 0, F, N, M, r.x, F, dZ, N, 0, ctx.ptr(out.W), N);
  if (out.R !== undefined) gemm(ctx, 1, 0, U, N, M, HP, U, dZ, N, 0, ctx.ptr(out.R), N);
  if (out.b !== undefined) r.k.columnSums(M, N, dZ, ctx.ptr(out.b));
}

// ---- shared registration: forward op, its gradient op, the gradient rule ----

/** Internal outputs of each gradient op before the input gradients: scratch the backward pass needs. */
const GRAD_SCRATCH: Record<Cell, (B: number, T: number, U: number) => Shape[]> = {
  // dZ, h_{t-1} of every step, dh
  simpleRnn: (B, T, U) => [[B, T, U], [B, T, U], [B, U], [B, U], [B, U]],
  // dZ, h_{t-1}, dh, dc
  lstm: (B, T, U) => [[B, T, 4 * U], [B, T, U], [B, U], [B, U], [B, U], [B, U]],
  // dX, dHR, h_{t-1}, dh, drh
  gru: (B, T, U) => [[B, T, 3 * U], [B, T, 3 * U], [B, T, U], [B, U], [B, U], [B, U], [B, U]],
};

/** Forward outputs the backward pass reads (by index): the sequence and the saved activations. */
const SAVED: Record<Cell, number[]> = { simpleRnn: [0], lstm: [0, 3, 4], gru: [0, 2, 3] };
/** Forward outputs that carry gradients in: hseq, hT (and cT). */
const CARRIED: Record<Cell, number> = { simpleRnn: 2, lstm: 3, gru: 2 };

function registerGrad(cell: Cell): void {
  registerOp({
    name: `${cell}Grad`,
    // inputs: the forward node's inputs, its saved outputs, then the incoming gradients that exist (attrs.dOut)
    infer(shapes, a, node) {
      const fwd = shapes.slice(0, a.nIn as number);
      const { B, T, U, ...o } = inferRecurrent(cell, fwd, a, node);
      const out = GRAD_SCRATCH[cell](B, T, U);
      for (const role of ROLES) if ((a.need as Role[]).includes(role)) out.push(o[role]!.slice());
      return out;
    },
    run(ctx, n) { BACKWARD[cell](ctx, n); },
  });
}

function gradRule(cell: Cell) {
  return (n: Node, dOut: Array<number | undefined>, b: GradBuilder): Array<number | undefined> => {
    const o = operands(n.inputs, n.attrs, cell);
    const need = ROLES.filter((r) => o[r] !== undefined && b.needs(o[r]!));
    const carried = dOut.slice(0, CARRIED[cell]);
    const fwd = n.inputs.slice();
    if (n.attrs.stateful) {
      // the state values hold the final states by the time the backward pass runs: it reads the copies
      const at = operands(n.inputs.map((_, i) => i), n.attrs, cell);
      fwd[at.h0!] = n.outputs[OUTPUTS[cell]];
      if (cell === 'lstm') fwd[at.c0!] = n.outputs[OUTPUTS[cell] + 1];
    }
    const ins = [...fwd, ...SAVED[cell].map((k) => n.outputs[k]), ...carried.filter((d): d is number => d !== undefined)];
    const outs = b.node(`${cell}Grad`, ins, { ...n.attrs, stateful: false, nIn: n.inputs.length, need, dOut: carried.map((d) => d !== undefined) }, `${n.name}_grad`);
    const scratch = GRAD_SCRATCH[cell](1, 1, 1).length;
    const at = operands(n.inputs.map((_, i) => i), n.attrs, cell), dIn: Array<number | undefined> = n.inputs.map(() => undefined);
    need.forEach((r, i) => { dIn[at[r]!] = outs[scratch + i]; });
    return dIn;
  };
}

/** Input positions of the saved forward outputs and incoming gradients in a gradient node. */
function gradOperands(n: Node, cell: Cell) {
  const nIn = n.attrs.nIn as number, saved = SAVED[cell].length, present = n.attrs.dOut as boolean[];
  let k = nIn + saved;
  const d = present.map((has) => (has ? n.inputs[k++] : undefined));
  const outs = new Map<Role, number>();
  (n.attrs.need as Role[]).forEach((r, i) => outs.set(r, n.outputs[GRAD_SCRATCH[cell](1, 1, 1).length + i]));
  return { saved: n.inputs.slice(nIn, nIn + saved), d, out: Object.fromEntries(outs) as Partial<Record<Role, number>> };
}

function statefulMutates(cell: Cell) {
  return (n: Node): number[] => {
    if (!n.attrs.stateful) return [];
    const at = operands(n.inputs.map((_, i) => i), n.attrs, cell);
    return cell === 'lstm' ? [at.h0!, at.c0!] : [at.h0!];
  };
}

function flops(G: number) {
  return (inputs: Shape[]): number => {
    const [B, T, F] = inputs[0], U = inputs[2][0];
    return 2 * Math.max(B, 1) * T * (F + U) * G * U + 8 * Math.max(B, 1) * T * G * U;
  };
}

// ---- simple RNN ----

registerOp({
  name: 'simpleRnn',
  // inputs x, W [F, U], R [U, U], b [U] (attr bias), h0 (attr initialState); outputs hseq, hT, pre (internal:
  // the pre-activations x W + b in time order)
  infer(shapes, a, node) {
    const { B, T, U } = inferRecurrent('simpleRnn', shapes, a, node);
    return [[B, T, U], [B, U], [B, T, U], ...stateCopies('simpleRnn', a, B, U)];
  },
  run(ctx, n) {
    const r = bind(ctx, n, 'simpleRnn'), { B, T, F, U, order } = r;
    const [hseq, hT, pre] = n.outputs.map((id) => ctx.ptr(id));
    gemm(ctx, 0, 0, B * T, U, F, r.x, F, r.W, U, 0, pre, U, r.b);
    const rec = stepProduct(ctx, B, 0, U, U, r.R, U), hm = dropBuffer(ctx, n);
    try {
      for (let s = 0; s < T; s++) {
        const z = pre + order.t(s) * U * F32;
        const [hp, ldhp] = r.prevH(hseq, s);
        if (hp) rec.mul(...dropped(r, hp, ldhp, hm), 1, z, T * U);
        r.k.rnnCell(B, U, z, T * U, hp, ldhp, r.m(order.t(s)), T, hseq + order.pos(s) * U * F32, T * U, r.act);
      }
    } finally {
      rec.free();
    }
    copyRows(ctx, B, U, hseq + order.pos(T - 1) * U * F32, T * U, hT, U);
    if (n.attrs.stateful) statefulEnd(ctx, n, 'simpleRnn', B);
  },
  mutates: statefulMutates('simpleRnn'),
  grad: gradRule('simpleRnn'),
  flops: flops(1),
});
registerGrad('simpleRnn');

// ---- LSTM ----

registerOp({
  name: 'lstm',
  // inputs x, W [F, 4U], R [U, 4U], b [4U] (attr bias), h0, c0 (attr initialState), peepholes [3U] (attr
  // peepholes); outputs hseq, hT, cT, gates (activated, time order), cells (time order)
  infer(shapes, a, node) {
    const { B, T, U } = inferRecurrent('lstm', shapes, a, node);
    return [[B, T, U], [B, U], [B, U], [B, T, 4 * U], [B, T, U], ...stateCopies('lstm', a, B, U)];
  },
  run(ctx, n) {
    const r = bind(ctx, n, 'lstm'), { B, T, F, U, order } = r, N = 4 * U;
    const [hseq, hT, cT, gates, cells] = n.outputs.map((id) => ctx.ptr(id));
    gemm(ctx, 0, 0, B * T, N, F, r.x, F, r.W, N, 0, gates, N, r.b);
    const rec = stepProduct(ctx, B, 0, U, N, r.R, N), hm = dropBuffer(ctx, n);
    try {
      for (let s = 0; s < T; s++) {
        const t = order.t(s), z = gates + t * N * F32;
        const [hp, ldhp] = r.prevH(hseq, s);
        const [cp, ldcp] = s > 0 ? [cells + order.t(s - 1) * U * F32, T * U] : [r.c0, U];
        if (hp) rec.mul(...dropped(r, hp, ldhp, hm), 1, z, T * N);
        r.k.lstmCell(B, U, z, T * N, hp, ldhp, cp, ldcp, r.m(t), T, cells + t * U * F32, T * U, hseq + order.pos(s) * U * F32, T * U, r.peep, r.act, r.ract);
      }
    } finally {
      rec.free();
    }
    copyRows(ctx, B, U, hseq + order.pos(T - 1) * U * F32, T * U, hT, U);
    copyRows(ctx, B, U, cells + order.t(T - 1) * U * F32, T * U, cT, U);
    if (n.attrs.stateful) statefulEnd(ctx, n, 'lstm', B);
  },
  mutates: statefulMutates('lstm'),
  grad: gradRule('lstm'),
  flops: flops(4),
});
registerGrad('lstm');

// ---- GRU ----

registerOp({
  name: 'gru',
  // inputs x, W [F, 3U], R [U, 3U], b ([3U]; reset after: [2, 3U], input then recurrent bias), h0; outputs hseq,
  // hT, gates (activated z, r, hh, time order), aux (reset after: h_{t-1} Rh + rbh; before: r h_{t-1}), hr
  // (scratch: h_{t-1} R of the step)
  infer(shapes, a, node) {
    const { B, T, U } = inferRecurrent('gru', shapes, a, node);
    return [[B, T, U], [B, U], [B, T, 3 * U], [B, T, U], [B, 3 * U], ...stateCopies('gru', a, B, U)];
  },
  run(ctx, n) {
    const r = bind(ctx, n, 'gru'), { B, T, F, U, order } = r,
      N = 3 * U, after = n.attrs.resetAfter ? 1 : 0;
    const [hseq, hT, gates, aux, hr] = n.outputs.map((id) => ctx.ptr(id));
    const rb = after && r.b ? r.b + N * F32 : 0;
    gemm(ctx, 0, 0, B * T, N, F, r.x, F, r.W, N, 0, gates, N, r.b);
    // h R (reset after: all of R; before: the z and r columns, then (r h) Rh)
    const zr = stepProduct(ctx, B, 0, U, after ? N : 2 * U, r.R, N), cand = after ? undefined : stepProduct(ctx, B, 0, U, U, r.R + 2 * U * F32, N);
    const hm = dropBuffer(ctx, n);
    try {
      for (let s = 0; s < T; s++) {
        const t = order.t(s), g = gates + t * N * F32;
        const [hp, ldhp] = r.prevH(hseq, s);
        // the recurrent products (and r h of the reset-before candidate) see h_{t-1} m; the blend sees h_{t-1}
        const [hd, ldhd] = dropped(r, hp, ldhp, hm);
        if (hp) zr.mul(hd, ldhd, 0, hr, N);
        r.k.gruGates(B, U, g, T * N, hp ? hr : 0, rb, hd, ldhd, after ? 0 : aux + t * U * F32, T * U, r.ract);
        if (hp && cand) cand.mul(aux + t * U * F32, T * U, 0, hr + 2 * U * F32, N);
        r.k.gruOutput(B, U, g, T * N, hp ? hr : 0, rb, hp, ldhp, r.m(t), T, after ? aux + t * U * F32 : 0, T * U, hseq + order.pos(s) * U * F32, T * U, r.act, after);
      }
    } finally {
      zr.free(); cand?.free();
    }
    copyRows(ctx, B, U, hseq + order.pos(T - 1) * U * F32, T * U, hT, U);
    if (n.attrs.stateful) statefulEnd(ctx, n, 'gru', B);
  },
  mutates: statefulMutates('gru'),
  grad: gradRule('gru'),
  flops: flops(3),
});
registerGrad('gru');

// ---- sequence masks ----

registerOp({
  name: 'sequenceMask',
  // x [B, T, ...] -> [B, T, 1]: 0 where every value of the step equals maskValue (padding), else 1 (Keras's Masking)
  infer([x], _a, node) {
    if (x.length < 3) fail('masking', `node '${node}': input must be [batch, steps, features], got ${formatShape(x)}`);
    return [[x[0], x[1], 1]];
  },
  run(ctx, n) {
    const shape = ctx.shape(n.inputs[0]), rows = shape[0] * shape[1], F = shape.slice(2).reduce((a, b) => a * b, 1), k = ctx.be.kernels;
    // step(max |x - maskValue|) over each step's features; the kernels here take no workspace of their own
    const tmp = ctx.be.workspace(rows * F * F32), y = ctx.ptr(n.outputs[0]);
    k.affine(rows * F, ctx.ptr(n.inputs[0]), 1, -(n.attrs.maskValue as number), tmp);
    k.unary(Un.abs, rows * F, tmp, tmp);
    k.reduce(Red.max, rows, F, 1, tmp, y);
    k.actForward(Act.step, rows, y, y, 0);
  },
  // piecewise constant: no gradient flows through a mask
  grad: (n) => n.inputs.map(() => undefined),
});

registerOp({
  name: 'lengthMask',
  // int32 lengths [B] -> [B, steps, 1]: 1 for the steps t < length (ONNX's sequence_lens), else 0
  infer([lens], a, node) {
    const T = a.steps as number;
    if (lens.length !== 1 || !(Number.isInteger(T) && T >= 1)) fail('lengthMask', `node '${node}': lengths must be [batch] and steps a positive integer, got ${formatShape(lens)} and ${String(T)}`);
    return [[lens[0], T, 1]];
  },
  run(ctx, n) {
    const B = ctx.shape(n.inputs[0])[0], T = n.attrs.steps as number, y = ctx.ptr(n.outputs[0]);
    const dev = ctx.be.syncRead ? undefined : (ctx.be as { indexing?: DeviceIndexing }).indexing;
    if (dev) {
      // on the GPU a length out of range is found there (the mask clamps it) and the next read throws
      dev.checkIndices(B, ctx.ptr(n.inputs[0]), 0, T + 1, { op: 'lengthMask', node: n.name, what: 'length', place: 'sequence', range: `[0, ${T}]` });
      return dev.lengthMask(B, T, ctx.ptr(n.inputs[0]), y);
    }
    if (!ctx.be.syncRead) fail('lengthMask', `node '${n.name}': reads its lengths on the CPU; the '${ctx.be.name}' backend cannot (run it on wasm)`);
    const lens = ctx.be.i32(ctx.ptr(n.inputs[0]), B).slice();
    ctx.be.kernels.fillValue(B * T, y, 0);
    for (let b = 0; b < B; b++) {
      if (!(lens[b] >= 0 && lens[b] <= T)) fail('lengthMask', `node '${n.name}': length ${lens[b]} (sequence ${b}) is outside [0, ${T}]`);
      if (lens[b] > 0) ctx.be.kernels.fillValue(lens[b], y + b * T * F32, 1);
    }
  },
  grad: (n) => n.inputs.map(() => undefined),
});

registerOp({
  name: 'recurrentDropoutMask',
  // the recurrent dropout multipliers of a batch, [B, units]: 0 with probability rate, else 1 / (1 - rate),
  // drawn once per sequence where dropout acts (training, Monte-Carlo dropout); 1 elsewhere. Input: x (its batch)
  infer([x], a) { return [[x[0], a.units as number]]; },
  run(ctx, n) {
    const [B] = ctx.shape(n.inputs[0]), size = B * (n.attrs.units as number), out = ctx.ptr(n.outputs[0]);
    if (ctx.dropout) ctx.be.kernels.dropoutMask(ctx.be.rng, size, out, n.attrs.rate as number);
    else ctx.be.kernels.fillValue(size, out, 1);
  },
  grad: (n) => n.inputs.map(() => undefined),
});

// ---- backward passes (BPTT) ----

const BACKWARD: Record<Cell, (ctx: RunContext, n: Node) => void> = {
  simpleRnn(ctx, n) {
    const r = bind(ctx, n, 'simpleRnn'), { B, T, U, order } = r;
    const { saved: [hseqId], d: [dy, dhT], out } = gradOperands(n, 'simpleRnn');
    const [dZ, HP, dh, gd] = n.outputs.slice(0, 4).map((id) => ctx.ptr(id)), hseq = ctx.ptr(hseqId);
    const dyp = dy === undefined ? 0 : ctx.ptr(dy);
    if (dhT !== undefined) ctx.be.copy(dh, ctx.ptr(dhT), B * U * F32);
    else r.k.fillValue(B * U, dh, 0);
    // the cell kernel consumes dh (what it leaves is what passes padded rows to h_{t-1}); the GEMM adds the rest
    const rec = stepProduct(ctx, B, 1, U, U, r.R, U), back = recurrentBack(r, rec, dh, gd);
    try {
      for (let s = T - 1; s >= 0; s--) {
        if (s < T - 1) back(dZ + order.t(s + 1) * U * F32, T * U);
        r.k.rnnCellBackward(B, U, hseq + order.pos(s) * U * F32, T * U, dyp && dyp + order.pos(s) * U * F32, T * U, r.m(order.t(s)), T,
          dh, dZ + order.t(s) * U * F32, T * U, r.act);
      }
      if (out.h0 !== undefined) {
        back(dZ + order.t(0) * U * F32, T * U);
        ctx.be.copy(ctx.ptr(out.h0), dh, B * U * F32);
      }
    } finally {
      rec.free();
    }
    if (out.R !== undefined) previousStates(ctx, r, hseq, HP);
    weightGrads(ctx, r, 1, dZ, HP, out);
  },

  lstm(ctx, n) {
    const r = bind(ctx, n, 'lstm'), { B, T, U, order } = r, N = 4 * U;
    const { saved: [hseqId, gatesId, cellsId], d: [dy, dhT, dcT], out } = gradOperands(n, 'lstm');
    const [dZ, HP, dh, dc, gd] = n.outputs.slice(0, 5).map((id) => ctx.ptr(id));
    const hseq = ctx.ptr(hseqId), gates = ctx.ptr(gatesId), cells = ctx.ptr(cellsId), dyp = dy === undefined ? 0 : ctx.ptr(dy);
    for (const [buf, from] of [[dh, dhT], [dc, dcT]] as const) {
      if (from !== undefined) ctx.be.copy(buf, ctx.ptr(from), B * U * F32);
      else r.k.fillValue(B * U, buf, 0);
    }
    // the kernel accumulates peephole gradients wherever there are peepholes
    const dp = out.p !== undefined ? ctx.ptr(out.p) : 0;
    if (r.peep) {
      if (!dp) fail('lstm', `node '${n.name}': peephole gradients have nowhere to go`);
      r.k.fillValue(3 * U, dp, 0);
    }
    const rec = stepProduct(ctx, B, 1, N, U, r.R, N), back = recurrentBack(r, rec, dh, gd);
    try {
      for (let s = T - 1; s >= 0; s--) {
        const t = order.t(s);
        if (s < T - 1) back(dZ + order.t(s + 1) * N * F32, T * N);
        const [cp, ldcp] = s > 0 ? [cells + order.t(s - 1) * U * F32, T * U] : [r.c0, U];
        r.k.lstmCellBackward(B, U, gates + t * N * F32, T * N, cp, ldcp, cells + t * U * F32, T * U, dyp && dyp + order.pos(s) * U * F32, T * U,
          r.m(t), T, dh, dc, r.peep, dp, dZ + t * N * F32, T * N, r.act, r.ract);
      }
      if (out.h0 !== undefined) {
        back(dZ + order.t(0) * N * F32, T * N);
        ctx.be.copy(ctx.ptr(out.h0), dh, B * U * F32);
      }
    } finally {
      rec.free();
    }
    if (out.c0 !== undefined) ctx.be.copy(ctx.ptr(out.c0), dc, B * U * F32);
    if (out.R !== undefined) previousStates(ctx, r, hseq, HP);
    weightGrads(ctx, r, 4, dZ, HP, out);
  },

  gru(ctx, n) {
    const r = bind(ctx, n, 'gru'), { B, T, F, U, order } = r, N = 3 * U, after = n.attrs.resetAfter ? 1 : 0;
    const { saved: [hseqId, gatesId, auxId], d: [dy, dhT], out } = gradOperands(n, 'gru');
    const [dX, dHR, HP, dh, drh, gd, hm] = n.outputs.slice(0, 7).map((id) => ctx.ptr(id));
    const hseq = ctx.ptr(hseqId), gates = ctx.ptr(gatesId), aux = ctx.ptr(auxId), dyp = dy === undefined ? 0 : ctx.ptr(dy);
    if (dhT !== undefined) ctx.be.copy(dh, ctx.ptr(dhT), B * U * F32);
    else r.k.fillValue(B * U, dh, 0);
    const cand = after ? undefined : stepProduct(ctx, B, 1, U, U, r.R + 2 * U * F32, N), rec = stepProduct(ctx, B, 1, after ? N : 2 * U, U, r.R, N);
    try {
      for (let s = T - 1; s >= 0; s--) {
        const t = order.t(s), g = gates + t * N * F32, dx = dX + t * N * F32;
        const [hp, ldhp] = r.prevH(hseq, s);
        r.k.gruBackward(B, U, g, T * N, hp, ldhp, aux + t * U * F32, T * U, dyp && dyp + order.pos(s) * U * F32, T * U, r.m(t), T, dh, dx, T * N,
          dHR + t * N * F32, T * N, r.act, r.ract, after);
        // with recurrent dropout the products saw h_{t-1} m: their gradient (into gd) is masked on its way to dh
        const [hd, ldhd] = dropped(r, hp, ldhp, hm), into = r.rm ? gd : dh;
        if (r.rm) r.k.fillValue(B * U, gd, 0);
        if (!after) {
          // the candidate saw (r h_{t-1}) Rh: its gradient reaches r and h_{t-1} through that product
          cand!.mul(dx + 2 * U * F32, T * N, 0, drh, U);
          r.k.gruBackwardReset(B, U, g, T * N, hd, ldhd, drh, dx, T * N, into, r.ract);
        }
        // dh_{t-1} += (gradients of h_{t-1} R) Rᵀ
        if (hp) rec.mul(after ? dHR + t * N * F32 : dx, T * N, 1, into, U);
        if (r.rm) r.k.rnnMaskRows(B, U, gd, U, r.rm, dh, U, 1);
      }
    } finally {
      rec.free(); cand?.free();
    }
    if (out.h0 !== undefined) ctx.be.copy(ctx.ptr(out.h0), dh, B * U * F32);
    const M = B * T;
    if (out.x !== undefined) gemm(ctx, 0, 1, M, F, N, dX, N, r.W, N, 0, ctx.ptr(out.x), F);
    if (out.W !== undefined) gemm(ctx, 1, 0, F, N, M, r.x, F, dX, N, 0, ctx.ptr(out.W), N);
    if (out.R !== undefined) {
      previousStates(ctx, r, hseq, HP);
      if (after) {
        gemm(ctx, 1, 0, U, N, M, HP, U, dHR, N, 0, ctx.ptr(out.R), N);
      } else {
        gemm(ctx, 1, 0, U, 2 * U, M, HP, U, dX, N, 0, ctx.ptr(out.R), N);
        gemm(ctx, 1, 0, U, U, M, aux, U, dX + 2 * U * F32, N, 0, ctx.ptr(out.R) + 2 * U * F32, N);
      }
    }
    if (out.b !== undefined) {
      r.k.columnSums(M, N, dX, ctx.ptr(out.b));
      if (after) r.k.columnSums(M, N, dHR, ctx.ptr(out.b) + N * F32);
    }
  },
};

// ---- float64 references ----

export interface RecurrentRefOptions {
  h0?: Arr; c0?: Arr; p?: Arr; b?: Arr;
  activation?: RecurrentActivation; recurrentActivation?: RecurrentActivation;
  reverse?: boolean; goBackwards?: boolean; resetAfter?: boolean;
  /** [B, T]: 0 marks a padded step, which keeps the state (and outputs it again). */
  mask?: Arr;
  /** [B, U]: recurrent dropout multipliers of h_{t-1} in the recurrent products. */
  rm?: Arr;
}

function refAct(name: RecurrentActivation, x: number): number {
  switch (name) {
    case 'sigmoid': return 1 / (1 + Math.exp(-x));
    case 'tanh': return Math.tanh(x);
    case 'hardSigmoid': return Math.min(Math.max(0.2 * x + 0.5, 0), 1);
    case 'relu': return Math.max(x, 0);
    default: return x;
  }
}

/**
 * A recurrent layer over a sequence in float64, straight from the equations: x [B, T, F], W [F, G U], R [U, G U].
 * Returns the output sequence (positions as the op writes them), the last h and (LSTM) the last c.
 */
export function refRecurrent(cell: Cell, x: Arr, W: Arr, R: Arr, opts: RecurrentRefOptions = {}): { hseq: Arr; hT: Arr; cT?: Arr } {
  const [B, T, F] = x.shape, G = GATES[cell], U = R.shape[0], N = G * U;
  const act = (v: number): number => refAct(opts.activation ?? 'tanh', v);
  const ract = (v: number): number => refAct(opts.recurrentActivation ?? 'sigmoid', v);
  const order = steps({ reverse: opts.reverse, goBackwards: opts.goBackwards }, T);
  const hseq = arr([B, T, U]), hT = arr([B, U]), cT = arr([B, U]);
  const bias = (k: number): number => (opts.b ? opts.b.data[k] : 0);
  for (let bi = 0; bi < B; bi++) {
    let h = Array.from({ length: U }, (_, j) => (opts.h0 ? opts.h0.data[bi * U + j] : 0));
    let c = Array.from({ length: U }, (_, j) => (opts.c0 ? opts.c0.data[bi * U + j] : 0));
    for (let s = 0; s < T; s++) {
      const t = order.t(s);
      if (opts.mask && opts.mask.data[bi * T + t] === 0) {
        for (let j = 0; j < U; j++) hseq.data[(bi * T + order.pos(s)) * U + j] = h[j];
        continue;
      }
      // xw[k] = x_t W[:, k] + b[k]; hr[k] = (h m) R[:, k]
      const xw = new Float64Array(N), hr = new Float64Array(N);
      const hd = h.map((v, j) => (opts.rm ? v * opts.rm.data[bi * U + j] : v));
      for (let k = 0; k < N; k++) {
        let a = bias(k);
        for (let f = 0; f < F; f++) a += x.data[(bi * T + t) * F + f] * W.data[f * N + k];
        xw[k] = a;
        let q = 0;
        for (let j = 0; j < U; j++) q += hd[j] * R.data[j * N + k];
        hr[k] = q;
      }
      if (cell === 'simpleRnn') {
        h = h.map((_, j) => act(xw[j] + hr[j]));
      } else if (cell === 'lstm') {
        const p = (k: number): number => (opts.p ? opts.p.data[k] : 0);
        const next = c.map((cp, j) => {
          const i = ract(xw[j] + hr[j] + p(j) * cp), f = ract(xw[U + j] + hr[U + j] + p(U + j) * cp);
          return f * cp + i * act(xw[2 * U + j] + hr[2 * U + j]);
        });
        h = next.map((cv, j) => ract(xw[3 * U + j] + hr[3 * U + j] + p(2 * U + j) * cv) * act(cv));
        c = next;
      } else {
        const rb = (k: number): number => (opts.resetAfter ? bias(N + k) : 0);
        const z = h.map((_, j) => ract(xw[j] + hr[j] + rb(j)));
        const r = h.map((_, j) => ract(xw[U + j] + hr[U + j] + rb(U + j)));
        const hh = h.map((_, j) => {
          if (opts.resetAfter) return act(xw[2 * U + j] + r[j] * (hr[2 * U + j] + rb(2 * U + j)));
          let q = 0;
          for (let i = 0; i < U; i++) q += r[i] * hd[i] * R.data[i * N + 2 * U + j];
          return act(xw[2 * U + j] + q);
        });
        h = h.map((hp, j) => z[j] * hp + (1 - z[j]) * hh[j]);
      }
      const pos = order.pos(s);
      for (let j = 0; j < U; j++) hseq.data[(bi * T + pos) * U + j] = h[j];
    }
    for (let j = 0; j < U; j++) { hT.data[bi * U + j] = h[j]; cT.data[bi * U + j] = c[j]; }
  }
  return { hseq, hT, ...(cell === 'lstm' ? { cT } : {}) };
}
