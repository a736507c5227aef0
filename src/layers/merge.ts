// Layers that join branches of a functional model: add (residual connections) and concatenate.
import type { Graph } from '../graph/ir.js';
import { Layer, type LayerConfig } from './layer.js';

export class Add extends Layer {
  constructor(cfg: LayerConfig = {}) { super(cfg, 'add'); }
  protected call(g: Graph, inputs: number[]): number[] {
    if (inputs.length < 2) throw new Error(`edgegrad.layers.add '${this.name}': needs at least two inputs, got ${inputs.length}`);
    let acc = inputs[0];
    for (let i = 1; i < inputs.length; i++) acc = g.node('add', [acc, inputs[i]], {}, i === inputs.length - 1 ? this.name : `${this.name}_${i}`, this.name)[0];
    return [acc];
  }
}

export class Concatenate extends Layer {
  constructor(cfg: LayerConfig & { axis?: number } = {}) {
    super(cfg, 'concatenate');
    if (cfg.axis !== undefined && cfg.axis !== -1) throw new Error(`edgegrad.layers.concatenate: only the last axis (-1) is supported, got ${cfg.axis}`);
  }
  protected call(g: Graph, inputs: number[]): number[] {
    return g.node('concat', inputs, {}, this.name, this.name);
  }
}
