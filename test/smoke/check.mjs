// The smoke check every runtime runs on the built package: a GEMM and a conv2d against plain loops.
// Shared by Node, Deno, Bun (run.mjs) and the browser page (page.html).
export async function check(eg) {
  const be = await eg.ready();
  const r = (seed) => () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296) - 0.5;
  const rand = (n, s) => Float32Array.from({ length: n }, r(s));
  // GEMM 37x29x53
  const M = 37, N = 29, K = 53;
  const a = rand(M * K, 1), b = rand(K * N, 2);
  const c = eg.matMul(eg.tensor(a, [M, K]), eg.tensor(b, [K, N])).dataSync();
  let gemmErr = 0;
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
    gemmErr = Math.max(gemmErr, Math.abs(s - c[i * N + j]));
  }
  // conv2d 3x3, stride 1, 'same', NHWC [1, 9, 8, 5] -> 6 channels
  const H = 9, W = 8, C = 5, CO = 6;
  const x = rand(H * W * C, 3), w = rand(9 * C * CO, 4);
  const y = eg.conv2d(eg.tensor(x, [1, H, W, C]), eg.tensor(w, [3, 3, C, CO]), 1, 'same').dataSync();
  let convErr = 0;
  for (let oy = 0; oy < H; oy++) for (let ox = 0; ox < W; ox++) for (let co = 0; co < CO; co++) {
    let s = 0;
    for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
      const iy = oy + ky - 1, ix = ox + kx - 1;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
      for (let ci = 0; ci < C; ci++) s += x[(iy * W + ix) * C + ci] * w[((ky * 3 + kx) * C + ci) * CO + co];
    }
    convErr = Math.max(convErr, Math.abs(s - y[(oy * W + ox) * CO + co]));
  }
  // The seeded generator's bits, as hex: must be identical in every runtime (and build).
  const bits = (t) => Array.from(new Uint32Array(t.dataSync().buffer), (v) => v.toString(16)).join('');
  const rng = bits(eg.randomNormal([64], 0, 1, 1234)) + bits(eg.randomUniform([64], -1, 1, 99)) + bits(eg.dropout(eg.ones([64]), 0.5, 7));
  // int8 GEMM 21x19x45 with 7-bit weights: the relaxed build's i8 x i7 dot path where the engine gets it right
  const qa = Uint8Array.from({ length: 21 * 45 }, (_, i) => (i * 73 + 5) & 255);
  const qw = Int8Array.from({ length: 45 * 19 }, (_, i) => ((i * 41 + 3) % 128) - 64);
  const qy = eg.int8.matMul(qa, 21, 45, 17, qw, 19);
  let int8Wrong = 0;
  for (let i = 0; i < 21; i++) for (let j = 0; j < 19; j++) {
    let s = 0;
    for (let k = 0; k < 45; k++) s += (qa[i * 45 + k] - 17) * qw[k * 19 + j];
    if (s !== qy[i * 19 + j]) int8Wrong++;
  }
  const ok = gemmErr < 1e-4 && convErr < 1e-4 && int8Wrong === 0;
  return { ok, build: be.build, builds: eg.supportedBuilds(), gemmErr, convErr, int8Wrong, relaxedDot: be.relaxedDotOk(), int8Path: be.int8Path, rng };
}
