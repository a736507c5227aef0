// Training that diverges with finite numbers: the NaN guard does not see it, so fit watches the epochs.

/**
 * Divergence with finite numbers: an epoch's loss 100x the lowest seen in this fit (its first batch, or a
 * better epoch): orders of magnitude up; or, with an accuracy metric over `classes`, accuracy back near
 * chance after it had clearly risen above it. Fed the first batch's loss, then each epoch's (`epoch` true);
 * returns what happened at an epoch, once, or undefined.
 */
export function divergenceWatch(classes: number): (loss: number, accuracy?: number, epoch?: boolean) => string | undefined {
  let bestLoss = Infinity, bestAcc = 0, warned = false;
  const chance = classes > 1 ? 1 / classes : 0.5;
  return (loss, accuracy, epoch = false) => {
    if (!epoch) { bestLoss = Math.min(bestLoss, loss); return undefined; }
    let why: string | undefined;
    if (bestLoss > 0 && Number.isFinite(bestLoss) && loss > 100 * bestLoss) why = `the loss rose to ${loss.toPrecision(3)} from ${bestLoss.toPrecision(3)}`;
    else if (accuracy !== undefined && bestAcc >= chance + 0.25 * (1 - chance) && accuracy <= chance + 0.05 * (1 - chance)) {
      why = `accuracy fell to ${(accuracy * 100).toFixed(1)}% (chance: ${(chance * 100).toFixed(1)}%) from ${(bestAcc * 100).toFixed(1)}%`;
    }
    bestLoss = Math.min(bestLoss, loss);
    if (accuracy !== undefined) bestAcc = Math.max(bestAcc, accuracy);
    if (!why || warned) return undefined;
    warned = true; // once per fit
    return why;
  };
}

