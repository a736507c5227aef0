// eg.pretrain's options and reports (shared by the methods' files).
import type { Layer } from '../layers/layer.js';
import type { Callback } from '../train/callbacks.js';
import type { Pacing } from '../train/pace.js';
import type { VisibleUnits } from './rbm.js';

export type PretrainMethod = 'autoencoder' | 'denoising' | 'rbm' | 'contrastive';

/** Corruption of a denoising autoencoder's input: a fraction of values set to zero, or added Gaussian noise. */
export type PretrainNoise = number | { kind: 'masking'; rate: number } | { kind: 'gaussian'; stddev: number };

export interface PretrainArgs extends Pacing {
  method: PretrainMethod;
  /**
   * Greedy methods ('autoencoder', 'denoising', 'rbm'): the layers to pretrain, bottom-up (names or indices
   * into model.layers). Default: every trainable dense and conv2d layer ('rbm': every dense layer) except a
   * final dense layer, the classifier the labels train. 'contrastive': the backbone ends at the last of
   * these (default: the layer before a final dense layer, or the whole model).
   */
  layers?: Array<string | number>;
  /** Epochs per layer (default 5). */
  epochs?: number;
  /** Examples per step (default 32; 'contrastive': images per step, each gives two views). */
  batchSize?: number;
  /**
   * 'denoising' only: the corruption (default 0.25: masking noise, a quarter of the values zeroed per
   * example, Vincent et al. 2008; { kind: 'gaussian', stddev } adds N(0, stddev²) instead).
   */
  noise?: PretrainNoise;
  /** Adam's step size for 'autoencoder', 'denoising', 'contrastive' (default 1e-3); CD's ε for 'rbm' (default 0.05 binary, 0.005 Gaussian visible units). */
  learningRate?: number;
  shuffle?: boolean;
  /** Seeds the shuffling, the noise, the RBM's samples and the projection head's initial weights. */
  seed?: number;
  /** fit's callbacks, run for each layer in turn ('contrastive': once); logs hold `loss` (and `freeEnergy` for RBMs). */
  callbacks?: Callback[] | Callback;
  /** Called when a layer's pretraining is done, with its report. */
  onLayerEnd?: (report: PretrainLayerReport) => void | Promise<void>;
  /** As fit's: 'warn' (default), 'stop' or 'ignore' when the loss diverges. */
  onDivergence?: 'warn' | 'stop' | 'ignore';
  /** 'rbm': Gibbs steps per update, CD-k (default 1). */
  k?: number;
  /** 'rbm': momentum of the updates (default 0.5, Hinton's guide for the first epochs). */
  momentum?: number;
  /**
   * 'rbm': the first RBM's visible units: 'binary' for data in [0, 1], 'gaussian' (unit variance: standardize
   * the data first) for real values; default 'auto' (binary when every value is in [0, 1]). Higher RBMs see
   * sigmoid outputs and are binary.
   */
  visible?: 'auto' | VisibleUnits;
  /** 'contrastive': the temperature τ of NT-Xent (default 0.5, SimCLR's for small batches). */
  temperature?: number;
  /** 'contrastive': units of the projection head's dense layers, discarded afterwards (default [64, 32]: ReLU, then linear). */
  projection?: number[];
  /**
   * 'contrastive': the layers that make the two views of each image (default for images: randomTranslation
   * 0.1, randomRotation 0.04, randomZoom 0.15, constant fill; for vectors: gaussianNoise 0.1 and
   * gaussianDropout 0.2). They are applied twice per batch, as two independent draws.
   */
  augmentation?: Layer[];
}

export interface PretrainLayerReport {
  /** The pretrained layer ('contrastive': the last layer of the backbone). */
  layer: string;
  method: PretrainMethod;
  /**
   * Per epoch: mean squared reconstruction error of the input it saw (corrupted, for 'denoising'); the RBM's
   * reconstruction error after one Gibbs step; NT-Xent for 'contrastive'.
   */
  loss: number[];
  /** 'autoencoder', 'denoising': the reconstruction error of clean inputs after the last epoch. */
  reconstructionError?: number;
  /** 'rbm': mean free energy of (up to 1,000 of) the training rows after each epoch. */
  freeEnergy?: number[];
  /** 'rbm': the visible units. */
  visible?: VisibleUnits;
  /** The decoder the autoencoder trained beside the layer, or the projection head: discarded afterwards. */
  decoder?: string;
  /** What the layer saw: [examples, ...shape]. */
  inputShape: number[];
  seconds: number;
  /** Divergence warnings, as fit's History.warnings. */
  warnings?: string[];
}

export interface PretrainReport {
  method: PretrainMethod;
  layers: PretrainLayerReport[];
}
