// The export table: graph op -> exporter, gathered from the op families (a module each).
import type { Node } from '../../../graph/ir.js';
import { gatherFamilies } from '../families.js';
import { fail, type ExportContext, type ExportFamily, type Exporter } from './context.js';
import { activationFamily } from './activation.js';
import { castFamily } from './cast.js';
import { convFamily } from './conv.js';
import { denseFamily } from './dense.js';
import { halfFamily } from './half.js';
import { elementwiseFamily } from './elementwise.js';
import { normFamily } from './norm.js';
import { poolFamily } from './pool.js';
import { quantFamily } from './quant.js';
import { recurrentFamily } from './recurrent.js';
import { shapeFamily } from './shape.js';
import { spatialFamily } from './spatial.js';

export const EXPORT_FAMILIES: Readonly<Record<string, ExportFamily>> = {
  conv: convFamily, dense: denseFamily, activation: activationFamily, pool: poolFamily, norm: normFamily,
  elementwise: elementwiseFamily, shape: shapeFamily, spatial: spatialFamily, quant: quantFamily,
  recurrent: recurrentFamily, cast: castFamily, half: halfFamily,
};

/** graph op -> exporter (a Map: no op name finds an Object.prototype member) */
export const EXPORTERS: ReadonlyMap<string, Exporter> = gatherFamilies(EXPORT_FAMILIES, 'graph op');
/** the graph ops edgegrad exports, sorted */
export const EXPORTED_OPS: readonly string[] = [...EXPORTERS.keys()].sort();

/** Write one graph node with its op's exporter; out: 'output' when its value is the model's plain output. */
export function exportNode(cx: ExportContext, n: Node, out: string | undefined): void {
  const exporter = EXPORTERS.get(n.op);
  if (!exporter) fail(`graph op '${n.op}' (node '${n.name}') is not exported yet`);
  exporter(cx, n, out);
}
