// Greedy layer-wise autoencoders (Bengio, Lamblin, Popovici & Larochelle 2007, "Greedy layer-wise training of
// deep networks") and their denoising form (Vincent, Larochelle, Bengio & Manzagol 2008, "Extracting and
// composing robust features with denoising autoencoders"). Each chosen layer, bottom-up, is the encoder of
// an autoencoder over what it sees (the frozen outputs of the layers below): a decoder trained beside it
// reconstructs that input, clean, from the encoder's code of it (corrupted, for the denoising form), by mean
// squared error. The decoder is then dropped: the layer keeps its weights, the model stays what it was.
//
// The weights are untied: the decoder has weights of its own. Tying (decoder = encoderᵀ) would need a layer
// that reads another layer's kernel in the graph and a transpose of a conv kernel; untied is what Vincent et
// al. also report working as well, and it lets a conv encoder take any decoder.
//
// Decoders, built from layers this codebase has (so the training graph is an ordinary model's, fit's loop):
//   dense [.., F] -> [.., U]: dense(F)
//   conv2d [H, W, C] -> [H', W', F]: conv2d(C, same kernel size, 'same'), after
//     nothing                       where H' = H and W' = W ('same' padding, stride 1),
//     zeroPadding2d to H x W         where the stride is 1 ('valid' padding): with the 'same' conv after it,
//                                    the full convolution, i.e. the transposed convolution of a 'valid' conv,
//     resizing to H x W (nearest)    where the stride is above 1 (upsampling + conv, Odena et al. 2016's
//                                    remedy for the checkerboard artefacts of strided transposed convs).
// Its output is a sigmoid where every input value is in [0, 1] (images), linear otherwise.
import { Conv2D, Resizing, ZeroPadding2D } from '../layers/conv.js';
import { Dense, Dropout } from '../layers/core.js';
import { GaussianNoise } from '../layers/augment.js';
import { input as symbolicInput, type Layer } from '../layers/layer.js';
import { Model } from '../model.js';
import type { Tensor } from '../tensor.js';
import { Adam } from '../train/optimizers.js';
import type { PretrainArgs, PretrainLayerReport } from './types.js';

/** The decoder layers for `layer` from its input shape [.., in] to its output shape, as described above. */
function decoderFor(layer: Layer, inShape: number[], outShape: number[], act: 'sigmoid' | 'linear', seed: number | undefined): Layer[] {
  if (layer instanceof Dense) return [new Dense({ units: inShape[inShape.length - 1], activation: act, name: `${layer.name}/decoder`, seed })];
  const conv = layer as Conv2D;
  const [H, W, C] = inShape, [h, w] = outShape;
  const k = conv.cfg.kernelSize, s = conv.cfg.strides ?? 1, stride1 = (Array.isArray(s) ? s : [s, s]).every((v) => v === 1);
  const out: Layer[] = [];
  if (h !== H || w !== W) {
    if (stride1 && h <= H && w <= W) {
      const t = Math.floor((H - h) / 2), l = Math.floor((W - w) / 2);
      out.push(new ZeroPadding2D({ padding: [[t, H - h - t], [l, W - w - l]], name: `${layer.name}/decoder_pad` }));
    } else {
      out.push(new Resizing({ height: H, width: W, interpolation: 'nearest', name: `${layer.name}/decoder_upsample` }));
    }
  }
  out.push(new Conv2D({ filters: C, kernelSize: k, padding: 'same', activation: act, name: `${layer.name}/decoder`, seed }));
  return out;
}

function describe(layers: Layer[]): string {
  return layers.map((l) => {
    if (l instanceof Dense) return `dense(${l.units}, ${l.activation})`;
    if (l instanceof Conv2D) return `conv2d(${l.cfg.filters}, ${JSON.stringify(l.cfg.kernelSize)}, same, ${l.activation})`;
    if (l instanceof ZeroPadding2D) return 'zeroPadding2d';
    return 'resizing(nearest)';
  }).join(' -> ');
}

/** The corruption layer of a denoising autoencoder, or none. */
function noiseLayer(args: PretrainArgs, name: string): Layer | undefined {
  if (args.method !== 'denoising') return undefined;
  const n = args.noise ?? 0.25;
  // masking noise as inverted dropout: the zeroed fraction is Vincent et al.'s; the survivors are scaled by
  // 1/(1 - rate), so the encoder's inputs keep their expected value and the clean inputs it gets after
  // pretraining are on the scale it learned on
  if (typeof n === 'number') return new Dropout({ rate: n, name: `${name}/masking_noise` });
  if (n.kind === 'masking') return new Dropout({ rate: n.rate, name: `${name}/masking_noise` });
  return new GaussianNoise({ stddev: n.stddev, name: `${name}/gaussian_noise`, seed: args.seed });
}

/** Train `layer` as the encoder of an autoencoder over its input `feat` (checked by the caller). */
export async function pretrainAutoencoder(layer: Layer, feat: Tensor, args: PretrainArgs): Promise<PretrainLayerReport> {
  const t0 = performance.now();
  const inShape = feat.shape.slice(1);
  const v = feat.view();
  let unit = true;
  for (let i = 0; i < v.length && unit; i++) unit = v[i] >= 0 && v[i] <= 1;
  const inp = symbolicInput({ shape: inShape, name: `${layer.name}/pretrain_input` });
  const noise = noiseLayer(args, layer.name);
  const code = layer.apply(noise ? noise.apply(inp) : inp);
  const dec = decoderFor(layer, inShape, code.shape.slice(1), unit ? 'sigmoid' : 'linear', args.seed);
  let out = code;
  for (const l of dec) out = l.apply(out);
  const ae = new Model({ inputs: inp, outputs: out, name: `${layer.name}/autoencoder` });
  ae.compile({ optimizer: new Adam({ learningRate: args.learningRate ?? 1e-3 }), loss: 'meanSquaredError' });
  try {
    const h = await ae.fit(feat, feat, {
      epochs: args.epochs ?? 5, batchSize: args.batchSize ?? 32, shuffle: args.shuffle, seed: args.seed,
      callbacks: args.callbacks, signal: args.signal, yieldEvery: args.yieldEvery, onDivergence: args.onDivergence,
    });
    const clean = ae.evaluate(feat, feat, { batchSize: 256 }).loss;
    return {
      layer: layer.name, method: args.method, loss: h.history.loss ?? [], reconstructionError: clean,
      decoder: describe(dec), inputShape: feat.shape.slice(), seconds: (performance.now() - t0) / 1000,
      ...(h.warnings ? { warnings: h.warnings } : {}),
    };
  } finally {
    ae.dispose();
    for (const l of dec) for (const w of l.weights) w.tensor.dispose();
  }
}
