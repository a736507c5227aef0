// Pad (a constant, edge or reflect, on any axes but the batch's) and Resize on the height and width of a
// map (nearest, linear and cubic, with ONNX's coordinate rules; those TF shares run as its flags).
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext } from './context.js';
import '../../../ops/pad.js';

/**
 * Pad: zeros on the height and width of a map stay zeroPad2d (the layers' op, exported as it was); any other
 * value, edge or reflect, or other axes (not the batch's), are the pad op (ops/pad.ts) on the value as stored.
 */
function pad(cx: ImportContext, n: OnnxNode): void {
  const x = cx.graphVal(n, 0), rank = x.shape.length;
  const mode = cx.str(n, 'mode', 'constant');
  if (mode !== 'constant' && mode !== 'edge' && mode !== 'reflect') cx.unsupported(n, `mode '${mode}' (constant, edge and reflect)`);
  const value = n.input[2] ? cx.konst(n, 2)[0] ?? 0 : cx.float(n, 'value', 0);
  const given = n.input[1] ? Array.from(cx.konst(n, 1)) : cx.ints(n, 'pads', []);
  // opset 18's axes (input 3): the pads are for those axes only
  let axes = [...Array(rank).keys()];
  if (n.input[3]) axes = Array.from(cx.konst(n, 3), (a) => (a < 0 ? a + rank : a));
  if (given.length !== 2 * axes.length || axes.some((a) => !(a >= 0 && a < rank))) cx.unsupported(n, `pads ${JSON.stringify(given)} for axes ${JSON.stringify(axes)} of a rank-${rank} input`);
  const onnxPads: Array<[number, number]> = Array.from({ length: rank }, () => [0, 0]);
  axes.forEach((a, i) => { onnxPads[a] = [given[i], given[i + axes.length]]; });
  if (onnxPads.some(([b, e]) => b < 0 || e < 0)) cx.unsupported(n, `negative pads ${JSON.stringify(given)} (cropping)`);
  onnxPads.forEach(([b, e], a) => { if ((b || e) && x.shape[a] === -1) cx.unsupported(n, `pads ${JSON.stringify(given)} on axis ${a}, the batch dimension`); });
  if (mode === 'reflect') onnxPads.forEach(([b, e], a) => { if ((b || e) && Math.max(b, e) > x.shape[a] - 1) cx.unsupported(n, `reflect pads ${JSON.stringify(given)}: ${Math.max(b, e)} on axis ${a} of length ${x.shape[a]} (at most the length - 1)`); });
  const shape = x.shape.map((d, a) => (d === -1 ? -1 : d + onnxPads[a][0] + onnxPads[a][1]));
  const hwOnly = onnxPads.every(([b, e], a) => a >= 2 || (!b && !e));
  if (x.nhwc && mode === 'constant' && value === 0 && hwOnly) {
    const [id] = cx.g.node('zeroPad2d', [x.id!], { padding: [onnxPads[2], onnxPads[3]] }, n.name);
    return cx.set(n, { id, nhwc: true, shape });
  }
  // the pads of each stored axis (a map's NHWC axis k is ONNX axis [0, 2, 3, 1][k])
  const pads = x.nhwc ? [0, 2, 3, 1].map((a) => onnxPads[a]) : onnxPads;
  const [id] = cx.g.node('pad', [x.id!], { pads, mode, value }, n.name);
  cx.set(n, { ...x, id, shape, konst: undefined });
}

