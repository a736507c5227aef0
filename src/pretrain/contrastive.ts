// Self-supervised pretraining of a backbone on augmented pairs (SimCLR: Chen, Kornblith, Norouzi & Hinton
// 2020). Each batch of B images goes through the augmentation layers twice (two independent draws: two
// views per image), through the backbone and a small projection head (dense + ReLU + dense) per view, and
// NT-Xent (ntxent.ts) pulls each image's two projections together and pushes the other 2B − 2 away. The
// head is discarded afterwards (the paper's §4.2: the layer before it holds the better representation); the
// backbone's layers keep their weights, in the model they belong to.
//
// The training graph is built here (forward twice over shared weights, the loss op, autodiff's backward
// pass) and run by fit's own loop (fitLoop: callbacks, AbortSignal, the NaN guard, the divergence watch),
// as distill does. A layer applied twice gets two gradients; the step sums them (train/step.ts).
import '../ops/index.js';
import { buildBackward } from '../autodiff.js';
import { Plan } from '../graph/executor.js';
import { Graph } from '../graph/ir.js';
import { optimizeForInference } from '../graph/passes.js';
import { GaussianDropout, GaussianNoise, RandomRotation, RandomTranslation, RandomZoom } from '../layers/augment.js';
import { Dense, Flatten } from '../layers/core.js';
import { input as symbolicInput, type Layer, type Weight } from '../layers/layer.js';
import { Model } from '../model.js';
import { Tensor } from '../tensor.js';
import type { Logs } from '../train/callbacks.js';
import { fitLoop, type Trainee } from '../train/fit.js';
import type { MetricName } from '../train/metrics.js';
import { Adam, type Optimizer } from '../train/optimizers.js';
import type { TrainPlan } from '../train/step.js';
import './ntxent.js';
import type { PretrainArgs, PretrainLayerReport } from './types.js';

/** The default views: small geometric changes for images, noise for vectors (see PretrainArgs.augmentation). */
export function defaultAugmentation(shape: number[], seed: number | undefined): Layer[] {
  const s = (k: number) => (seed === undefined ? undefined : seed + k);
  if (shape.length === 3) {
    return [
      new RandomTranslation({ heightFactor: 0.1, widthFactor: 0.1, fillMode: 'constant', seed: s(1) }),
      new RandomRotation({ factor: 0.04, fillMode: 'constant', seed: s(2) }),
      new RandomZoom({ heightFactor: [-0.15, 0.15], fillMode: 'constant', seed: s(3) }),
    ];
  }
  return [new GaussianNoise({ stddev: 0.1, seed: s(1) }), new GaussianDropout({ rate: 0.2, seed: s(2) })];
}

/** Every weight of a layer with the layer that owns it (nested models' layers included). */
function ownedWeights(layer: Layer): Array<{ weight: Weight; layer: Layer }> {
  if (layer instanceof Model) return layer.layers.flatMap(ownedWeights);
  return layer.weights.map((weight) => ({ weight, layer }));
}

/** What the fit loop trains: backbone + projection head on two views, NT-Xent as the loss. */
class ContrastiveTrainee implements Trainee {
  private plans = new Map<string, TrainPlan>();
  stopTraining = false;
  constructor(readonly net: Model, private readonly backbone: Model, private readonly head: Layer[], private readonly aug: Layer[], private readonly tau: number) {}

  get name(): string { return this.net.name; }
  get optimizer(): Optimizer | undefined { return this.net.optimizer; }
  get outputs(): ReadonlyArray<{ shape: number[] }> { return this.net.outputs; }
  get compiledMetrics(): readonly MetricName[] { return []; }
  getWeights(): Tensor[] { return this.net.getWeights(); }
  setWeights(w: Tensor[]): void { this.net.setWeights(w); }
  evaluate(): Logs {
    throw new Error('edgegrad.pretrain: contrastive pretraining has no labelled validation data');
  }

