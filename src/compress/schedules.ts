// Pruning schedules, as TensorFlow Model Optimization defines them (tfmot.sparsity.keras.PolynomialDecay
// and ConstantSparsity): a function of the training step that says whether the masks are recomputed at
// that step, and to which sparsity. Steps count optimizer steps (batches) from the start of pruning.

export interface PruningSchedule {
  readonly name: string;
  /** At optimizer step `step` (0-based): whether to recompute the masks now, and the target sparsity. */
  at(step: number): { prune: boolean; sparsity: number };
}

function fail(who: string, msg: string): never {
  throw new Error(`edgegrad.pruning.${who}: ${msg}`);
}

/** A sparsity in [0, 1) (1 would remove every weight of a layer), or an error naming the option. */
export function checkSparsity(v: unknown, who: string, what = 'sparsity'): number {
  if (!(typeof v === 'number' && v >= 0 && v < 1)) fail(who, `${what} must be a number in [0, 1), got ${JSON.stringify(v)}`);
  return v;
}

function checkSteps(who: string, begin: number, end: number, frequency: number, endMayBeOpen: boolean): void {
  if (!(Number.isInteger(begin) && begin >= 0)) fail(who, `beginStep must be an integer >= 0, got ${begin}`);
  if (!(Number.isInteger(frequency) && frequency >= 1)) fail(who, `frequency must be an integer >= 1, got ${frequency}`);
  if (endMayBeOpen && end === -1) return;
  if (!Number.isInteger(end)) fail(who, `endStep must be an integer${endMayBeOpen ? ' (or -1: no end)' : ''}, got ${end}`);
  if (!(end > begin)) fail(who, `endStep (${end}) must be after beginStep (${begin})`);
}

/** TF-MOT's _should_prune_in_step: inside [begin, end] (end -1: no end), every `frequency` steps from begin. */
function pruneTurn(step: number, begin: number, end: number, frequency: number): boolean {
  return step >= begin && (end < 0 || step <= end) && (step - begin) % frequency === 0;
}

/**
 * Polynomial decay (Zhu & Gupta 2017, "To prune, or not to prune", eq. 1; TF-MOT's PolynomialDecay): the
 * sparsity rises from initialSparsity at beginStep to finalSparsity at endStep as
 *   s(t) = s_f + (s_i - s_f) (1 - p)^power,   p = clamp((t - beginStep) / (endStep - beginStep), 0, 1),
 * fast at first while many small weights are left, slowly near the end. The masks are recomputed every
 * `frequency` steps from beginStep up to endStep (so endStep - beginStep should be a multiple of it for
 * the last update to reach finalSparsity). Defaults: power 3, frequency 100, as TF-MOT's.
 */
export function polynomialDecay(o: { initialSparsity?: number; finalSparsity: number; beginStep?: number; endStep: number; power?: number; frequency?: number }): PruningSchedule {
  const who = 'polynomialDecay';
  if (!o || typeof o !== 'object') fail(who, 'takes { initialSparsity, finalSparsity, beginStep, endStep, power, frequency }');
  const si = checkSparsity(o.initialSparsity ?? 0, who, 'initialSparsity'), sf = checkSparsity(o.finalSparsity, who, 'finalSparsity');
  const begin = o.beginStep ?? 0, end = o.endStep, power = o.power ?? 3, frequency = o.frequency ?? 100;
  checkSteps(who, begin, end, frequency, false);
  if (!(typeof power === 'number' && Number.isFinite(power) && power > 0)) fail(who, `power must be a positive number, got ${power}`);
  return {
    name: who,
    at: (step) => {
      const p = Math.min(1, Math.max(0, (step - begin) / (end - begin)));
      return { prune: pruneTurn(step, begin, end, frequency), sparsity: sf + (si - sf) * Math.pow(1 - p, power) };
    },
  };
}

/**
 * Constant sparsity (TF-MOT's ConstantSparsity): the masks are recomputed to targetSparsity every
 * `frequency` steps from beginStep (to endStep; -1, the default: to the end of training).
 */
export function constantSparsity(o: { targetSparsity: number; beginStep?: number; endStep?: number; frequency?: number }): PruningSchedule {
  const who = 'constantSparsity';
  if (!o || typeof o !== 'object') fail(who, 'takes { targetSparsity, beginStep, endStep, frequency }');
  const s = checkSparsity(o.targetSparsity, who, 'targetSparsity');
  const begin = o.beginStep ?? 0, end = o.endStep ?? -1, frequency = o.frequency ?? 100;
  checkSteps(who, begin, end, frequency, true);
  return { name: who, at: (step) => ({ prune: pruneTurn(step, begin, end, frequency), sparsity: s }) };
}
