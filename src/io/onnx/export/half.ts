// Float16-stored weights (loadModel's weights: 'float16'): the unpackHalf node that widens one writes nothing
// itself; the layers reading it write the weight as a FLOAT16 initializer and a Cast (ExportContext.param).
import type { ExportFamily } from './context.js';

export const halfFamily: ExportFamily = {
  unpackHalf: () => {},
};
