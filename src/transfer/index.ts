// Transfer learning helpers: where to cut a backbone (sweepCuts), and how accuracy grows with labels (labelsCurve).
export { sweepCuts, cutCandidates, cutFeatures, type Backbone, type SweepCutsOptions, type CutSweep, type CutSweepRow } from './sweep.js';
export { labelsCurve, type LabelsCurvePoint } from './labels.js';
export { type HeadOptions, type HeadResult } from './head.js';
