// The import converter table: ONNX op type -> converter, gathered from the op families (a module each).
// What the importer supports is what this table holds: the error for any other op lists it.
import type { OnnxNode } from '../proto.js';
import type { ConverterEntry, Family, ImportContext } from './context.js';
import { gatherFamilies } from '../families.js';
import { fail } from './errors.js';
import { FOLDABLE, foldConstants } from './fold.js';
import { upgradeNode } from './upgrade.js';
import { activationFamily } from './activation.js';
import { constantFamily } from './constant.js';
import { convFamily } from './conv.js';
import { denseFamily } from './dense.js';
import { elementwiseFamily } from './elementwise.js';
import { logicFamily } from './logic.js';
import { normFamily } from './norm.js';
import { poolFamily } from './pool.js';
import { quantFamily } from './quant.js';
import { recurrentFamily } from './recurrent.js';
import { reduceFamily } from './reduce.js';
import { shapeFamily } from './shape.js';
import { spatialFamily } from './spatial.js';

/** the op families, by name (in this order, the ops that read quantized tensors are listed in messages) */
export const FAMILIES: Readonly<Record<string, Family>> = {
  quant: quantFamily, pool: poolFamily, shape: shapeFamily, conv: convFamily, dense: denseFamily, activation: activationFamily,
  elementwise: elementwiseFamily, norm: normFamily, spatial: spatialFamily, constant: constantFamily, reduce: reduceFamily,
  recurrent: recurrentFamily, logic: logicFamily,
};

/** ONNX op type -> converter (a Map: an op type named 'constructor' finds nothing) */
export const CONVERTERS: ReadonlyMap<string, ConverterEntry> = gatherFamilies(FAMILIES, 'ONNX op');
/** the ONNX ops edgegrad imports, sorted */
export const SUPPORTED_OPS: readonly string[] = [...CONVERTERS.keys()].sort();
/** the ops that may read a quantized tensor */
export const READS_QUANTIZED: ReadonlySet<string> = new Set([...CONVERTERS].filter(([, e]) => e.quantized).map(([op]) => op));
const MOVES_VALUES = new Set([...CONVERTERS].filter(([, e]) => e.quantized === 'moves').map(([op]) => op));

/**
 * Convert one node with its op type's converter. The node gets a name if it has none (messages use it); an
 * error that is not edgegrad's own (a malformed field the checks missed) still says where it was.
 */
export function convertNode(cx: ImportContext, n: OnnxNode): void {
  const op = n.opType;
  const nodeName = n.name || `${op}_${n.output[0]}`;
  n.name = nodeName;
  try {
    // a file of an opset before 11: the node in its current form first
    upgradeNode(cx, n);
    // any node whose inputs are all constants is evaluated here, once (shape arithmetic above all)
    if (foldConstants(cx, n)) return;
    const entry = CONVERTERS.get(n.opType);
    if (!entry && FOLDABLE.has(op)) cx.unsupported(n, 'supported only on constants (shape arithmetic), and an input here is computed by the graph');
    if (!entry) cx.unsupported(n, `not supported (edgegrad reads ${SUPPORTED_OPS.join(', ')}; on constants also ${[...FOLDABLE].filter((o) => !CONVERTERS.has(o)).sort().join(', ')})`);
    entry!.convert(cx, n);
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    // a graph op's own error (a shape that does not fit): said with the ONNX node it came from
    if (/^edgegrad\.\w+: /.test(msg) && !/ONNX op '/.test(msg) && !/^edgegrad\.loadModel/.test(msg)) {
      const batch = /\[-1[,\]]/.test(msg) ? "; edgegrad reads each input's first dimension as the batch (-1 here), whatever the file declares" : '';
      fail(`ONNX op '${op}' (node '${nodeName}', opset ${cx.opset}): ${msg.replace(/^edgegrad\.\w+: /, '')}${batch}`);
    }
    if (/^edgegrad/.test(msg)) throw e;
    fail(`node '${nodeName}' (${op}): malformed (${(e as Error).name}: ${msg})`);
  }
  // a quantized tensor stays quantized through ops that only move its values (max pooling included)
  const q0 = n.input[0] ? cx.vals.get(n.input[0])?.quant : undefined;
  if (q0 && MOVES_VALUES.has(op)) { const o = cx.vals.get(n.output[0]); if (o && o.id !== undefined) o.quant = q0; }
  // integers (Val.itype) stay integers of their type through ops that move or select them
  const it = n.input[0] ? cx.vals.get(n.input[0])?.itype : undefined;
  if (it !== undefined && KEEPS_INTEGERS.has(op)) {
    for (const nm of n.output) { const o = cx.vals.get(nm); if (o && o.id !== undefined && !o.dtype && !o.mask && o.itype === undefined) o.itype = it; }
  }
}

/** Ops whose result holds input 0's integers (moved, selected, negated): of its integer type still. */
const KEEPS_INTEGERS = new Set(['Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Slice', 'Concat', 'Split', 'Gather', 'Expand', 'Tile', 'Pad',
  'MaxPool', 'GlobalMaxPool', 'Neg', 'Abs', 'Relu', 'Clip', 'Max', 'Min', 'ReduceMax', 'ReduceMin', 'DepthToSpace', 'SpaceToDepth']);
