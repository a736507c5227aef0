// The demo page (npm run demo) end to end in headless Chromium, as a user clicks through it: fine-tune the
// shipped digits-cnn to the digits 5-9 in a worker while the curves are drawn, draw a digit and predict it,
// quantize to int8 and compare, save to IndexedDB, cancel a second fit, then reload the page and find the
// saved model loaded with the same accuracy. A screenshot of the page is written to a temporary folder.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { encode as encodePng } from 'fast-png';
import { browserTests, launchChromium, root } from './browser.js';
// @ts-expect-error: a plain ES module, also run as a script (npm run demo)
import { startDemoServer } from '../scripts/demo.mjs';

type Page = Awaited<ReturnType<Awaited<ReturnType<typeof launchChromium>>['browser']['newPage']>>;

if (!browserTests) console.warn(`test/demo.test.ts: skipped: no Chromium at /usr/bin/chromium (bash .ci/run installs it; under CI the test fails instead)`);

describe.skipIf(!browserTests)('the demo page (npm run demo) in headless Chromium', () => {
  let server: Server, url: string, chrome: Awaited<ReturnType<typeof launchChromium>>, page: Page;
  const errors: string[] = [];
  let shots: string; // the screenshots' folder
  // what the first fine-tune reached, checked again after the reload
  let trained = 0;

  const attr = async (selector: string, name: string) => page.getAttribute(selector, name);
  const num = async (selector: string, name: string) => Number(await attr(selector, name));
  const points = () => num('#loss-chart', 'data-points');

  beforeAll(async () => {
    expect(existsSync(join(root, 'dist', 'worker.js')), 'dist/ is not built: run npm run build').toBe(true);
    shots = mkdtempSync(join(tmpdir(), 'edgegrad-demo-'));
    ({ server, url } = await startDemoServer({ port: 0 }));
    chrome = await launchChromium(['--disable-gpu']);
    page = await chrome.browser.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(url);
    await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
  }, 60_000);

  afterAll(async () => {
    await chrome?.close();
    server?.close();
  });

  it('starts a worker and says what runs there; nothing is saved yet', async () => {
    expect(await attr('#status', 'data-backend')).toBe('wasm');
    expect(await page.textContent('#status')).toMatch(/backend wasm · build \w+ · threads \d/);
    expect(await page.locator('#saved li[data-name]').count()).toBe(0);
    expect(await page.isEnabled('#fit')).toBe(true);
    expect(await page.isEnabled('#predict-btn')).toBe(false);
  });

  it('fine-tunes in the worker with curves drawn as it goes, the page staying responsive, to >= 93% on the held-out 5-9', async () => {
    await page.fill('#epochs', '20');
    // the page's longest task while the worker trains (the charts are drawn here, the training is not)
    // seen two ways: the browser's long-task entries, and the largest gap between the turns of a 5 ms timer
    await page.evaluate(() => {
      const w = window as unknown as { longest: number; gap: number; beat: number };
      w.longest = 0; w.gap = 0;
      new PerformanceObserver((l) => { for (const e of l.getEntries()) w.longest = Math.max(w.longest, e.duration); }).observe({ type: 'longtask' });
      let last = performance.now();
      w.beat = setInterval(() => { const t = performance.now(); w.gap = Math.max(w.gap, t - last); last = t; }, 5) as unknown as number;
    });
    await page.click('#fit');
    // the curves grow while the fit runs: points appear before it ends
    await page.waitForFunction(() => Number(document.getElementById('loss-chart')!.dataset.points) >= 10, undefined, { timeout: 30_000 });
    const early = await points();
    await page.waitForSelector('#train-result[data-outcome]', { timeout: 60_000 });
    expect(await attr('#train-result', 'data-outcome')).toBe('done');
    // 20 epochs of 16 batches: a loss per batch, train and validation loss per epoch; accuracies per epoch
    expect(await points()).toBe(20 * 16 + 2 * 20);
    expect(early).toBeLessThan(await points());
    expect(await num('#acc-chart', 'data-points')).toBe(2 * 20);
    // the canvas has drawn curves: many coloured (not grey) pixels (measured about 3,000 at 500x240)
    const coloured = await page.evaluate(() => {
      const c = document.getElementById('loss-chart') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 40) n++;
      return n;
    });
    expect(coloured).toBeGreaterThan(1500);
    trained = await num('#train-result', 'data-accuracy');
    const { longest, gap } = await page.evaluate(() => {
      const w = window as unknown as { longest: number; gap: number; beat: number };
      clearInterval(w.beat);
      return { longest: w.longest, gap: w.gap };
    });
    console.log(`demo: ${coloured} coloured pixels in the loss chart; fine-tuned 20 epochs in ${await attr('#train-result', 'data-seconds')} s, held-out accuracy ${trained.toFixed(4)}; ${await points()} points drawn (${early} seen mid-fit); on the page: longest task ${longest.toFixed(0)} ms, largest timer gap ${gap.toFixed(0)} ms`);
    expect(trained).toBeGreaterThanOrEqual(0.93); // measured 0.951 (deterministic: seeded head and shuffles)
    expect(longest).toBeLessThanOrEqual(100);
    expect(gap).toBeLessThanOrEqual(150);
    expect(await num('#model-info', 'data-accuracy')).toBe(trained);
  }, 60_000);

  it('predicts a 7 drawn with the mouse: probabilities over 5-9 that sum to 1, shown as bars', async () => {
    const box = (await page.locator('#pad').boundingBox())!;
    const at = (x: number, y: number) => [box.x + (x / 280) * box.width, box.y + (y / 280) * box.height] as const;
    // a 7: the bar from left to right, then the stem down to the lower left
    await page.mouse.move(...at(70, 60));
    await page.mouse.down();
    await page.mouse.move(...at(210, 60), { steps: 12 });
    await page.mouse.move(...at(120, 230), { steps: 16 });
    await page.mouse.up();
    await page.click('#predict-btn');
    await page.waitForSelector('#probs[data-probs]');
    const probs = JSON.parse((await attr('#probs', 'data-probs'))!) as number[];
    console.log(`demo: the drawn 7: ${probs.map((p, k) => `${k + 5}: ${p.toFixed(3)}`).join(', ')}`);
    expect(probs).toHaveLength(5);
    expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(await attr('#probs', 'data-top')).toBe('7');
    expect(await page.locator('#probs .bar').count()).toBe(5);
    // what the model saw: ink in the 28x28 preview
    const ink = await page.evaluate(() => {
      const c = document.getElementById('preview') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++;
      return n / (d.length / 4);
    });
    expect(ink).toBeGreaterThan(0.05);
    expect(ink).toBeLessThan(0.5);
  });

  it('reads an image given to the file input (dark ink on light paper, 3x the size): a held-out 9 is a 9', async () => {
    const eg = (await import(join(root, 'dist', 'index.js'))) as typeof import('../src/index.js');
    const d = await eg.data.loadDigits();
    let n = 8000;
    while (d.labels[n] !== 9) n++;
    const px = d.images.dataSync().subarray(n * 784, (n + 1) * 784);
    // 84x84 grey: paper 255, ink 0 (the page must invert it and scale it back to 20x20 in 28x28)
    const big = new Uint8Array(84 * 84);
    for (let y = 0; y < 84; y++) for (let x = 0; x < 84; x++) big[y * 84 + x] = Math.round(255 * (1 - px[Math.floor(y / 3) * 28 + Math.floor(x / 3)]));
    const png = encodePng({ width: 84, height: 84, data: big, channels: 1, depth: 8 });
    await page.evaluate(() => { delete document.getElementById('probs')!.dataset.probs; });
    await page.setInputFiles('#file', { name: `digit-${n}.png`, mimeType: 'image/png', buffer: Buffer.from(png) });
    await page.waitForSelector('#probs[data-probs]');
    const probs = JSON.parse((await attr('#probs', 'data-probs'))!) as number[];
    console.log(`demo: held-out image ${n} (a 9) as a PNG: ${probs.map((p, k) => `${k + 5}: ${p.toFixed(3)}`).join(', ')}`);
    expect(await attr('#probs', 'data-top')).toBe('9');
  });

  it('quantizes to int8: more than 3x smaller, accuracy within 2 points of float', async () => {
    await page.click('#quantize-btn');
    await page.waitForSelector('#quant-table:not([hidden])', { timeout: 30_000 });
    const row = async (id: string) => ({ bytes: await num(id, 'data-bytes'), ms: await num(id, 'data-ms'), accuracy: await num(id, 'data-accuracy') });
    const f = await row('#q-float'), q = await row('#q-int8');
    console.log(`demo: float32 ${f.bytes} B, ${f.ms.toFixed(1)} ms per 256, accuracy ${f.accuracy.toFixed(4)}; int8 ${q.bytes} B (${(f.bytes / q.bytes).toFixed(2)}x smaller), ${q.ms.toFixed(1)} ms, accuracy ${q.accuracy.toFixed(4)}`);
    expect(f.accuracy).toBe(trained);
    expect(f.bytes / q.bytes).toBeGreaterThan(3);
    expect(Math.abs(f.accuracy - q.accuracy)).toBeLessThanOrEqual(0.02);
    expect(f.ms).toBeGreaterThan(0);
    expect(q.ms).toBeGreaterThan(0);
    expect(await page.textContent('#q-ratio .size')).toMatch(/x smaller/);
  }, 30_000);

  it('saves the model to IndexedDB and lists it', async () => {
    await page.click('#save');
    await page.waitForSelector('#save-status[data-saved]');
    await page.waitForSelector('#saved li[data-name="digits-5-9"]');
    const shot = join(shots, 'demo.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`demo: screenshot ${shot}`);
  });

  it('cancels a long fit within a batch; the model stays usable', async () => {
    await page.fill('#epochs', '500');
    await page.click('#fit');
    // two epochs in (their validation points drawn), of 500
    await page.waitForFunction(() => Number(document.getElementById('acc-chart')!.dataset.points) >= 4, undefined, { timeout: 30_000 });
    expect(await page.isEnabled('#cancel')).toBe(true);
    const t0 = Date.now();
    await page.click('#cancel');
    await page.waitForSelector('#train-result[data-outcome]', { timeout: 10_000 });
    const seen = Date.now() - t0;
    const stopMs = await num('#train-result', 'data-stop-ms'), batchesAfter = await num('#train-result', 'data-batches-after-cancel');
    const after = await num('#train-result', 'data-accuracy');
    console.log(`demo: cancel stopped the fit ${stopMs.toFixed(1)} ms after the click, ${batchesAfter} batch(es) reported after it (${seen} ms seen from the test, the held-out evaluation included); accuracy then ${after.toFixed(4)}`);
    expect(await attr('#train-result', 'data-outcome')).toBe('cancelled');
    // promptly: a batch takes a few ms, so the reports counted after the click also include batches the worker
    // had finished and posted before the cancel reached it, queued at the page (1 on an idle machine, 3-4
    // under load, 16 once in a CI run whose fit stopped 22 ms after the click); an ignored cancel would go on
    // for thousands. The within-one-batch bar itself is test/worker.test.ts's
    expect(batchesAfter).toBeLessThanOrEqual(40);
    expect(stopMs).toBeLessThan(1000);
    expect(await points()).toBeLessThan(500 * 16);
    // the cancelled model predicts
    await page.evaluate(() => { delete document.getElementById('probs')!.dataset.probs; });
    await page.click('#predict-btn');
    await page.waitForSelector('#probs[data-probs]');
    expect(await attr('#probs', 'data-top')).toMatch(/^[5-9]$/);
    // it keeps what it learnt until the cancel (about 0.91 after two epochs)
    expect(after).toBeGreaterThan(0.8);
    expect(await page.isEnabled('#fit')).toBe(true);
  }, 30_000);

  it('a fine-tune cancelled before its first epoch ends keeps the model that was there; 0 epochs is refused', async () => {
    const before = { source: await attr('#model-info', 'data-source'), accuracy: await attr('#model-info', 'data-accuracy') };
    await page.evaluate(() => { delete document.getElementById('train-result')!.dataset.outcome; });
    await page.fill('#epochs', '500');
    await page.click('#fit');
    await page.click('#cancel');
    await page.waitForSelector('#train-result[data-outcome]', { timeout: 10_000 });
    expect(await attr('#train-result', 'data-outcome')).toBe('cancelled');
    expect(await page.textContent('#train-result')).toMatch(/the model before is kept/);
    expect({ source: await attr('#model-info', 'data-source'), accuracy: await attr('#model-info', 'data-accuracy') }).toEqual(before);
    await page.fill('#epochs', '0');
    await page.click('#fit');
    expect(await page.textContent('#train-result')).toMatch(/epochs must be a whole number from 1 to 500/);
    expect(await page.isEnabled('#fit')).toBe(true);
  }, 30_000);

  it('after a reload, finds the saved model in IndexedDB and loads it, with the accuracy it was saved with', async () => {
    await page.reload();
    await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
    expect(await page.locator('#saved li[data-name="digits-5-9"]').count()).toBe(1);
    expect(await attr('#model-info', 'data-source')).toBe('indexeddb://digits-5-9');
    expect(await num('#model-info', 'data-accuracy')).toBe(trained);
    expect(await page.isEnabled('#predict-btn')).toBe(true);
    const shot = join(shots, 'demo-reloaded.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`demo: after the reload: ${await page.textContent('#model-info')}; screenshot ${shot}`);
    expect(errors).toEqual([]);
  }, 40_000);
});
