// Recurrent ops (simple RNN, LSTM, GRU) on every backend build: the forward pass against a float64 reference
// written straight from the equations, and backpropagation through time against central finite differences
// of that reference, over every option (direction, initial states, peepholes, both GRU reset forms, gate
// activations) and unit counts that exercise the SIMD body and the scalar tail.
import { describe, expect, it } from 'vitest';
import { BACKENDS, randArr, t, useBuild, expectClose, numericGrad, expectGradClose, dot } from './helpers.js';
import { refRecurrent, GATES, type Cell, type RecurrentRefOptions } from '../src/ops/recurrent.js';
import { runEager } from '../src/graph/eager.js';
import type { Arr } from '../src/ops/util.js';

interface Case { cell: Cell; name: string; attrs: Record<string, unknown>; U: number }

const CASES: Case[] = [
  { cell: 'simpleRnn', name: 'tanh', attrs: {}, U: 6 },
  { cell: 'simpleRnn', name: 'relu, h0, reverse', attrs: { activation: 'relu', initialState: true, reverse: true }, U: 5 },
  { cell: 'lstm', name: 'default', attrs: {}, U: 8 },
  { cell: 'lstm', name: 'h0 c0, goBackwards, U 6', attrs: { initialState: true, goBackwards: true }, U: 6 },
  { cell: 'lstm', name: 'peepholes, hardSigmoid, reverse', attrs: { peepholes: true, recurrentActivation: 'hardSigmoid', reverse: true }, U: 5 },
  { cell: 'lstm', name: 'no bias, relu cell', attrs: { bias: false, activation: 'relu' }, U: 4 },
  { cell: 'gru', name: 'reset after', attrs: { resetAfter: true }, U: 6 },
  { cell: 'gru', name: 'reset before, h0, goBackwards', attrs: { resetAfter: false, initialState: true, goBackwards: true }, U: 5 },
  { cell: 'gru', name: 'reset after, h0, reverse', attrs: { resetAfter: true, initialState: true, reverse: true }, U: 8 },
  { cell: 'simpleRnn', name: 'masked, h0', attrs: { masked: true, initialState: true }, U: 6 },
  { cell: 'lstm', name: 'masked, h0 c0, goBackwards', attrs: { masked: true, initialState: true, goBackwards: true }, U: 8 },
  { cell: 'lstm', name: 'masked, peepholes, reverse', attrs: { masked: true, peepholes: true, reverse: true }, U: 5 },
  { cell: 'gru', name: 'masked, reset after, h0', attrs: { masked: true, resetAfter: true, initialState: true }, U: 6 },
  { cell: 'gru', name: 'masked, reset before', attrs: { masked: true, resetAfter: false }, U: 5 },
  { cell: 'simpleRnn', name: 'recurrent dropout, h0', attrs: { recurrentDropout: true, initialState: true }, U: 6 },
  { cell: 'lstm', name: 'recurrent dropout, h0 c0, peepholes', attrs: { recurrentDropout: true, initialState: true, peepholes: true }, U: 8 },
  { cell: 'gru', name: 'recurrent dropout, reset after, reverse', attrs: { recurrentDropout: true, resetAfter: true, reverse: true }, U: 5 },
  { cell: 'gru', name: 'recurrent dropout, reset before, h0, masked', attrs: { recurrentDropout: true, resetAfter: false, initialState: true, masked: true }, U: 8 },
];

const T = 5, F = 7;
// batches under 4 take the plain GEMM per step, larger ones the recurrent weight packed once per pass
const BATCHES = [3, 6];

