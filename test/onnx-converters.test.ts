// The ONNX import converters and export writers one op family at a time, through their tables, on tiny
// hand-built nodes: the graph nodes and values a converter makes, the ONNX nodes an exporter writes. And the
// tables against what the importer claims: the README's op list, the error for an unknown op, the graph
// ops the exporter knows.
import { describe, expect, it, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useBuild } from './helpers.js';
import { Graph } from '../src/graph/ir.js';
import { registeredOps } from '../src/graph/registry.js';
import { Tensor } from '../src/tensor.js';
import '../src/ops/index.js';
import type { OnnxAttr, OnnxNode, OnnxTensor } from '../src/io/onnx/proto.js';
import { ImportContext } from '../src/io/onnx/import/context.js';
import { CONVERTERS, FAMILIES, READS_QUANTIZED, SUPPORTED_OPS, convertNode } from '../src/io/onnx/import/table.js';
import { ExportContext } from '../src/io/onnx/export/context.js';
import { EXPORTERS, EXPORT_FAMILIES, EXPORTED_OPS, exportNode } from '../src/io/onnx/export/table.js';
import '../src/ops/half.js'; // unpackHalf registers when float16 storage loads (loadModel's weights: 'float16')
import { gatherFamilies } from '../src/io/onnx/families.js';
import { FOLDABLE } from '../src/io/onnx/import/fold.js';

/** ops the constant folder evaluates that no converter handles (supported on constants only) */
const FOLD_ONLY = [...FOLDABLE].filter((o) => !CONVERTERS.has(o)).sort();

// ---- import: a context with named inputs, a node, and what it made

const ints = (name: string, v: number[]): OnnxAttr => ({ name, ints: v });
const int = (name: string, i: number): OnnxAttr => ({ name, i });
const float = (name: string, f: number): OnnxAttr => ({ name, f });
const str = (name: string, v: string): OnnxAttr => ({ name, s: new TextEncoder().encode(v) });

/** graph ops the import cases below produced: each must be one the exporter writes */
const produced = new Set<string>();

class Case {
  readonly cx = new ImportContext(new Graph(), 17, READS_QUANTIZED);
  /** a computed feature map, ONNX shape [N, C, H, W] (NHWC in the graph) */
  map(name: string, [C, H, W]: number[]): this {
    this.cx.vals.set(name, { id: this.cx.g.input(name, [-1, H, W, C]), nhwc: true, shape: [-1, C, H, W] });
    return this;
  }
  /** a computed plain value, batch first */
  plain(name: string, shape: number[]): this {
    this.cx.vals.set(name, { id: this.cx.g.input(name, [-1, ...shape]), shape: [-1, ...shape] });
    return this;
  }
  /** an initializer: float32 by default, int64 (7) or int8 (3) */
  init(name: string, dims: number[], data: number[], dataType = 1): this {
    const t: OnnxTensor = { name, dims, dataType };
    if (dataType === 1) t.floatData = data; else if (dataType === 7) t.int64Data = data; else t.int32Data = data;
    this.cx.initializer(t);
    return this;
  }
  /** convert one node (named 'n'), through the table */
  run(opType: string, input: string[], attribute: OnnxAttr[] = [], output = ['y']): this {
    const n: OnnxNode = { opType, name: 'n', input, output, attribute };
    convertNode(this.cx, n);
    for (const nd of this.cx.g.nodes) produced.add(nd.op);
    return this;
  }
  get nodes() { return this.cx.g.nodes.map((n) => n.op); }
  node(op: string) { return this.cx.g.nodes.find((n) => n.op === op)!; }
  val(name = 'y') { return this.cx.vals.get(name)!; }
  /** the data of the graph value (a weight) input k of the node with op */
  weight(op: string, k: number) { const v = this.cx.g.values[this.node(op).inputs[k]]; return { shape: v.shape, data: Array.from(v.tensor!.dataSync()) }; }
  /** the graph shape of an ONNX value */
  shape(name = 'y') { return this.cx.g.values[this.val(name).id!].shape; }
}
const seq = (n: number, scale = 1) => Array.from({ length: n }, (_, i) => i * scale);

