// Weight penalties (added to the loss and its gradient) and constraints (applied after each update).

export interface Regularizer { readonly l1: number; readonly l2: number }

function coef(v: number, what: string): number {
  if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new Error(`edgegrad.regularizers: '${what}' must be a non-negative number, got ${String(v)}`);
  return v;
}

export const regularizers = {
  /** l1 * sum |w| */
  l1: (l1 = 0.01): Regularizer => ({ l1: coef(l1, 'l1'), l2: 0 }),
  /** l2 * sum w^2: weight decay; its gradient 2 l2 w shrinks weights toward 0 each step */
  l2: (l2 = 0.01): Regularizer => ({ l1: 0, l2: coef(l2, 'l2') }),
  l1l2: (o: { l1?: number; l2?: number } = {}): Regularizer => ({ l1: coef(o.l1 ?? 0.01, 'l1'), l2: coef(o.l2 ?? 0.01, 'l2') }),
};

export interface Constraint { readonly name: 'maxNorm'; readonly maxValue: number }

export const constraints = {
  /** Max-norm (Srebro et al. 2005): the weights into each unit keep an L2 norm <= maxValue. */
  maxNorm: (o: { maxValue?: number } = {}): Constraint => {
    const maxValue = o.maxValue ?? 2;
    if (!(maxValue > 0)) throw new Error(`edgegrad.constraints.maxNorm: maxValue must be positive, got ${maxValue}`);
    return { name: 'maxNorm', maxValue };
  },
};
