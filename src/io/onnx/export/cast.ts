// The cast graph op (a value rounded to float16, bfloat16, an integer or bool, still float32) as ONNX writes
// it: a Cast to that type and a Cast back to float, so the file keeps float32 values between its nodes as
// edgegrad does, and ONNX Runtime rounds the same way.
import type { CastTarget } from '../../../ops/cast.js';
import { BFLOAT16, FLOAT, FLOAT16, INT32 } from '../proto.js';
import { attrInt, type ExportFamily } from './context.js';

const ONNX_TYPE: Record<CastTarget, number> = { float16: FLOAT16, bfloat16: BFLOAT16, integer: INT32, bool: 9 };

export const castFamily: ExportFamily = {
  cast: (cx, n, out) => {
    const x = n.inputs[0], to = n.attrs.to as CastTarget;
    const low = cx.emit('Cast', [cx.valueName(x)], [attrInt('to', ONNX_TYPE[to])], `${n.name}/to_${to}`);
    cx.setOut(n, cx.emit('Cast', [low], [attrInt('to', FLOAT)], n.name, out), cx.isMap.has(x));
  },
};