describe('ONNX import converters, by family', () => {
  beforeAll(() => { useBuild('simd'); });

  it('conv: an OIHW filter becomes HWIO, pads and strides become conv2d attributes', () => {
    const c = new Case().map('x', [3, 5, 5]).init('w', [2, 3, 3, 3], seq(54)).init('b', [2], [0.5, -0.5])
      .run('Conv', ['x', 'w', 'b'], [ints('pads', [1, 1, 1, 1]), ints('strides', [2, 2])]);
    expect(c.nodes).toEqual(['conv2d']);
    expect(c.node('conv2d').attrs).toMatchObject({ strides: [2, 2], pad: [[1, 1], [1, 1]], dilations: [1, 1], activation: 'linear' });
    const w = c.weight('conv2d', 1);
    expect(w.shape).toEqual([3, 3, 3, 2]);
    // HWIO [y=1, x=2, i=1, o=1] is OIHW [o=1, i=1, y=1, x=2]
    expect(w.data[((1 * 3 + 2) * 3 + 1) * 2 + 1]).toBe(((1 * 3 + 1) * 3 + 1) * 3 + 2);
    expect(c.weight('conv2d', 2).data).toEqual([0.5, -0.5]);
    expect(c.val()).toMatchObject({ nhwc: true, shape: [-1, 2, 3, 3] });
    expect(() => new Case().map('x', [4, 5, 5]).init('w', [2, 3, 3, 3], seq(54)).run('Conv', ['x', 'w']))
      .toThrow("ONNX op 'Conv' (node 'n', opset 17): filter [2,3,3,3] with group 1 does not fit 4 input channels");
  });

  it('activation: one activation node, Clip by its bounds, HardSwish as scale, shift, relu6 and products, PRelu per channel', () => {
    expect(new Case().plain('x', [4]).run('LeakyRelu', ['x'], [float('alpha', 0.2)]).node('activation').attrs).toEqual({ activation: 'leakyRelu', alpha: 0.2 });
    expect(new Case().map('x', [2, 3, 3]).init('lo', [], [0]).init('hi', [], [6]).run('Clip', ['x', 'lo', 'hi']).node('activation').attrs.activation).toBe('relu6');
    // any other bounds: max then min with the bounds as constants
    expect(new Case().plain('x', [4]).init('lo', [], [0]).init('hi', [], [1]).run('Clip', ['x', 'lo', 'hi']).nodes).toEqual(['max', 'min']);
    const hs = new Case().map('x', [2, 3, 3]).run('HardSwish', ['x']);
    expect(hs.nodes).toEqual(['mul', 'add', 'activation', 'mul', 'mul']);
    expect(hs.val()).toMatchObject({ nhwc: true, shape: [-1, 2, 3, 3] });
    const pr = new Case().map('x', [3, 2, 2]).init('s', [1], [0.25]).run('PRelu', ['x', 's']);
    expect(pr.weight('prelu', 1)).toEqual({ shape: [3], data: [0.25, 0.25, 0.25] });
    // softmax over a map's channels is edgegrad's own; over its width it is taken on the last axis between two transposes
    expect(new Case().map('x', [2, 3, 3]).run('Softmax', ['x'], [int('axis', 3)]).nodes).toEqual(['nhwcToNchw', 'transpose', 'activation', 'transpose']);
    expect(() => new Case().map('x', [2, 3, 3]).run('Softmax', ['x'], [int('axis', 0)])).toThrow(/softmax over axis 0 of \[-1,2,3,3\], the batch dimension/);
  });

  it('pool: ceil_mode adds bottom / right padding; GlobalAveragePool gives ONNX\'s [N, C, 1, 1]', () => {
    const mp = new Case().map('x', [2, 5, 5]).run('MaxPool', ['x'], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2]), int('ceil_mode', 1)]);
    expect(mp.node('pool').attrs).toMatchObject({ kind: 'max', filterSize: [2, 2], pad: [[0, 1], [0, 1]] });
    expect(mp.val().shape).toEqual([-1, 2, 3, 3]);
    const gap = new Case().map('x', [4, 3, 3]).run('GlobalAveragePool', ['x']);
    expect(gap.nodes).toEqual(['globalAvgPool', 'reshape']);
    expect(gap.val()).toEqual({ id: gap.val().id, shape: [-1, 4, 1, 1] });
    // an average the same way (its divisor counts no padding); counting the padding in ceil mode, poolNd
    const ap = new Case().map('x', [2, 5, 5]).run('AveragePool', ['x'], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2]), int('ceil_mode', 1)]);
    expect(ap.node('pool').attrs).toMatchObject({ kind: 'avg', pad: [[0, 1], [0, 1]] });
    const cip = new Case().map('x', [2, 5, 5]).run('AveragePool', ['x'], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2]), int('ceil_mode', 1), int('count_include_pad', 1)]);
    expect(cip.node('poolNd').attrs).toMatchObject({ kind: 'avg', ceil: true, countIncludePad: true });
  });

  it('dense: Gemm folds transB, alpha and beta into the weights; MatMul takes B as it is', () => {
    const g = new Case().plain('x', [3]).init('B', [2, 3], seq(6)).init('C', [2], [1, 2])
      .run('Gemm', ['x', 'B', 'C'], [int('transB', 1), float('alpha', 2), float('beta', 3)]);
    expect(g.nodes).toEqual(['dense']);
    expect(g.weight('dense', 1)).toEqual({ shape: [3, 2], data: [0, 6, 2, 8, 4, 10] });
    expect(g.weight('dense', 2).data).toEqual([3, 6]);
    expect(g.val().shape).toEqual([-1, 2]);
    expect(new Case().plain('x', [2]).init('B', [2, 3], seq(6)).run('MatMul', ['x', 'B']).weight('dense', 1)).toEqual({ shape: [2, 3], data: seq(6) });
    expect(() => new Case().plain('x', [4]).init('B', [5, 3], seq(15)).run('Gemm', ['x', 'B'])).toThrow("ONNX op 'Gemm' (node 'n', opset 17): A [-1,4] does not match B [5,3]");
  });

  it('elementwise: a [1, C, 1, 1] constant against a map is stored NHWC [1, 1, 1, C]; two maps in different layouts meet as maps', () => {
    const a = new Case().map('x', [3, 2, 2]).init('c', [1, 3, 1, 1], [1, 2, 3]).run('Sub', ['x', 'c']);
    expect(a.nodes).toEqual(['sub']);
    expect(a.weight('sub', 1)).toEqual({ shape: [1, 1, 1, 3], data: [1, 2, 3] });
    expect(a.val()).toMatchObject({ nhwc: true, shape: [-1, 3, 2, 2] });
    const b = new Case().map('x', [3, 2, 2]).plain('p', [3, 2, 2]).run('Add', ['x', 'p']);
    expect(b.nodes).toEqual(['nchwToNhwc', 'add']);
    // two constant operands: evaluated at import (constant folding), no graph node
    const k = new Case().init('a', [1], [3]).init('b', [2], [2, 4]).run('Mul', ['a', 'b']);
    expect(k.nodes).toEqual([]);
    expect(Array.from(k.val().konst!.data)).toEqual([6, 12]);
  });

  it('norm: BatchNormalization keeps ONNX\'s momentum, running statistics as state', () => {
    const c = new Case().map('x', [2, 3, 3]);
    for (const k of ['s', 'b', 'm', 'v']) c.init(k, [2], [1, 2]);
    c.run('BatchNormalization', ['x', 's', 'b', 'm', 'v'], [float('momentum', 0.8)]);
    expect(c.node('batchNorm').attrs).toEqual({ epsilon: 1e-5, momentum: expect.closeTo(0.8, 6) });
    expect(c.node('batchNorm').inputs.slice(1).map((i) => c.cx.g.values[i].kind)).toEqual(['param', 'param', 'state', 'state']);
  });

  it('shape: Flatten of a map goes through NCHW; Transpose between layouts is free; Split slices the channels; constants fold', () => {
    const f = new Case().map('x', [2, 3, 3]).run('Flatten', ['x']);
    expect(f.nodes).toEqual(['nhwcToNchw', 'reshape']);
    expect(f.val().shape).toEqual([-1, 18]);
    const t = new Case().map('x', [2, 3, 4]).run('Transpose', ['x'], [ints('perm', [0, 2, 3, 1])]);
    expect(t.nodes).toEqual([]);
    expect(t.val()).toEqual({ id: t.cx.vals.get('x')!.id, shape: [-1, 3, 4, 2] });
    const s = new Case().map('x', [4, 2, 2]).run('Split', ['x'], [int('axis', 1)], ['a', 'b']);
    expect(s.cx.g.nodes.map((n) => [n.op, n.attrs])).toEqual([['slice', { axis: 3, start: 0, end: 2 }], ['slice', { axis: 3, start: 2, end: 4 }]]);
    expect(s.val('b')).toMatchObject({ nhwc: true, shape: [-1, 2, 2, 2] });
    const cat = new Case().init('a', [2], [1, 2], 7).init('b', [1], [3], 7).run('Concat', ['a', 'b'], [int('axis', 0)]);
    expect(cat.nodes).toEqual([]);
    expect(Array.from(cat.val().konst!.data)).toEqual([1, 2, 3]);
    const id = new Case().plain('x', [4]).run('Identity', ['x']);
    expect(id.val()).toBe(id.cx.vals.get('x'));
    // the batch may move (a time-major RNN's [T, batch, F]); it may not be squeezed, sliced or joined along
    expect(new Case().plain('x', [4, 2]).run('Transpose', ['x'], [ints('perm', [1, 0, 2])]).shape()).toEqual([4, -1, 2]);
    expect(() => new Case().plain('x', [4, 2]).run('Transpose', ['x'], [ints('perm', [1, 0, 2])], ['t']).run('Squeeze', ['t'], [ints('axes', [1])])).toThrow(/squeeze of the batch dimension/);
  });

  it('spatial: Pad becomes zeroPad2d; Resize by scales becomes resize2d with TF\'s coordinate rule', () => {
    const p = new Case().map('x', [2, 3, 3]).init('pads', [8], [0, 0, 1, 2, 0, 0, 3, 4], 7).run('Pad', ['x', 'pads']);
    expect(p.node('zeroPad2d').attrs).toEqual({ padding: [[1, 3], [2, 4]] });
    expect(p.val().shape).toEqual([-1, 2, 7, 9]);
    const r = new Case().map('x', [2, 3, 3]).init('sc', [4], [1, 1, 2, 2])
      .run('Resize', ['x', '', 'sc'], [str('mode', 'nearest'), str('coordinate_transformation_mode', 'asymmetric'), str('nearest_mode', 'floor')]);
    expect(r.node('resize2d').attrs).toEqual({ size: [6, 6], method: 'nearest', alignCorners: false, halfPixelCenters: false });
    // cubic runs ONNX's rule itself (half_pixel by default, a = -0.75); an unknown mode is named
    expect(new Case().map('x', [2, 3, 3]).init('sc', [4], [1, 1, 2, 2]).run('Resize', ['x', '', 'sc'], [str('mode', 'cubic')]).node('resize2d').attrs)
      .toEqual({ size: [6, 6], method: 'bicubic', alignCorners: false, halfPixelCenters: false, coordinate: 'half_pixel', cubicCoeffA: -0.75, excludeOutside: false });
    expect(() => new Case().map('x', [2, 3, 3]).init('sc', [4], [1, 1, 2, 2]).run('Resize', ['x', '', 'sc'], [str('mode', 'lanczos')])).toThrow(/mode 'lanczos'/);
  });

  it('constant: Shape, Gather and Cast on static shapes fold to constants; a Constant node is one', () => {
    const c = new Case().map('x', [3, 4, 5]).init('i', [1], [1], 7);
    c.run('Shape', ['x'], [], ['s']).run('Gather', ['s', 'i'], [], ['g']).run('Cast', ['g'], [int('to', 1)]);
    expect(c.nodes).toEqual([]);
    expect(Array.from(c.val('s').konst!.data)).toEqual([-1, 3, 4, 5]);
    expect(c.val()).toMatchObject({ shape: [1], konst: { int: false } });
    expect(Array.from(c.val().konst!.data)).toEqual([3]);
    const k = new Case().run('Constant', [], [{ name: 'value', t: { dims: [2], dataType: 1, floatData: [1.5, 2.5] } }]);
    expect(Array.from(k.val().konst!.data)).toEqual([1.5, 2.5]);
    expect(() => new Case().init('v', [4], [1, 2, 3, 4], 7).init('i', [1], [7], 7).run('Gather', ['v', 'i'])).toThrow("node 'n' (Gather): index 7 is outside [-4, 4)");
  });

  it('quant: Q -> DQ on a computed value is one fakeQuant; DQ of int8 weights folds and remembers them; only the readers read quantized tensors', () => {
    const q = new Case().map('x', [2, 3, 3]).init('s', [], [0.1]).init('z', [], [128], 2);
    q.run('QuantizeLinear', ['x', 's', 'z'], [], ['q']);
    expect(q.nodes).toEqual([]);
    q.run('MaxPool', ['q'], [ints('kernel_shape', [2, 2])], ['p']); // moves values: still quantized
    expect(q.val('p').quant).toEqual({ scale: expect.closeTo(0.1, 7), zeroPoint: 128, qmin: 0, qmax: 255 });
    expect(() => q.run('Relu', ['p'], [], ['r'])).toThrow(`node 'n' (Relu) reads the quantized 'p': edgegrad reads quantized tensors in ${[...READS_QUANTIZED].join(', ')}`);
    q.run('DequantizeLinear', ['p', 's', 'z']);
    expect(q.nodes).toEqual(['pool', 'fakeQuant']);
    expect(q.node('fakeQuant').attrs).toMatchObject({ zeroPoint: 128, qmin: 0, qmax: 255 });

    const w = new Case().init('wq', [2, 2], [1, -2, 3, -4], 3).init('ws', [2], [0.5, 0.25]).init('wz', [2], [0, 0], 3);
    w.run('DequantizeLinear', ['wq', 'ws', 'wz'], [int('axis', 1)]);
    expect(Array.from(w.val().konst!.data)).toEqual([0.5, -0.5, 1.5, -1]);
    expect(w.val().konst!.int8).toMatchObject({ axis: 1 });
    expect(Array.from(w.val().konst!.int8!.q)).toEqual([1, -2, 3, -4]);
  });

  it('quant: a zero point from a Constant node keeps its type (int8: the signed range; it was read as uint8)', () => {
    const c = new Case().map('x', [3, 2, 2]).init('s', [], [0.01]);
    c.run('Constant', [], [{ name: 'value', t: { dims: [], dataType: 3, int32Data: [0] } }], ['z']);
    c.run('QuantizeLinear', ['x', 's', 'z'], [], ['q']);
    expect(c.val('q').quant).toMatchObject({ zeroPoint: 0, qmin: -128, qmax: 127 });
    const u = new Case().map('x', [3, 2, 2]).init('s', [], [0.01]);
    u.run('Constant', [], [{ name: 'value', t: { dims: [], dataType: 2, int32Data: [0] } }], ['z']);
    u.run('QuantizeLinear', ['x', 's', 'z'], [], ['q']);
    expect(u.val('q').quant).toMatchObject({ qmin: 0, qmax: 255 });
  });

  it('quant: QLinearMatMul runs qdense on the u8 input, its output a fakeQuant held dequantized', () => {
    const c = new Case().plain('x', [2]).init('s', [], [0.5]).init('z', [], [10], 2).run('QuantizeLinear', ['x', 's', 'z'], [], ['q']);
    c.init('w', [2, 3], [1, 2, 3, 4, 5, 6], 3).init('wsc', [], [0.1]).init('wz', [], [0], 3).init('ys', [], [0.2]).init('yz', [], [0], 2);
    c.run('QLinearMatMul', ['q', 's', 'z', 'w', 'wsc', 'wz', 'ys', 'yz']);
    expect(c.nodes).toEqual(['qdense', 'fakeQuant']);
    expect(c.node('qdense').attrs.q).toMatchObject({ K: 2, N: 3, input: { scale: 0.5, zeroPoint: 10 }, raw: false });
    expect(c.val()).toMatchObject({ shape: [-1, 3], quant: { zeroPoint: 0, exact: true } });
  });
});