function operands(c: Case, seed: number, B: number): { list: Arr[]; roles: string[]; opts: RecurrentRefOptions; x: Arr; W: Arr; R: Arr } {
  const G = GATES[c.cell], U = c.U, a = c.attrs;
  const x = randArr([B, T, F], seed), W = randArr([F, G * U], seed + 1, -0.5, 0.5), R = randArr([U, G * U], seed + 2, -0.5, 0.5);
  const list: Arr[] = [x, W, R], roles = ['x', 'W', 'R'];
  const opts: RecurrentRefOptions = { activation: a.activation as never, recurrentActivation: a.recurrentActivation as never,
    reverse: !!a.reverse, goBackwards: !!a.goBackwards, resetAfter: !!a.resetAfter };
  if (a.bias !== false) { opts.b = randArr([(c.cell === 'gru' && a.resetAfter ? 2 : 1) * G * U], seed + 3, -0.3, 0.3); list.push(opts.b); roles.push('b'); }
  if (a.initialState) {
    opts.h0 = randArr([B, U], seed + 4); list.push(opts.h0); roles.push('h0');
    if (c.cell === 'lstm') { opts.c0 = randArr([B, U], seed + 5); list.push(opts.c0); roles.push('c0'); }
  }
  if (a.peepholes) { opts.p = randArr([3 * U], seed + 6, -0.5, 0.5); list.push(opts.p); roles.push('p'); }
  // padding at the end (row 0), at the start (row 1), a gap (row 2); last in the list, not differentiated
  if (a.masked) {
    const rows = [[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 1, 1, 0]];
    opts.mask = { shape: [B, T], data: Float32Array.from({ length: B * T }, (_, i) => rows[Math.floor(i / T) % 3][i % T]) };
    list.push(opts.mask);
  }
  // recurrent dropout at rate 0.3: multipliers 0 or 1 / 0.7, one row per sequence (not differentiated either)
  if (a.recurrentDropout) {
    opts.rm = { shape: [B, c.U], data: Float32Array.from({ length: B * c.U }, (_, i) => ((i * 7 + 3) % 10 < 3 ? 0 : 1 / 0.7)) };
    list.push(opts.rm);
  }
  return { list, roles, opts, x, W, R };
}

describe.each(BACKENDS)('recurrent ops (%s)', (build) => {
  for (const [ci, c] of CASES.entries()) {
    const B = BATCHES[ci % 2];
    const attrs = { units: c.U, ...c.attrs };
    it(`${c.cell} ${c.name}: forward matches the float64 reference`, () => {
      useBuild(build);
      const { list, opts, x, W, R } = operands(c, 11, B);
      const outs = runEager(c.cell, list.map(t), attrs);
      const want = refRecurrent(c.cell, x, W, R, opts);
      expectClose(outs[0].dataSync(), want.hseq.data, 2e-5, 'hseq');
      expectClose(outs[1].dataSync(), want.hT.data, 2e-5, 'hT');
      if (c.cell === 'lstm') expectClose(outs[2].dataSync(), want.cT!.data, 2e-5, 'cT');
      for (const o of outs) o.dispose();
    });

    it(`${c.cell} ${c.name}: BPTT gradients match finite differences`, () => {
      useBuild(build);
      const { list, roles, opts } = operands(c, 23, B);
      const U = c.U;
      // loss = sum(gy * hseq) + sum(gh * hT) (+ sum(gc * cT)): every gradient path in
      const gy = randArr([B, T, U], 31), gh = randArr([B, U], 32), gc = randArr([B, U], 33);
      const loss = (vals: Arr[]): number => {
        const [x, W, R] = vals, o: RecurrentRefOptions = { ...opts };
        roles.forEach((r, i) => { if (i >= 3) (o as Record<string, Arr>)[r] = vals[i]; });
        if (opts.mask) o.mask = opts.mask;
        if (opts.rm) o.rm = opts.rm;
        const y = refRecurrent(c.cell, x, W, R, o);
        return dot(gy.data, y.hseq.data) + dot(gh.data, y.hT.data) + (y.cT ? dot(gc.data, y.cT.data) : 0);
      };
      const ins = list.map(t);
      const fwd = runEager(c.cell, ins, attrs);
      const saved = { simpleRnn: [0], lstm: [0, 3, 4], gru: [0, 2, 3] }[c.cell].map((k) => fwd[k]);
      const carried = c.cell === 'lstm' ? [gy, gh, gc] : [gy, gh];
      const need = roles;
      const grads = runEager(`${c.cell}Grad`, [...ins, ...saved, ...carried.map(t)], { ...attrs, nIn: ins.length, need, dOut: carried.map(() => true) });
      const scratch = { simpleRnn: 5, lstm: 6, gru: 7 }[c.cell];
      expect(grads.length).toBe(scratch + need.length);
      roles.forEach((role, i) => {
        const num = numericGrad((v) => loss(list.map((a, k) => (k === i ? { shape: a.shape, data: v } : a))), list[i].data, 1e-4, 40, i + 1);
        expectGradClose(grads[scratch + i].dataSync(), num, `${c.cell} ${c.name} d${role}`, 2e-3, 1e-3);
      });
      for (const o of [...ins, ...fwd, ...grads]) o.dispose();
    });
  }
});
