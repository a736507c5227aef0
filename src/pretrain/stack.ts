// The stack a greedy method walks: which layers it pretrains, and what each one sees (the frozen outputs
// of the layers below it, at inference: dropout and augmentation are identity there).
import { Conv2D } from '../layers/conv.js';
import { Dense } from '../layers/core.js';
import { GraphLayer } from '../layers/graph-layer.js';
import { input as symbolicInput, type Layer } from '../layers/layer.js';
import { Model, Sequential } from '../model.js';
import { nearestNames } from '../names.js';
import type { Tensor } from '../tensor.js';
import { runPrefix } from '../train/features.js';
import type { Pacer } from '../train/pace.js';
import type { PretrainMethod } from './types.js';

/** What a method can pretrain, as words for errors. */
const CAN: Record<PretrainMethod, string> = {
  autoencoder: 'dense and conv2d layers',
  denoising: 'dense and conv2d layers',
  rbm: 'dense layers with a sigmoid activation and a bias (an RBM\'s hidden units)',
  contrastive: 'any layers',
};

/** The layer `at` names (a name or an index into model.layers), or an error with similar names. */
export function layerAt(model: Model, at: string | number): { layer: Layer; index: number } {
  const layers = model.layers;
  const index = typeof at === 'number' ? (Number.isInteger(at) && at >= 0 && at < layers.length ? at : -1) : layers.findIndex((l) => l.name === at);
  if (index < 0) {
    const near = typeof at === 'string' ? nearestNames(at, layers.map((l) => l.name)) : [];
    throw new Error(`edgegrad.pretrain: model '${model.name}' has no layer ${JSON.stringify(at)}${typeof at === 'number' ? ` (indices 0 to ${layers.length - 1})` : ''}${near.length ? ` (similar: ${near.join(', ')})` : ''}`);
  }
  return { layer: layers[index], index };
}

/** Whether `method` can pretrain this layer, and why not. */
export function refusal(layer: Layer, method: PretrainMethod): string | undefined {
  const kind = layer.constructor.name;
  if (method === 'rbm') {
    if (!(layer instanceof Dense)) return `it is a ${kind}; an RBM pretrains ${CAN.rbm}`;
    if (layer.activation !== 'sigmoid') return `its activation is '${layer.activation}'; an RBM's hidden units are sigmoid units: build it with activation: 'sigmoid'`;
    if (layer.cfg.useBias === false) return 'it has no bias (useBias: false); the RBM\'s hidden biases go there';
  } else if (!(layer instanceof Dense) && !(layer instanceof Conv2D)) {
    return `it is a ${kind}; an autoencoder pretrains ${CAN[method]}`;
  } else if (layer instanceof Conv2D && (layer.cfg.groups ?? 1) !== 1) {
    return 'it is a grouped convolution; the autoencoder\'s decoder is a plain conv2d';
  }
  if (!layer.trainable) return 'it is frozen (trainable false): unfreeze it to pretrain it';
  return undefined;
}

/**
 * The layers a greedy method pretrains, bottom-up, with their indices: those given (each checked), or the
 * default (every layer the method can pretrain, except a final dense layer: the classifier).
 */
export function greedyLayers(model: Model, method: PretrainMethod, given: Array<string | number> | undefined): Array<{ layer: Layer; index: number }> {
  if (!(model instanceof Sequential)) {
    throw new Error(`edgegrad.pretrain: method '${method}' pretrains a stack of layers one after another: model '${model.name}' is functional; build it with eg.sequential (or pretrain a sequential backbone and reuse its layers)`);
  }
  const layers = model.layers;
  let picked: Array<{ layer: Layer; index: number }>;
  if (given !== undefined) {
    if (!Array.isArray(given) || given.length === 0) throw new Error('edgegrad.pretrain: layers must be a non-empty array of layer names or indices');
    picked = given.map((at) => layerAt(model, at));
    for (const { layer } of picked) {
      const why = refusal(layer, method);
      if (why) throw new Error(`edgegrad.pretrain: layer '${layer.name}' cannot be pretrained by method '${method}': ${why}`);
    }
    picked.sort((a, b) => a.index - b.index);
    const twice = picked.find((p, i) => i > 0 && picked[i - 1].index === p.index);
    if (twice) throw new Error(`edgegrad.pretrain: layer '${twice.layer.name}' is listed twice in layers`);
  } else {
    const last = layers.length - 1;
    picked = layers.map((layer, index) => ({ layer, index }))
      .filter(({ layer, index }) => !(index === last && layer instanceof Dense))
      .filter(({ layer }) => (method === 'rbm' ? layer instanceof Dense : layer instanceof Dense || layer instanceof Conv2D) && layer.trainable);
    if (method === 'rbm') {
      for (const { layer } of picked) {
        const why = refusal(layer, method);
        if (why) throw new Error(`edgegrad.pretrain: layer '${layer.name}' cannot be pretrained by method 'rbm': ${why} (or list the layers to pretrain in layers)`);
      }
    }
    if (!picked.length) {
      const graph = layers.find((l) => l instanceof GraphLayer);
      const hint = graph ? `; layer '${graph.name}' is an imported graph, whose nodes are not layers of their own: method 'contrastive' pretrains it whole` : '';
      throw new Error(`edgegrad.pretrain: model '${model.name}' has no layer that method '${method}' pretrains (${CAN[method]}, trainable, before a final dense classifier)${hint}`);
    }
  }
  return picked;
}

/**
 * The output of layers[from .. to) for x (what layer `to` sees), at inference in batches; x itself when the
 * range is empty. `shape` is x's per-example shape.
 */
export async function featuresThrough(layers: Layer[], from: number, to: number, x: Tensor, shape: number[], pacer: Pacer): Promise<Tensor> {
  if (from >= to) return x;
  const inp = symbolicInput({ shape, name: 'pretrain_input' });
  let t = inp;
  for (const l of layers.slice(from, to)) t = l.apply(t);
  const m = new Model({ inputs: inp, outputs: t, name: 'pretrain_prefix' });
  try {
    return await runPrefix(m, x, 64, undefined, pacer);
  } finally {
    m.dispose();
  }
}

/** Whether every value of t lies in [0, 1] (binary visible units; a sigmoid decoder). */
export function inUnitRange(t: Tensor): boolean {
  const v = t.view();
  for (let i = 0; i < v.length; i++) if (!(v[i] >= 0 && v[i] <= 1)) return false;
  return true;
}
