// Ops on the height and width of a map: resize2d as Resize (the file's scales where it had them, else the
// output size), zeroPad2d as Pad.
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
    if (a.scales) {
      // the file's own factors: the same coordinates, and the same output size, as where they came from
      const [sh, sw] = a.scales as [number, number];
      cx.setOut(n, cx.emit('Resize', [src, '', cx.floatInitRaw(`${n.name}/scales`, [4], [1, 1, sh, sw])], attrs, n.name), true);
      return;
    }
    // the output size itself (coordinates then map by the sizes' ratio, as here): [batch, C] of the input at
    // run time (the batch is free), then OH, OW
    const nc = cx.emit('Slice', [cx.emit('Shape', [src], [], `${n.name}/shape`), cx.intInit(`${n.name}/s0`, [0]), cx.intInit(`${n.name}/s2`, [2])], [], `${n.name}/nc`);
    const sizes = cx.emit('Concat', [nc, cx.intInit(`${n.name}/hw`, [OH, OW])], [attrInt('axis', 0)], `${n.name}/sizes`);
    cx.setOut(n, cx.emit('Resize', [src, '', '', sizes], attrs, n.name), true);
  },
  zeroPad2d: (cx, n) => {
    const [[t, b], [l, r]] = n.attrs.padding as [[number, number], [number, number]];
    cx.setOut(n, cx.emit('Pad', [cx.valueName(n.inputs[0]), cx.intInit(`${n.name}/pads`, [0, 0, t, l, 0, 0, b, r])], [], n.name), true);
  },
};
