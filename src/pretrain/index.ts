// eg.pretrain: unsupervised and self-supervised pretraining of a model's layers on unlabelled data, before
// the labels fine-tune it ("cheap to gather unlabelled data, expensive to label them"). Greedy layer-wise
// autoencoders (plain or denoising, autoencoder.ts), RBMs stacked as a deep belief net (rbm.ts, dbn.ts), and
// SimCLR's contrastive loss on augmented pairs for backbones (contrastive.ts). The model's layers are trained
// in place: what comes back is the same model with pretrained weights, to cut, freeze, fine-tune or export.
import { getBackend } from '../backend/index.js';
import { checkBackend, refuseNonFinite } from '../graph/finite.js';
import { Dense } from '../layers/core.js';
import { Model } from '../model.js';
import { Tensor, formatShape } from '../tensor.js';
import { Pacer } from '../train/pace.js';
import { pretrainAutoencoder } from './autoencoder.js';
import { pretrainContrastive } from './contrastive.js';
import { pretrainRbm } from './dbn.js';
import { featuresThrough, greedyLayers, inUnitRange, layerAt } from './stack.js';
import type { PretrainArgs, PretrainLayerReport, PretrainMethod, PretrainReport } from './types.js';

export type { PretrainArgs, PretrainLayerReport, PretrainMethod, PretrainNoise, PretrainReport } from './types.js';
export type { VisibleUnits } from './rbm.js';

const METHODS: readonly PretrainMethod[] = ['autoencoder', 'denoising', 'rbm', 'contrastive'];

function positiveInt(v: number | undefined, name: string, zeroOk = false): void {
  if (v === undefined) return;
  if (!Number.isInteger(v) || v < (zeroOk ? 0 : 1)) throw new Error(`edgegrad.pretrain: ${name} must be a ${zeroOk ? 'non-negative' : 'positive'} integer, got ${String(v)}`);
}

function checkArgs(args: PretrainArgs): void {
  if (!args || typeof args !== 'object') throw new Error(`edgegrad.pretrain: options are required: { method: ${METHODS.map((m) => `'${m}'`).join(' | ')}, ... }`);
  if (!METHODS.includes(args.method)) throw new Error(`edgegrad.pretrain: unknown method ${JSON.stringify(args.method)} (expected one of ${METHODS.join(', ')})`);
  positiveInt(args.epochs, 'epochs', true);
  positiveInt(args.batchSize, 'batchSize');
  positiveInt(args.k, 'k');
  if (args.learningRate !== undefined && !(Number.isFinite(args.learningRate) && args.learningRate > 0)) throw new Error(`edgegrad.pretrain: learningRate must be a number > 0, got ${String(args.learningRate)}`);
  if (args.momentum !== undefined && !(args.momentum >= 0 && args.momentum < 1)) throw new Error(`edgegrad.pretrain: momentum must be in [0, 1), got ${String(args.momentum)}`);
  if (args.visible !== undefined && !['auto', 'binary', 'gaussian'].includes(args.visible)) throw new Error(`edgegrad.pretrain: visible must be 'auto', 'binary' or 'gaussian', got ${JSON.stringify(args.visible)}`);
  const n = args.noise;
  if (n !== undefined) {
    if (args.method !== 'denoising') throw new Error(`edgegrad.pretrain: noise is the corruption of method 'denoising'; method '${args.method}' takes none`);
    const rate = typeof n === 'number' ? n : n?.kind === 'masking' ? n.rate : undefined;
    if (rate !== undefined) {
      if (!(rate >= 0 && rate < 1)) throw new Error(`edgegrad.pretrain: the masking noise's rate must be in [0, 1), got ${String(rate)}`);
    } else if (typeof n !== 'object' || n === null || n.kind !== 'gaussian' || !(Number.isFinite(n.stddev) && n.stddev >= 0)) {
      throw new Error(`edgegrad.pretrain: noise must be a masking rate in [0, 1), { kind: 'masking', rate } or { kind: 'gaussian', stddev >= 0 }, got ${JSON.stringify(n)}`);
    }
  }
}

/**
 * Pretrain `model`'s layers on unlabelled x. method:
 * - 'autoencoder' / 'denoising': greedy layer-wise autoencoders (Bengio et al. 2007; Vincent et al. 2008),
 *   dense and conv2d layers, bottom-up, each with a decoder of its own (dropped afterwards);
 * - 'rbm': restricted Boltzmann machines by CD-k (Hinton 2002), stacked as a deep belief net, for dense
 *   layers with sigmoid activations;
 * - 'contrastive': SimCLR's NT-Xent over two augmented views per image (Chen et al. 2020), for the backbone
 *   (the model up to the last of `layers`; by default all of it but a final dense layer).
 * The layers are trained in place; returns a report per pretrained layer (the loss per epoch).
 */
