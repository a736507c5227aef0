// Weight initializers with Keras' names and defaults. Variance scaling (Glorot & Bengio 2010; He et al.
// 2015; LeCun et al. 1998): normal variants draw from a normal truncated at 2 std, with the std divided by
// 0.87962566103423978 (the std of a standard normal truncated at +-2) so the variance is the target.
import { Tensor, fill, tensor } from '../tensor.js';
import { hostRandomNormal, randomNormal, randomUniform, truncatedNormal } from '../ops/random.js';

export interface Initializer {
  readonly name: string;
  /** A tensor of this shape; fans come from the shape as Keras computes them. */
  init(shape: readonly number[], seed?: number): Tensor;
}

/** Keras fans: dense [in, out]; conv [kh, kw, in, out] with the receptive field multiplied in. */
export function fans(shape: readonly number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  if (shape.length === 1) return [shape[0], shape[0]];
  if (shape.length === 2) return [shape[0], shape[1]];
  const rf = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  return [shape[shape.length - 2] * rf, shape[shape.length - 1] * rf];
}

const TRUNC_STD = 0.87962566103423978;

function varianceScaling(name: string, scale: number, mode: 'fanIn' | 'fanOut' | 'fanAvg', distribution: 'normal' | 'uniform'): Initializer {
  return {
    name,
    init(shape, seed) {
      const [fi, fo] = fans(shape);
      const n = mode === 'fanIn' ? fi : mode === 'fanOut' ? fo : (fi + fo) / 2;
      const variance = scale / Math.max(1, n);
      if (distribution === 'normal') return truncatedNormal(shape, 0, Math.sqrt(variance) / TRUNC_STD, seed);
      const limit = Math.sqrt(3 * variance);
      return randomUniform(shape, -limit, limit, seed);
    },
  };
}

function filled(name: string, v: number): Initializer {
  return { name, init(shape) { return fill(shape, v); } };
}

/**
 * Orthogonal (Saxe et al. 2014), Keras's default for recurrent kernels: the Q of a QR decomposition of a
 * normal matrix (sign-corrected so it is uniformly distributed), as a [prod(shape[:-1]), shape[-1]] matrix
 * with orthonormal rows or columns (whichever are fewer), times `gain`.
 */
function orthogonal(gain = 1): Initializer {
  return {
    name: 'orthogonal',
    init(shape, seed) {
      const cols = shape[shape.length - 1] ?? 1, rows = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const m = Math.max(rows, cols), n = Math.min(rows, cols);
      // drawn on the host (a GPU backend too): the factorization below is on the CPU
      const a = Float64Array.from(hostRandomNormal(n * m, seed));
      // modified Gram-Schmidt over the n vectors of length m (rows of a); r's diagonal sign kept in the vector
      for (let i = 0; i < n; i++) {
        const v = a.subarray(i * m, (i + 1) * m);
        for (let k = 0; k < i; k++) {
          const q = a.subarray(k * m, (k + 1) * m);
          let d = 0;
          for (let j = 0; j < m; j++) d += q[j] * v[j];
          for (let j = 0; j < m; j++) v[j] -= d * q[j];
        }
        let norm = 0;
        for (let j = 0; j < m; j++) norm += v[j] * v[j];
        norm = Math.sqrt(norm) || 1;
        for (let j = 0; j < m; j++) v[j] /= norm;
      }
      // a holds n orthonormal vectors of length m: as rows when rows <= cols, else as columns
      const out = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = gain * (rows <= cols ? a[r * m + c] : a[c * m + r]);
      return tensor(out, shape.slice());
    },
  };
}

export const initializers = {
  zeros: () => filled('zeros', 0),
  ones: () => filled('ones', 1),
  constant: (o: { value: number }) => filled('constant', o.value),
  randomNormal: (o: { mean?: number; stddev?: number } = {}): Initializer => ({ name: 'randomNormal', init: (s, seed) => randomNormal(s, o.mean ?? 0, o.stddev ?? 0.05, seed) }),
  randomUniform: (o: { minval?: number; maxval?: number } = {}): Initializer => ({ name: 'randomUniform', init: (s, seed) => randomUniform(s, o.minval ?? -0.05, o.maxval ?? 0.05, seed) }),
  truncatedNormal: (o: { mean?: number; stddev?: number } = {}): Initializer => ({ name: 'truncatedNormal', init: (s, seed) => truncatedNormal(s, o.mean ?? 0, o.stddev ?? 0.05, seed) }),
  glorotNormal: () => varianceScaling('glorotNormal', 1, 'fanAvg', 'normal'),
  glorotUniform: () => varianceScaling('glorotUniform', 1, 'fanAvg', 'uniform'),
  heNormal: () => varianceScaling('heNormal', 2, 'fanIn', 'normal'),
  heUniform: () => varianceScaling('heUniform', 2, 'fanIn', 'uniform'),
  lecunNormal: () => varianceScaling('lecunNormal', 1, 'fanIn', 'normal'),
  lecunUniform: () => varianceScaling('lecunUniform', 1, 'fanIn', 'uniform'),
  orthogonal: (o: { gain?: number } = {}) => orthogonal(o.gain ?? 1),
};

export type InitializerName = keyof typeof initializers;

export function getInitializer(i: Initializer | InitializerName | undefined, dflt: InitializerName): Initializer {
  if (i === undefined) return (initializers[dflt] as () => Initializer)();
  if (typeof i !== 'string') return i;
  const f = initializers[i] as (() => Initializer) | undefined;
  if (!f || i === 'constant') throw new Error(`edgegrad.initializers: unknown initializer '${i}' (expected one of ${Object.keys(initializers).join(', ')}; 'constant' needs { value })`);
  return f();
}
