// Ops on the height and width of a map: Pad (constant zeros) and Resize (nearest, linear and cubic, with
// ONNX's coordinate rules; those TF shares run as its flags).
import type { OnnxNode } from '../proto.js';
import type { Family, ImportContext } from './context.js';

function pad(cx: ImportContext, n: OnnxNode): void {
  const x = cx.mapIn(n);
  if (cx.str(n, 'mode', 'constant') !== 'constant') cx.unsupported(n, `mode '${cx.str(n, 'mode', 'constant')}' (constant only)`);
  if (n.input[2] && cx.konst(n, 2)[0] !== 0) cx.unsupported(n, 'a non-zero pad value');
  const pads = n.input[1] ? Array.from(cx.konst(n, 1)) : cx.ints(n, 'pads', []);
  if (pads.length !== 8 || pads[0] || pads[1] || pads[4] || pads[5] || pads.some((p) => p < 0)) cx.unsupported(n, `pads ${JSON.stringify(pads)} (height and width only, non-negative)`);
  const [id] = cx.g.node('zeroPad2d', [x.id!], { padding: [[pads[2], pads[6]], [pads[3], pads[7]]] }, n.name);
  cx.set(n, { id, nhwc: true, shape: cx.mapShape(id) });
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
  if (!['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nn'].includes(ctm)) cx.unsupported(n, `coordinate_transformation_mode '${ctm}'`);
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
  const [id] = cx.g.node('resize2d', [x.id!], { size: [OH, OW], method, ...rule, ...factors }, n.name);
  cx.set(n, { id, nhwc: true, shape: cx.mapShape(id) });
}

export const spatialFamily: Family = {
  Pad: { convert: pad },
  Resize: { convert: resize },
};