describe('ONNX converter tables', () => {
  beforeAll(() => { useBuild('simd'); });

  it('recurrent: a layout-0 LSTM is a transpose to batch-major, one lstm per direction with i, f, c, o columns, and Y / Y_h assembled', () => {
    const H = 2, F = 3;
    // ONNX W rows: gate blocks i, o, f, c of H rows each; row r, column f holds 10 r + f
    const c = new Case().init('W', [1, 4 * H, F], seq(4 * H * F).map((i) => 10 * Math.floor(i / F) + (i % F))).init('R', [1, 4 * H, H], seq(4 * H * H))
      .init('B', [1, 8 * H], seq(8 * H));
    c.cx.vals.set('X', { id: c.cx.g.input('X', [5, -1, F]), shape: [5, -1, F] });
    c.run('LSTM', ['X', 'W', 'R', 'B'], [int('hidden_size', H)], ['Y', 'Y_h']);
    expect(c.nodes).toEqual(['transpose', 'lstm', 'reshape', 'transpose', 'reshape', 'transpose']);
    expect(c.node('lstm').attrs).toMatchObject({ units: H, reverse: false, initialState: false, peepholes: false, activation: 'tanh', recurrentActivation: 'sigmoid' });
    const w = c.weight('lstm', 1);
    expect(w.shape).toEqual([F, 4 * H]);
    // column j of gate g (i, f, c, o) at feature f is ONNX row block(g) * H + j: i 0, f 2, c 3, o 1
    expect([0, 1, 2, 3].map((g) => w.data[1 * 4 * H + g * H + 1])).toEqual([0, 2, 3, 1].map((b) => 10 * (b * H + 1) + 1));
    // the bias is Wb + Rb, in the same order
    expect(c.weight('lstm', 3).data.slice(0, 2 * H)).toEqual([0, 1, 4, 5].map((k) => k + k + 4 * H));
    expect(c.shape('Y')).toEqual([5, 1, -1, H]);
    expect(c.shape('Y_h')).toEqual([1, -1, H]);
    const bi = new Case().init('W', [2, 3 * H, F], seq(6 * H * F)).init('R', [2, 3 * H, H], seq(6 * H * H)).init('B', [2, 6 * H], seq(12 * H)).plain('X', [5, F])
      .run('GRU', ['X', 'W', 'R', 'B'], [int('hidden_size', H), int('layout', 1), int('linear_before_reset', 1), str('direction', 'bidirectional')], ['Y']);
    expect(bi.nodes).toEqual(['gru', 'gru', 'concat', 'reshape']);
    expect(bi.cx.g.nodes.slice(0, 2).map((n) => [n.attrs.reverse, n.attrs.resetAfter, bi.cx.g.values[n.inputs[3]].shape])).toEqual([[false, true, [6 * H]], [true, true, [6 * H]]]);
    expect(bi.shape('Y')).toEqual([-1, 5, 2, H]);
  });

  it('the supported ops are the table\'s, each in one family; an unknown op\'s error lists them', () => {
    const fromFamilies = Object.values(FAMILIES).flatMap((f) => Object.keys(f));
    expect(new Set(fromFamilies).size).toBe(fromFamilies.length);
    expect([...fromFamilies].sort()).toEqual(SUPPORTED_OPS);
    expect([...CONVERTERS.keys()].sort()).toEqual(SUPPORTED_OPS);
    for (const op of ['Hardmax', 'constructor', 'toString', '__proto__', '']) {
      expect(() => new Case().plain('x', [4]).run(op, ['x']), op).toThrow(`ONNX op '${op}' (node 'n', opset 17): not supported (edgegrad reads ${SUPPORTED_OPS.join(', ')}; on constants also ${FOLD_ONLY.join(', ')})`);
    }
    expect(() => gatherFamilies({ a: { Relu: 1 }, b: { Relu: 2 } }, 'ONNX op')).toThrow("edgegrad: ONNX op 'Relu' is in both the a and b families");
  });

  it('every converter is tried: none of them is missing, and each fails with an edgegrad error naming the node on a bare node', () => {
    for (const op of SUPPORTED_OPS) {
      let msg = '';
      try { new Case().run(op, ['nothing']); } catch (e) { msg = (e as Error).message; }
      // either it reads its input (and finds nothing) or it needs an attribute (Constant)
      expect(msg, op).toMatch(/^edgegrad\.loadModel: .*'n'/);
      expect(msg, op).not.toMatch(/not supported \(/);
    }
  });

  it('the README\'s ONNX import list names exactly the ops of the table', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const start = readme.indexOf('- **ONNX import**');
    const para = readme.slice(start, readme.indexOf('\n- **', start + 1));
    // capitalized words of the paragraph, less its prose (and ReLU6, the name of Clip's case)
    const prose = new Set(['ONNX', 'TF', 'NHWC', 'ReLU6', 'Feature', 'Inference', 'Quantization']);
    const named = new Set([...para.matchAll(/\b[A-Z][A-Za-z0-9]*\b(?!')/g)].map((m) => m[0]).filter((w) => !prose.has(w)));
    expect([...named].sort()).toEqual(SUPPORTED_OPS);
    // and the constant folder's list, the ops it evaluates that have no converter
    const fstart = readme.indexOf('- **Constant folding**');
    const fpara = readme.slice(fstart, readme.indexOf('\n- **', fstart + 1));
    const folded = new Set([...fpara.matchAll(/\b[A-Z][A-Za-z0-9]*\b(?!')/g)].map((m) => m[0]).filter((w) => !prose.has(w) && w !== 'Constant' && w !== 'Shape'));
    expect([...folded].sort()).toEqual(FOLD_ONLY);
  });

  it('the exporter writes exactly registered graph ops, one family each, and every op the import converters made', () => {
    const fromFamilies = Object.values(EXPORT_FAMILIES).flatMap((f) => Object.keys(f));
    expect(new Set(fromFamilies).size).toBe(fromFamilies.length);
    expect([...EXPORTERS.keys()].sort()).toEqual(EXPORTED_OPS);
    const ops = new Set(registeredOps());
    expect(EXPORTED_OPS.filter((op) => !ops.has(op))).toEqual([]);
    expect(produced.size).toBeGreaterThan(10);
    expect([...produced].filter((op) => !EXPORTERS.has(op))).toEqual([]);
  });
});

// ---- export: a graph with a map input, one node, and the ONNX nodes written

/** an export context over g with input x written as an NCHW map (or a plain value) named 'x' */
function exportCase(g: Graph, x: number, map = g.values[x].shape.length === 4): ExportContext {
  const cx = new ExportContext(g);
  cx.onnxName.set(x, 'x');
  if (map) cx.isMap.add(x);
  return cx;
}
const write = (cx: ExportContext, out?: string) => { for (const n of cx.g.nodes) exportNode(cx, n, out); return cx.nodes as Array<{ opType: string; input: string[]; output: string[]; attribute: Array<{ name: string; ints?: number[]; i?: number; f?: number }> }>; };
const weight = (shape: number[]) => { const t = Tensor.empty(shape); t.view().set(seq(t.size)); return t; };

describe('ONNX export writers, by family', () => {
  beforeAll(() => { useBuild('simd'); });

  it('conv: conv2d is a Conv with an OIHW filter and explicit pads, its fused activation a node after it', () => {
    const g = new Graph();
    const x = g.input('x', [-1, 5, 5, 3]);
    const w = g.param('k', weight([3, 3, 3, 2]), true);
    g.node('conv2d', [x, w], { strides: [1, 1], pad: 'same', dilations: [1, 1], activation: 'relu', alpha: 0 }, 'c');
    const cx = exportCase(g, x);
    const nodes = write(cx);
    expect(nodes.map((n) => n.opType)).toEqual(['Conv', 'Relu']);
    expect(nodes[0].input).toEqual(['x', 'k']);
    expect(Object.fromEntries(nodes[0].attribute.map((a) => [a.name, a.ints ?? a.i]))).toEqual({ kernel_shape: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1], group: 1 });
    expect((cx.inits[0] as { dims: number[] }).dims).toEqual([2, 3, 3, 3]);
    expect(cx.isMap.has(g.nodes[0].outputs[0])).toBe(true);
  });

  it('dense and activation: Gemm then the activation, the last one named output; softmax of a map over its channels', () => {
    const g = new Graph();
    const x = g.input('x', [-1, 4]);
    g.node('dense', [x, g.param('w', weight([4, 2]), true)], { activation: 'softmax', alpha: 0 }, 'd');
    const nodes = write(exportCase(g, x), 'output');
    expect(nodes.map((n) => [n.opType, n.output[0]])).toEqual([['Gemm', 'd_out'], ['Softmax', 'output']]);
    expect(nodes[1].attribute).toEqual([{ name: 'axis', type: 2, i: -1 }]);
    const gm = new Graph();
    const xm = gm.input('x', [-1, 2, 2, 3]);
    gm.node('activation', [xm], { activation: 'softmax', alpha: 1 }, 'a');
    expect(write(exportCase(gm, xm))[0].attribute).toEqual([{ name: 'axis', type: 2, i: 1 }]);
  });

  it('shape: Unsqueeze / Squeeze of a constant keep its numbers under the new shape (a bias [C] -> [C, 1, 1] adds to a map)', () => {
    const c = new Case().map('x', [3, 2, 2]).init('b', [3], [1, 2, 3]).init('ax', [2], [1, 2], 7);
    c.run('Unsqueeze', ['b', 'ax'], [], ['b3']);
    expect(c.val('b3').shape).toEqual([3, 1, 1]);
    expect(Array.from(c.val('b3').konst!.data)).toEqual([1, 2, 3]);
    c.run('Add', ['x', 'b3']);
    expect(c.nodes).toEqual(['add']);
    const neg = new Case().init('b', [3], [1, 2, 3]).run('Unsqueeze', ['b'], [ints('axes', [-1, -3])], ['u']);
    expect(neg.val('u').shape).toEqual([1, 3, 1]);
    const sq = new Case().init('b', [1, 3, 1], [1, 2, 3]).run('Squeeze', ['b'], [ints('axes', [0])], ['s']);
    expect(sq.val('s').shape).toEqual([3, 1]);
  });

  it('shape: a map\'s reshape goes through a Transpose to NHWC order; slice axes of a map are NCHW', () => {
    const g = new Graph();
    const x = g.input('x', [-1, 2, 2, 3]);
    g.node('reshape', [x], { shape: [-1, 12] }, 'r');
    g.node('slice', [x], { axis: 3, start: 0, end: 2 }, 's');
    const cx = exportCase(g, x);
    const nodes = write(cx);
    expect(nodes.map((n) => n.opType)).toEqual(['Transpose', 'Reshape', 'Slice']);
    expect(nodes[0].attribute[0].ints).toEqual([0, 2, 3, 1]);
    const axes = cx.inits.find((t) => (t as { name: string }).name === 's/axes') as { rawData: Uint8Array };
    expect(Number(new BigInt64Array(axes.rawData.buffer)[0])).toBe(1);
  });

  it('recurrent: lstm is an ONNX LSTM of layout 0 between Transposes, gates back in ONNX order, goBackwards a reversing Slice', () => {
    const g = new Graph();
    const x = g.input('x', [-1, 4, 3]);
    const U = 2;
    g.node('lstm', [x, g.param('k', weight([3, 4 * U]), true), g.param('r', weight([U, 4 * U]), true), g.param('b', weight([4 * U]), true)], { units: U, goBackwards: true }, 'l');
    const cx = exportCase(g, x);
    const nodes = write(cx, 'output');
    expect(nodes.map((n) => n.opType)).toEqual(['Transpose', 'LSTM', 'Slice', 'Squeeze', 'Transpose', 'Squeeze', 'Squeeze']);
    expect(nodes[4].output[0]).toBe('output');
    const lstm = nodes[1] as unknown as { attribute: Array<{ name: string; s?: Uint8Array; strings?: Uint8Array[] }> };
    expect(new TextDecoder().decode(lstm.attribute.find((a) => a.name === 'direction')!.s)).toBe('reverse');
    const init = (nm: string) => { const t = cx.inits.find((i) => (i as { name: string }).name === nm) as { dims: number[]; rawData: Uint8Array }; return { dims: t.dims, data: Array.from(new Float32Array(t.rawData.slice().buffer)) }; };
    const W = init('l/W');
    expect(W.dims).toEqual([1, 4 * U, 3]);
    // ONNX row block o (1) holds edgegrad's gate o (columns 3U..4U): row U, feature 0 is k[0, 3U]
    expect(W.data[U * 3]).toBe(3 * U);
    const B = init('l/B');
    expect(B.data.slice(0, 4 * U)).toEqual([0, 1, 6, 7, 2, 3, 4, 5]);
    expect(B.data.slice(4 * U).every((v) => v === 0)).toBe(true);
  });

  it('an op without an exporter says so, naming the node', () => {
    const g = new Graph();
    const x = g.input('x', [-1, 4]);
    g.nodes.push({ id: 0, op: 'maxout', name: 'm', inputs: [x], outputs: [x], attrs: {} });
    expect(() => write(exportCase(g, x))).toThrow("edgegrad.toOnnx: graph op 'maxout' (node 'm') is not exported yet");
  });
});
