// Learning-rate schedules: a function of the optimizer's step count (0-based), and reduce-on-plateau
// (a callback, in callbacks.ts).

export interface Schedule {
  readonly name: string;
  at(step: number): number;
}

function positive(v: number, what: string): number {
  if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new Error(`edgegrad.schedules: '${what}' must be a positive number, got ${String(v)}`);
  return v;
}

/** Power scheduling: lr0 / (1 + step / decaySteps)^power (power 1 is Keras' InverseTimeDecay). */
export function powerDecay(o: { initialLearningRate: number; decaySteps: number; power?: number }): Schedule {
  const lr0 = positive(o.initialLearningRate, 'initialLearningRate'), s = positive(o.decaySteps, 'decaySteps'), c = o.power ?? 1;
  return { name: 'powerDecay', at: (t) => lr0 / Math.pow(1 + t / s, c) };
}

/** Exponential decay (Keras ExponentialDecay): lr0 * decayRate^(step / decaySteps), floored if staircase. */
export function exponentialDecay(o: { initialLearningRate: number; decaySteps: number; decayRate: number; staircase?: boolean }): Schedule {
  const lr0 = positive(o.initialLearningRate, 'initialLearningRate'), s = positive(o.decaySteps, 'decaySteps'), r = positive(o.decayRate, 'decayRate');
  return { name: 'exponentialDecay', at: (t) => lr0 * Math.pow(r, o.staircase ? Math.floor(t / s) : t / s) };
}

/** Piecewise constant (Keras PiecewiseConstantDecay): values[i] while step <= boundaries[i], the last after. */
export function piecewiseConstant(o: { boundaries: number[]; values: number[] }): Schedule {
  const { boundaries, values } = o;
  if (values.length !== boundaries.length + 1) {
    throw new Error(`edgegrad.schedules.piecewiseConstant: ${values.length} values for ${boundaries.length} boundaries (need one more value than boundaries)`);
  }
  for (let i = 1; i < boundaries.length; i++) if (!(boundaries[i] > boundaries[i - 1])) throw new Error('edgegrad.schedules.piecewiseConstant: boundaries must increase');
  return {
    name: 'piecewiseConstant',
    at: (t) => {
      for (let i = 0; i < boundaries.length; i++) if (t <= boundaries[i]) return values[i];
      return values[values.length - 1];
    },
  };
}