export async function pretrain(model: Model, x: Tensor, args: PretrainArgs): Promise<PretrainReport> {
  checkArgs(args);
  const pacer = new Pacer(args, 'pretrain');
  pacer.check('before the first step');
  if (!(model instanceof Model)) {
    const loaded = model && typeof model === 'object' && typeof (model as { asLayer?: unknown }).asLayer === 'function';
    throw new Error(`edgegrad.pretrain: model must be a model built with eg.sequential or eg.model${loaded ? "; a loaded model goes in as eg.sequential([loaded]) (method 'contrastive' pretrains its graph whole)" : ''}`);
  }
  const be = getBackend();
  if (!be.syncRead) throw new Error(`edgegrad.pretrain: not available on the '${be.name}' backend yet (the losses run on the CPU side of the memory): pretrain on wasm, then setWeights`);
  if (model.inputs.length !== 1) throw new Error(`edgegrad.pretrain: model '${model.name}' has ${model.inputs.length} inputs; pretraining takes a model with one`);
  const want = model.inputShapeOf;
  if (!(x instanceof Tensor)) throw new Error('edgegrad.pretrain: x must be a Tensor of unlabelled examples');
  checkBackend(x, 'pretrain');
  if (x.dtype !== 'float32' || x.rank !== want.length + 1 || want.some((d, i) => d !== x.shape[i + 1])) {
    throw new Error(`edgegrad.pretrain: model '${model.name}' takes [batch, ${want.join(', ')}]; x is ${x.dtype} ${formatShape(x.shape)}`);
  }
  if (x.shape[0] === 0) throw new Error(`edgegrad.pretrain: x holds no examples (${formatShape(x.shape)})`);
  refuseNonFinite(x, 'pretrain', 'x');
  const reports: PretrainLayerReport[] = [];
  const done = async (r: PretrainLayerReport) => { reports.push(r); await args.onLayerEnd?.(r); };

  if (args.method === 'contrastive') {
    const layers = model.layers;
    let end: number;
    if (args.layers !== undefined) {
      if (!Array.isArray(args.layers) || !args.layers.length) throw new Error('edgegrad.pretrain: layers must be a non-empty array of layer names or indices');
      end = Math.max(...args.layers.map((at) => layerAt(model, at).index));
    } else {
      end = layers.length - 1 - (layers.length > 1 && layers[layers.length - 1] instanceof Dense ? 1 : 0);
    }
    const backbone = model.cut(end);
    if (!backbone.layers.some((l) => l.weights.some((w) => l.isTrainable(w)))) {
      throw new Error(`edgegrad.pretrain: the backbone of model '${model.name}' (up to layer '${layers[end].name}') has no trainable weights to pretrain`);
    }
    await done(await pretrainContrastive(backbone, x, args));
    return { method: args.method, layers: reports };
  }

  const picked = greedyLayers(model, args.method, args.layers);
  const layers = model.layers;
  let feat = x, from = 0;
  try {
    for (const { layer, index } of picked) {
      const next = await featuresThrough(layers, from, index, feat, feat.shape.slice(1), pacer);
      if (feat !== x && next !== feat) feat.dispose();
      feat = next;
      from = index;
      if (args.method === 'rbm') {
        if (feat.rank !== 2) throw new Error(`edgegrad.pretrain: layer '${layer.name}' sees ${formatShape(feat.shape)}; an RBM's visible units are a vector per example [batch, features]`);
        const first = reports.length === 0;
        const units = !first ? 'binary' : args.visible && args.visible !== 'auto' ? args.visible : inUnitRange(feat) ? 'binary' : 'gaussian';
        if (units === 'binary' && !inUnitRange(feat)) {
          throw new Error(`edgegrad.pretrain: layer '${layer.name}' sees values outside [0, 1]${first ? '' : ' (the layer below is not a sigmoid layer)'}; binary visible units need data in [0, 1]${first ? ": use visible: 'gaussian' (and standardize the data)" : ''}`);
        }
        await done(await pretrainRbm(layer, feat, units, args, pacer));
      } else {
        await done(await pretrainAutoencoder(layer, feat, args));
      }
    }
  } finally {
    if (feat !== x) feat.dispose();
  }
  return { method: args.method, layers: reports };
}