function resize(cx: ImportContext, n: OnnxNode): void {
  const x = cx.mapIn(n);
  const [, C, H, W] = x.shape;
  const mode = cx.str(n, 'mode', 'nearest'), ctm = cx.str(n, 'coordinate_transformation_mode', 'half_pixel'), nm = cx.str(n, 'nearest_mode', 'round_prefer_floor');
  // inputs: X, roi, scales, sizes (opset 11+; the sizes, when given, win)
  const sizes = n.input[3] ? cx.konst(n, 3) : undefined, scales = n.input[2] ? cx.konst(n, 2) : undefined;
  if ((sizes && sizes.length !== 4) || (!sizes && scales?.length !== 4)) cx.unsupported(n, 'needs 4 scales or 4 sizes');
  if (sizes ? sizes[1] !== C : scales![0] !== 1 || scales![1] !== 1) cx.unsupported(n, 'resizing the batch or channel dimension');
  const OH = sizes ? sizes[2] : Math.floor(H * scales![2]), OW = sizes ? sizes[3] : Math.floor(W * scales![3]);
  if (!(OH > 0 && OW > 0)) cx.unsupported(n, `an output size of ${OH}x${OW}`);
  if (mode !== 'linear' && mode !== 'nearest' && mode !== 'cubic') cx.unsupported(n, `mode '${mode}'`);
  if (!['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nn', 'tf_crop_and_resize'].includes(ctm)) cx.unsupported(n, `coordinate_transformation_mode '${ctm}'`);
  const crop = ctm === 'tf_crop_and_resize' ? cropBox(cx, n) : {};
  if (mode === 'nearest' && !['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'].includes(nm)) cx.unsupported(n, `nearest_mode '${nm}'`);
  // the TF.js rule where it is one (its flags, which the Keras layers and the exporter know), ONNX's otherwise
  const tf = mode === 'linear'
    ? ({ asymmetric: 'plain', align_corners: 'align', half_pixel: 'half', pytorch_half_pixel: OH > 1 && OW > 1 ? 'half' : undefined } as Record<string, string | undefined>)[ctm]
    : ({ asymmetric: nm === 'floor' ? 'plain' : undefined, align_corners: nm === 'round_prefer_ceil' ? 'align' : undefined, tf_half_pixel_for_nn: nm === 'floor' ? 'half' : undefined } as Record<string, string | undefined>)[ctm];
  const cubic = mode === 'cubic' ? { cubicCoeffA: cx.float(n, 'cubic_coeff_a', -0.75), excludeOutside: cx.int(n, 'exclude_outside', 0) === 1 } : {};
  const rule = tf && mode !== 'cubic' ? { alignCorners: tf === 'align', halfPixelCenters: tf === 'half' }
    : { alignCorners: false, halfPixelCenters: false, coordinate: ctm, ...(mode === 'nearest' ? { nearestMode: nm } : {}), ...cubic };
  // with scales (and no sizes), coordinates map by 1 / scale, not by the sizes' ratio (ONNX's rule)
  const factors = !sizes && (H * scales![2] !== OH || W * scales![3] !== OW) ? { scales: [scales![2], scales![3]] } : {};
  const method = mode === 'linear' ? 'bilinear' : mode === 'cubic' ? 'bicubic' : 'nearest';
  const [id] = cx.g.node('resize2d', [x.id!], { size: [OH, OW], method, ...rule, ...factors, ...crop }, n.name);
  cx.set(n, { id, nhwc: true, shape: cx.mapShape(id) });
}

/** tf_crop_and_resize's box on height and width (input 1, roi: [starts..., ends...]) and its fill value. */
function cropBox(cx: ImportContext, n: OnnxNode): { roi: [number, number, number, number]; extrapolation: number } {
  if (!n.input[1]) cx.unsupported(n, "coordinate_transformation_mode 'tf_crop_and_resize' without a roi (input 1)");
  const r = Array.from(cx.konst(n, 1));
  if (r.length !== 8 || r[0] !== 0 || r[1] !== 0 || r[4] !== 1 || r[5] !== 1) cx.unsupported(n, `roi ${JSON.stringify(r)} (a crop of height and width: [0, 0, top, left, 1, 1, bottom, right])`);
  return { roi: [r[2], r[3], r[6], r[7]], extrapolation: cx.float(n, 'extrapolation_value', 0) };
}

export const spatialFamily: Family = {
  Pad: { convert: pad },
  Resize: { convert: resize },
};