  trainingPlan(batch: number, training: boolean): TrainPlan {
    const key = `${training}:${batch}`;
    const cached = this.plans.get(key);
    if (cached && !cached.plan.stale) return cached;
    cached?.plan.dispose();
    const g0 = new Graph();
    const x = g0.input('x', [-1, ...this.backbone.inputShapeOf]);
    const view = (): number => {
      let h = x;
      for (const l of this.aug) h = l.addTo(g0, [h])[0];
      h = this.backbone.addTo(g0, [h])[0];
      for (const l of this.head) h = l.addTo(g0, [h])[0];
      return h;
    };
    const z1 = view(), z2 = view();
    g0.outputs = [z1, z2];
    const g = optimizeForInference(g0, { frozenOnly: true });
    // the fit loop feeds labels; there are none: a column of zeros the loss does not read
    const y = g.input('y', [-1, 1]);
    const [lossV, d1, d2] = g.node('ntXentLoss', [z1, z2], { temperature: this.tau }, 'nt_xent');
    const owners = new Map<Tensor, { weight: Weight; layer: Layer }>();
    for (const w of ownedWeights(this.net)) owners.set(w.weight.tensor, w);
    const grads: TrainPlan['grads'] = [];
    if (training) {
      const wrt = g.values.filter((v) => v.kind === 'param' && v.trainable && owners.has(v.tensor!)).map((v) => v.id);
      for (const [pid, gid] of buildBackward(g, new Map([[z1, d1], [z2, d2]]), wrt)) grads.push({ ...owners.get(g.values[pid].tensor!)!, grad: gid });
    }
    g.outputs = [z1, lossV];
    const plan = new Plan(g, { batch, training, keep: [y, ...grads.map((gr) => gr.grad)] });
    const tp: TrainPlan = { plan, x, xs: [x], y, pred: z1, loss: lossV, grads };
    this.plans.set(key, tp);
    return tp;
  }

  dispose(): void {
    for (const p of this.plans.values()) p.plan.dispose();
    this.plans.clear();
  }
}

/** Pretrain `backbone` (a model over the same layers as the caller's) contrastively on x (checked by the caller). */
export async function pretrainContrastive(backbone: Model, x: Tensor, args: PretrainArgs): Promise<PretrainLayerReport> {
  const t0 = performance.now();
  const tau = args.temperature ?? 0.5;
  if (!(typeof tau === 'number' && tau > 0 && Number.isFinite(tau))) throw new Error(`edgegrad.pretrain: temperature must be a number > 0, got ${String(args.temperature)}`);
  const units = args.projection ?? [64, 32];
  if (!Array.isArray(units) || !units.length || !units.every((u) => Number.isInteger(u) && u > 0)) {
    throw new Error(`edgegrad.pretrain: projection must be a non-empty list of positive integers (the head's units), got ${JSON.stringify(args.projection)}`);
  }
  const aug = args.augmentation ?? defaultAugmentation(backbone.inputShapeOf, args.seed);
  if (!Array.isArray(aug) || aug.some((l) => !(l && typeof (l as Layer).addTo === 'function'))) throw new Error('edgegrad.pretrain: augmentation must be a list of layers (eg.layers.randomTranslation(...), ...)');
  const repShape = backbone.outputs[0].shape.slice(1);
  const head: Layer[] = [];
  if (repShape.length > 1) head.push(new Flatten({ name: 'projection/flatten' }));
  units.forEach((u, i) => head.push(new Dense({ units: u, activation: i < units.length - 1 ? 'relu' : 'linear', name: `projection/dense_${i}`, seed: args.seed === undefined ? undefined : args.seed + 100 + i })));
  // the backbone and the head as one model: its optimizer trains both, the callbacks see its weights
  const inp = symbolicInput({ shape: backbone.inputShapeOf, name: 'contrastive_input' });
  let t = backbone.apply(inp);
  for (const l of head) t = l.apply(t);
  const net = new Model({ inputs: inp, outputs: t, name: `${backbone.name}/contrastive` });
  net.compile({ optimizer: new Adam({ learningRate: args.learningRate ?? 1e-3 }), loss: 'meanSquaredError' });
  const trainee = new ContrastiveTrainee(net, backbone, head, aug, tau);
  const n = x.shape[0];
  const none = Tensor.empty([n, 1]);
  none.view().fill(0);
  try {
    const h = await fitLoop(trainee, x, none, n, args.batchSize ?? 32, {
      epochs: args.epochs ?? 5, batchSize: args.batchSize ?? 32, shuffle: args.shuffle, seed: args.seed, callbacks: args.callbacks,
      signal: args.signal, yieldEvery: args.yieldEvery, onDivergence: args.onDivergence,
    });
    const last = backbone.layers.at(-1)!;
    return {
      layer: last.name, method: 'contrastive', loss: h.history.loss ?? [],
      decoder: `projection head ${head.map((l) => (l instanceof Dense ? `dense(${l.units}, ${l.activation})` : 'flatten')).join(' -> ')}, views by ${aug.map((l) => l.name).join(', ')}`,
      inputShape: x.shape.slice(), seconds: (performance.now() - t0) / 1000, ...(h.warnings ? { warnings: h.warnings } : {}),
    };
  } finally {
    trainee.dispose();
    net.dispose();
    none.dispose();
    for (const l of head) for (const w of l.weights) w.tensor.dispose();
  }
}
