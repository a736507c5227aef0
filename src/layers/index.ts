// eg.layers.*: factories with TensorFlow.js / Keras names.
import { Activation, BatchNormalization, Dense, Dropout, Flatten, Maxout, PReLU, RReLU, Reshape, type DenseConfig } from './core.js';
import { Conv2D, DepthwiseConv2D, GlobalAveragePooling2D, GrayscaleToRGB, Pooling2D, Resizing, ZeroPadding2D, type Conv2DConfig, type DepthwiseConv2DConfig, type PoolConfig } from './conv.js';
import { Add, Concatenate } from './merge.js';
import { GaussianDropout, GaussianNoise, RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom, type AugmentConfig, type GeometricConfig } from './augment.js';
import { Bidirectional, GRU, LSTM, Masking, RNN, SimpleRNN, TimeDistributed, type GRUConfig, type LSTMConfig, type RNNConfig } from './recurrent.js';
import type { BatchNormMode, LayerConfig, Layer } from './layer.js';
import type { ActivationName } from '../ops/activation.js';

export const layers = {
  dense: (c: DenseConfig) => new Dense(c),
  conv2d: (c: Conv2DConfig) => new Conv2D(c),
  depthwiseConv2d: (c: DepthwiseConv2DConfig) => new DepthwiseConv2D(c),
  maxPooling2d: (c: PoolConfig = {}) => new Pooling2D('max', c),
  maxPool2d: (c: PoolConfig = {}) => new Pooling2D('max', c),
  averagePooling2d: (c: PoolConfig = {}) => new Pooling2D('avg', c),
  avgPool2d: (c: PoolConfig = {}) => new Pooling2D('avg', c),
  globalAveragePooling2d: (c: LayerConfig = {}) => new GlobalAveragePooling2D(c),
  batchNormalization: (c: LayerConfig & { momentum?: number; epsilon?: number; mode?: BatchNormMode } = {}) => new BatchNormalization(c),
  dropout: (c: LayerConfig & { rate: number; seed?: number }) => new Dropout(c),
  flatten: (c: LayerConfig = {}) => new Flatten(c),
  reshape: (c: LayerConfig & { targetShape: number[] }) => new Reshape(c),
  activation: (c: LayerConfig & { activation: ActivationName; alpha?: number }) => new Activation(c),
  reLU: (c: LayerConfig = {}) => new Activation({ ...c, activation: 'relu' }),
  leakyReLU: (c: LayerConfig & { alpha?: number } = {}) => new Activation({ ...c, activation: 'leakyRelu', alpha: c.alpha ?? 0.3 }),
  elu: (c: LayerConfig & { alpha?: number } = {}) => new Activation({ ...c, activation: 'elu', alpha: c.alpha ?? 1 }),
  softmax: (c: LayerConfig = {}) => new Activation({ ...c, activation: 'softmax' }),
  prelu: (c: LayerConfig & { alphaInitializer?: number } = {}) => new PReLU(c),
  rrelu: (c: LayerConfig & { lower?: number; upper?: number } = {}) => new RReLU(c),
  maxout: (c: LayerConfig & { units: number }) => new Maxout(c),
  add: (c: LayerConfig = {}) => new Add(c),
  concatenate: (c: LayerConfig & { axis?: number } = {}) => new Concatenate(c),
  resizing: (c: LayerConfig & { height: number; width: number; interpolation?: 'bilinear' | 'nearest' }) => new Resizing(c),
  grayscaleToRgb: (c: LayerConfig = {}) => new GrayscaleToRGB(c),
  zeroPadding2d: (c: LayerConfig & { padding?: number | [number, number] | [[number, number], [number, number]] } = {}) => new ZeroPadding2D(c),
  simpleRNN: (c: RNNConfig) => new SimpleRNN(c),
  lstm: (c: LSTMConfig) => new LSTM(c),
  gru: (c: GRUConfig) => new GRU(c),
  bidirectional: (c: LayerConfig & { layer: RNN; mergeMode?: 'concat' | 'sum' | 'mul' | 'ave'; backwardLayer?: RNN }) => new Bidirectional(c),
  timeDistributed: (c: LayerConfig & { layer: Layer }) => new TimeDistributed(c),
  masking: (c: LayerConfig & { maskValue?: number } = {}) => new Masking(c),
  randomFlip: (c: GeometricConfig & { mode?: 'horizontal' | 'vertical' | 'horizontal_and_vertical' } = {}) => new RandomFlip(c),
  randomRotation: (c: GeometricConfig & { factor: number | [number, number] }) => new RandomRotation(c),
  randomTranslation: (c: GeometricConfig & { heightFactor: number | [number, number]; widthFactor: number | [number, number] }) => new RandomTranslation(c),
  randomZoom: (c: GeometricConfig & { heightFactor: number | [number, number]; widthFactor?: number | [number, number] }) => new RandomZoom(c),
  randomCrop: (c: AugmentConfig & { height: number; width: number }) => new RandomCrop(c),
  randomContrast: (c: AugmentConfig & { factor: number | [number, number]; valueRange?: [number, number] }) => new RandomContrast(c),
  randomBrightness: (c: AugmentConfig & { factor: number | [number, number]; valueRange?: [number, number] }) => new RandomBrightness(c),
  gaussianNoise: (c: AugmentConfig & { stddev: number }) => new GaussianNoise(c),
  gaussianDropout: (c: AugmentConfig & { rate: number }) => new GaussianDropout(c),
};

export { Layer, SymbolicTensor, input } from './layer.js';
export { Activation, BatchNormalization, Dense, Dropout, Flatten, Maxout, PReLU, RReLU, Reshape } from './core.js';
export { Conv2D, DepthwiseConv2D, GlobalAveragePooling2D, GrayscaleToRGB, Pooling2D, Resizing, ZeroPadding2D } from './conv.js';
export { Add, Concatenate } from './merge.js';
export { GaussianDropout, GaussianNoise, RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom } from './augment.js';
export type { AugmentConfig, GeometricConfig } from './augment.js';
export { Bidirectional, GRU, LSTM, Masking, RNN, SimpleRNN, TimeDistributed } from './recurrent.js';
export type { GRUConfig, LSTMConfig, RNNConfig } from './recurrent.js';
