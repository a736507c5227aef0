// An imported graph (a GraphModel) used as a layer: its nodes are inlined into the model that contains it,
// over the same weight tensors, so a pretrained backbone takes a new head and fine-tunes like any layer.
// As a layer it takes NHWC feature maps (the layout inside), whatever its boundary was in its file.
import type { Graph, Shape } from '../graph/ir.js';
import type { GraphModel } from '../graph-model.js';
import { Layer, type BatchNormMode, type Weight } from './layer.js';

export class GraphLayer extends Layer {
  private readonly ws: Weight[];

  /** The model's own lrScale (set on the model or on this layer, the same number). */
  override get lrScale(): number {
    return this.model.lrScale;
  }

  override set lrScale(v: number) {
    this.model.lrScale = v;
  }

  constructor(readonly model: GraphModel) {
    super({ name: model.name, inputShape: model.graph.values[model.graph.inputs[0]].shape.slice(1) }, 'graph');
    this.built = true;
    // parameters train, state (batch-norm running statistics) does not; only values its nodes read (a cut
    // graph still lists the values of the nodes it dropped)
    const used = new Set(model.graph.nodes.flatMap((n) => n.inputs));
    this.ws = model.graph.values
      .filter((v) => (v.kind === 'param' || v.kind === 'state') && used.has(v.id))
      .map((v) => ({ name: v.name, tensor: v.tensor!, trainable: v.kind === 'param' }));
  }

  override get weights(): Weight[] {
    return this.ws;
  }

  override isTrainable(w: Weight): boolean {
    return this.trainable && w.trainable && !this.model.isFrozen(w.tensor);
  }

  override get stochastic(): boolean {
    return this.model.graph.nodes.some((n) => n.op === 'dropout' || n.op === 'rrelu');
  }

  override get batchNormMode(): BatchNormMode {
    return this.model.batchNormMode;
  }

  protected override build(_s: Shape[]): void { /* the weights come with the graph */ }

  protected call(g: Graph, xs: number[]): number[] {
    const src = this.model.graph;
    if (xs.length !== src.inputs.length) {
      throw new Error(`edgegrad: graph '${this.name}' takes ${src.inputs.length} input${src.inputs.length === 1 ? '' : 's'} (${this.model.inputNames.join(', ')}), got ${xs.length}`);
    }
    const map = new Map<number, number>(src.inputs.map((id, k) => [id, xs[k]]));
    const val = (id: number): number => {
      const known = map.get(id);
      if (known !== undefined) return known;
      const v = src.values[id];
      if (v.kind === 'param') {
        const trainable = this.trainable && v.trainable !== false && !this.model.isFrozen(v.tensor!);
        map.set(id, g.param(`${this.name}/${v.name}`, v.tensor!, trainable, this.name));
      } else if (v.kind === 'state') {
        map.set(id, g.state(`${this.name}/${v.name}`, v.tensor!, this.name));
      } else {
        throw new Error(`edgegrad: graph '${this.name}': value '${v.name}' is read before it is computed`);
      }
      return map.get(id)!;
    };
    for (const n of src.nodes) {
      let attrs = n.attrs;
      if (n.op === 'batchNorm') {
        // a frozen batch norm normalizes with its moving statistics, in training too (as Keras does), and so
        // does a trainable one in inference mode
        const gamma = src.values[n.inputs[1]].tensor!;
        attrs = { ...attrs, frozen: !this.trainable || this.model.isFrozen(gamma) || this.model.batchNormMode === 'inference' };
      }
      const outs = g.node(n.op, n.inputs.map(val), attrs, `${this.name}/${n.name}`, this.name);
      n.outputs.forEach((o, k) => map.set(o, outs[k]));
    }
    return src.outputs.map((o) => map.get(o)!);
  }
}
