// Ops on the height and width of a map: resize2d as Resize (the file's scales where it had them, else the
// output size; tf_crop_and_resize with its roi), zeroPad2d and pad as Pad.
import { attrFloat, attrInt, attrStr, type ExportFamily } from './context.js';

export const spatialFamily: ExportFamily = {
  resize2d: (cx, n) => {
    const a = n.attrs, x = n.inputs[0];
    const [OH, OW] = a.size as [number, number];
    const nearest = a.method === 'nearest';
    // ONNX's own rule where the node came from a file that named one, else the TF.js flags' equivalent
    const ctm = (a.coordinate as string | undefined) ?? (a.alignCorners ? 'align_corners' : a.halfPixelCenters ? (nearest ? 'tf_half_pixel_for_nn' : 'half_pixel') : 'asymmetric');
    const cubic = a.method === 'bicubic';
    const attrs: unknown[] = [attrStr('mode', nearest ? 'nearest' : cubic ? 'cubic' : 'linear'), attrStr('coordinate_transformation_mode', ctm)];
    if (cubic) attrs.push(attrFloat('cubic_coeff_a', (a.cubicCoeffA as number | undefined) ?? -0.75), attrInt('exclude_outside', a.excludeOutside ? 1 : 0));
    if (nearest) attrs.push(attrStr('nearest_mode', (a.nearestMode as string | undefined) ?? (a.alignCorners ? 'round_prefer_ceil' : 'floor')));
    const src = cx.valueName(x);
    // tf_crop_and_resize: its box as the roi input ([0, 0, top, left, 1, 1, bottom, right]) and its fill value
    const box = a.roi as number[] | undefined;
    const roi = box ? cx.floatInitRaw(`${n.name}/roi`, [8], [0, 0, box[0], box[1], 1, 1, box[2], box[3]]) : '';
    if (box) attrs.push(attrFloat('extrapolation_value', (a.extrapolation as number | undefined) ?? 0));
    if (a.scales) {
      // the file's own factors: the same coordinates, and the same output size, as where they came from
      const [sh, sw] = a.scales as [number, number];
      cx.setOut(n, cx.emit('Resize', [src, roi, cx.floatInitRaw(`${n.name}/scales`, [4], [1, 1, sh, sw])], attrs, n.name), true);
      return;
    }
    // the output size itself (coordinates then map by the sizes' ratio, as here): [batch, C] of the input at
    // run time (the batch is free), then OH, OW
    const nc = cx.emit('Slice', [cx.emit('Shape', [src], [], `${n.name}/shape`), cx.intInit(`${n.name}/s0`, [0]), cx.intInit(`${n.name}/s2`, [2])], [], `${n.name}/nc`);
    const sizes = cx.emit('Concat', [nc, cx.intInit(`${n.name}/hw`, [OH, OW])], [attrInt('axis', 0)], `${n.name}/sizes`);
    cx.setOut(n, cx.emit('Resize', [src, roi, '', sizes], attrs, n.name), true);
  },
  // pads per stored axis (a map's NHWC) as ONNX's [begins..., ends...] in its NCHW order
  pad: (cx, n, out) => {
    const x = n.inputs[0], map = cx.isMap.has(x), stored = n.attrs.pads as Array<[number, number]>;
    const onnx = map ? [0, 3, 1, 2].map((k) => stored[k]) : stored;
    const mode = n.attrs.mode as string, value = n.attrs.value as number;
    const ins = [cx.valueName(x), cx.intInit(`${n.name}/pads`, [...onnx.map((p) => p[0]), ...onnx.map((p) => p[1])])];
    if (mode === 'constant' && value) ins.push(cx.floatInitRaw(`${n.name}/value`, [], [value]));
    cx.setOut(n, cx.emit('Pad', ins, [attrStr('mode', mode)], n.name, out), map);
  },
  zeroPad2d: (cx, n) => {
    const [[t, b], [l, r]] = n.attrs.padding as [[number, number], [number, number]];
    cx.setOut(n, cx.emit('Pad', [cx.valueName(n.inputs[0]), cx.intInit(`${n.name}/pads`, [0, 0, t, l, 0, 0, b, r])], [], n.name), true);
  },
};
