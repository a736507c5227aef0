// Tiled WGSL for the webgpu backend's GEMM and convolutions (issue 11). One template, four operand readers:
// a workgroup of 64 threads as 8x8 computes a TM x TN tile of C, each thread an RM x RN block held in vec4
// accumulators; A and B are staged through workgroup memory BK values of K at a time. Convolution is an
// implicit GEMM over NHWC: the A (or B) tile is gathered straight from the input (padding reads 0), no im2col
// is written. Every output still sums its K products in ascending k with fma, in the order of the
// one-thread-per-output kernels in ./kernels.ts (the convolution's bias is added last here, first there).
//
// The WGSL here calls act() / epi() / geom() from the head its caller prepends (./kernels.ts: ACT, GEOM).

/** A tile: 8x8 threads, each computing rm x rn outputs (4 or 8: one or two vec4 per row), K staged bk at a time. */
export interface Tile {
  rm: 4 | 8;
  rn: 4 | 8;
  bk: 8 | 16 | 32;
}

/**
 * The implicit GEMMs: C[M, N] (G groups) = A[M, K] B[K, N].
 * - gemm: A, B strided matrices (either transposed), alpha, beta, bias, the GEMM epilogue.
 * - convForward: rows = output pixels, K = (ky, kx, ci), columns = output channels of a group.
 * - convBackwardInput: rows = input pixels, K = (ky, kx, output channel), columns = input channels of a group.
 * - convBackwardFilter: rows = filter taps (ky, kx, ci), K = output pixels (the reduction), columns = output channels.
 */
export type TiledKind = 'gemmNN' | 'gemmNT' | 'gemmTN' | 'gemmTT' | 'convForward' | 'convBackwardInput' | 'convBackwardFilter';

/** Whether a kind precomputes a per-row record (where an A row starts in the input) in workgroup memory. */
const ROWS: Record<TiledKind, boolean> = {
  gemmNN: false, gemmNT: false, gemmTN: false, gemmTT: false, convForward: true, convBackwardInput: true, convBackwardFilter: true,
};

/** Bytes of workgroup memory a kind's tile uses (f16: the A and B tiles staged as halves). */
export function tileBytes(kind: TiledKind, t: Tile, f16 = false): number {
  const tm = 8 * t.rm, tn = 8 * t.rn;
  return (tm + tn) * t.bk * (f16 ? 2 : 4) + (ROWS[kind] ? tm * 16 : 0);
}

/**
 * The tile for a problem, or undefined where the naive kernel is the better choice (a small or thin
 * problem leaves a tile mostly empty) or no tile fits the device's workgroup storage. The largest blocks
 * per thread (8 rows / columns: more multiply-adds per value staged) that still make `fill` workgroups
 * (enough to keep the device's cores busy), then K steps as deep as the storage allows (fewer barriers).
 */
export function chooseTile(kind: TiledKind, storage: number, M: number, N: number, G: number, fill = 64): Tile | undefined {
  if (tiling.force !== undefined) return tiling.force && tileBytes(kind, tiling.force) <= storage ? tiling.force : undefined;
  if (M * N * G < SMALL || M < THIN || N < THIN) return undefined;
  const groups = (rm: number, rn: number) => Math.ceil(M / (8 * rm)) * Math.ceil(N / (8 * rn)) * G;
  const shapes = ([[8, 8], [8, 4], [4, 8], [4, 4]] as const).filter(([rm, rn]) =>
    (rm === 4 || M >= 64) && (rn === 4 || N >= 64) && (groups(rm, rn) >= fill || (rm === 4 && rn === 4)));
  for (const [rm, rn] of shapes) {
    for (const bk of [32, 16, 8] as const) {
      const t: Tile = { rm, rn, bk };
      if (tileBytes(kind, t) <= storage) return t;
    }
  }
  return undefined;
}

/**
 * @internal Tests (test/webgpu-tiled) force every tile shape and K step through the public ops, or the naive
 * kernels (null); undefined: chooseTile decides.
 */
export const tiling: { force?: Tile | null } = {};

/** Below this many outputs the one-thread-per-output kernel is as fast or faster (measured on SwiftShader). */
export const SMALL = 4096;
/**
 * Fewer rows or columns than this (a matrix-vector product, a depthwise convolution: one column per group)
 * leave a tile's 32 columns mostly idle: the one-thread-per-output kernel (measured).
 */
export const THIN = 8;

/** Threads to dispatch for a tiled kernel (64 per workgroup, a workgroup per tile per group). */
export function tiledThreads(t: Tile, M: number, N: number, G: number): number {
  return Math.ceil(M / (8 * t.rm)) * Math.ceil(N / (8 * t.rn)) * G * 64;
}

const cache = new Map<string, string>();

/** The WGSL of a tiled kind (after `head`, the helpers it calls), cached per kind and tile. */
export function tiledCode(kind: TiledKind, t: Tile, head: string): string {
  const key = `${kind} ${t.rm}x${t.rn}x${t.bk}`;
  let code = cache.get(key);
  if (!code) cache.set(key, code = head + template(t, ROWS[kind], OPERANDS[kind]));
  return code;
}

/**
 * The kinds with a float16 variant: B is a weight, untransposed (a dense layer's or a MatMul's B, a 1x1
 * convolution's filter as a GEMM's B, the forward convolution's filter); the graph has no other f16 readers.
 */
export type HalfKind = 'gemmNN' | 'convForward';

/**
 * The float16 variant of a kind (shader-f16; loadModel's compute: 'float16'): B is read from packed halves
 * (two per word, element 2k in the low half of word k; its argument word is the words' f32 offset), the A
 * tile is converted to f16 as it is staged, the products are f16 and the sums f32 (mixed precision: K runs
 * to thousands, and an f16 sum of that many terms would lose the small ones). The epilogue stays f32.
 */
export function tiledCodeF16(kind: HalfKind, t: Tile, head: string): string {
  const key = `${kind} ${t.rm}x${t.rn}x${t.bk} f16`;
  let code = cache.get(key);
  if (!code) cache.set(key, code = `enable f16;\n${head}${HALF_AT}${template(t, ROWS[kind], HALF_OPERANDS[kind], true)}`);
  return code;
}

/**
 * How one kind reads its operands and writes C. Each operand is read through a key per k (aKey / bKey: what
 * depends on k alone, computed once per staged k where a thread keeps one k) and a load per row or column
 * (aLoad / bLoad, given the row / column within the tile and the key; 0 outside the matrix). `fastA` /
 * `fastB` say which index runs along memory: 'k' (each thread stages one k and many rows: one key per
 * tile) or 'x' (each thread stages one row and many k: adjacent threads read adjacent words).
 */
interface Operands {
  fastA: 'k' | 'x';
  fastB: 'k' | 'x';
  /** WGSL: dims() -> vec4u (M, N, K, G), rowsInit(l) (l < TM), the A and B keys and loads, store(m, n, v). */
  code: string;
}

/** u32 key for "k is past K". */
const NONE = '0xffffffffu';

// GEMM: args u: tA tB M N K A lda B ldb C ldc bias act; f: alpha beta p (as the naive GEMM in ./kernels.ts)
const GEMM_COMMON = /* wgsl */ `
fn dims() -> vec4u { return vec4u(ai(2u), ai(3u), ai(4u), 1u); }
fn rowsInit(l: u32) {}
fn store(m: u32, n: u32, s: f32) {
  let C = ai(9u) + m * ai(10u) + n;
  var v = af(13u) * s;
  if (af(14u) != 0.0) { v += af(14u) * mem[C]; }
  if (ai(11u) != 0u) { v += mem[ai(11u) + n]; }
  mem[C] = epi(ai(12u), v, af(15u));
}`;
/** A[m, k]: row-major (lda per row) or transposed (lda per k). */
const GEMM_A = (t: boolean) => t
  ? `fn aKey(k: u32) -> u32 { return select(${NONE}, k * ai(6u), k < ai(4u)); }
fn aLoad(l: u32, q: u32) -> f32 { let m = tileM + l; if (m >= ai(2u) || q == ${NONE}) { return 0.0; } return mem[ai(5u) + q + m]; }`
  : `fn aKey(k: u32) -> u32 { return select(${NONE}, k, k < ai(4u)); }
fn aLoad(l: u32, q: u32) -> f32 { let m = tileM + l; if (m >= ai(2u) || q == ${NONE}) { return 0.0; } return mem[ai(5u) + m * ai(6u) + q]; }`;
/** B[k, n]: row-major (ldb per k) or transposed (ldb per column). */
const GEMM_B = (t: boolean) => t
  ? `fn bKey(k: u32) -> u32 { return select(${NONE}, k, k < ai(4u)); }
fn bLoad(l: u32, q: u32) -> f32 { let n = tileN + l; if (n >= ai(3u) || q == ${NONE}) { return 0.0; } return mem[ai(7u) + n * ai(8u) + q]; }`
  : `fn bKey(k: u32) -> u32 { return select(${NONE}, k * ai(8u), k < ai(4u)); }
fn bLoad(l: u32, q: u32) -> f32 { let n = tileN + l; if (n >= ai(3u) || q == ${NONE}) { return 0.0; } return mem[ai(7u) + q + n]; }`;
const gemm = (tA: boolean, tB: boolean, b: (t: boolean) => string = GEMM_B): Operands => ({
  fastA: tA ? 'x' : 'k', fastB: tB ? 'k' : 'x',
  code: GEMM_COMMON + '\n' + GEMM_A(tA) + '\n' + b(tB),
});

/**
 * Half h of the packed words from f32 offset `at` on. Not bitcast<vec2<f16>>: naga (wgpu: Deno, Firefox)
 * types that as f32 and refuses the shader; unpack2x16float then f16() is exact (every half is an f32).
 */
export const HALF_AT = /* wgsl */ `
fn halfAt(at: u32, h: u32) -> f16 {
  let v = unpack2x16float(bitcast<u32>(mem[at + h / 2u]));
  return f16(select(v.x, v.y, (h & 1u) == 1u));
}`;
/** B[k, n] as GEMM_B (untransposed), from packed halves. */
const GEMM_B16 = () => `fn bKey(k: u32) -> u32 { return select(${NONE}, k * ai(8u), k < ai(4u)); }
fn bLoad(l: u32, q: u32) -> f16 { let n = tileN + l; if (n >= ai(3u) || q == ${NONE}) { return 0.0h; } return halfAt(ai(7u), q + n); }`;

/**
 * An input pixel of x (NHWC) from two halves of its address: r and q each carry (element offset, y, x, valid)
 * and add up to the pixel; outside the image (padding) it reads 0. args: geometry, then x at word 16.
 */
const X_AT = /* wgsl */ `
fn xAt(r: vec4<i32>, q: vec4<i32>) -> f32 {
  let iy = r.y + q.y; let ix = r.z + q.z;
  if (r.w == 0 || q.w == 0 || u32(iy) >= ai(1u) || u32(ix) >= ai(2u)) { return 0.0; }
  return mem[ai(16u) + u32(r.x + q.x)];
}
/** Where output pixel p's window starts in x (group g's channels), as xAt's half. */
fn windowAt(p: u32, ok: bool) -> vec4<i32> {
  let q = geom(); let ohw = q.OH * q.OW;
  let n = p / ohw; let oy = (p % ohw) / q.OW; let ox = p % q.OW;
  let iy = i32(oy * q.SH) - i32(q.PT); let ix = i32(ox * q.SW) - i32(q.PL);
  return vec4<i32>(i32(n * q.H * q.W * q.C + grp * (q.C / q.G)) + (iy * i32(q.W) + ix) * i32(q.C), iy, ix, select(0, 1, ok));
}
/** Filter tap t = (ky, kx, ci) as xAt's other half. */
fn tapAt(t: u32, ok: bool) -> vec4<i32> {
  let q = geom(); let Cg = q.C / q.G;
  let ci = t % Cg; let kx = (t / Cg) % q.KW; let ky = t / (Cg * q.KW);
  let dy = i32(ky * q.DH); let dx = i32(kx * q.DW);
  return vec4<i32>((dy * i32(q.W) + dx) * i32(q.C) + i32(ci), dy, dx, select(0, 1, ok));
}`;

// forward: geometry, then x w bias y act; f: p. A = im2col(x) by gather, B = the filter [KH KW C/G, CO]
const convForward = (b: string): Operands => ({
  fastA: 'k', fastB: 'x',
  code: X_AT + /* wgsl */ `
fn dims() -> vec4u { let q = geom(); return vec4u(q.N * q.OH * q.OW, q.CO / q.G, q.KH * q.KW * (q.C / q.G), q.G); }
fn rowsInit(l: u32) { rows[l] = windowAt(tileM + l, tileM + l < dims().x); }
fn aKey(k: u32) -> vec4<i32> { return tapAt(k, k < dims().z); }
fn aLoad(l: u32, q: vec4<i32>) -> f32 { return xAt(rows[l], q); }
${b}
fn store(m: u32, n: u32, s: f32) {
  let co = grp * (ai(15u) / ai(14u)) + n;
  var v = s;
  if (ai(18u) != 0u) { v += mem[ai(18u) + co]; }
  mem[ai(19u) + m * ai(15u) + co] = act(ai(20u), v, af(21u));
}`,
});
const CONV_FORWARD = convForward(/* wgsl */ `fn bKey(k: u32) -> u32 { return select(${NONE}, k * ai(15u), k < dims().z); }
fn bLoad(l: u32, q: u32) -> f32 {
  let COg = ai(15u) / ai(14u); let n = tileN + l;
  if (n >= COg || q == ${NONE}) { return 0.0; }
  return mem[ai(17u) + q + grp * COg + n];
}`);

// dx: geometry, then dy w dx. A = dy gathered through the windows each input pixel fell in (ky, kx, output
// channel j), B[(ky, kx, j), ci] = w[ky, kx, ci, g COg + j] (the filter read transposed)
const CONV_BACKWARD_INPUT: Operands = {
  fastA: 'k', fastB: 'k',
  code: /* wgsl */ `
fn dims() -> vec4u { let q = geom(); return vec4u(q.N * q.H * q.W, q.C / q.G, q.KH * q.KW * (q.CO / q.G), q.G); }
fn rowsInit(l: u32) {
  // (dy offset of the image and group, y + PT, x + PL, valid)
  let q = geom(); let p = tileM + l;
  let n = p / (q.H * q.W); let y = (p / q.W) % q.H; let x = p % q.W;
  rows[l] = vec4<i32>(i32(n * q.OH * q.OW * q.CO + grp * (q.CO / q.G)), i32(y + q.PT), i32(x + q.PL), select(0, 1, p < dims().x));
}
fn aKey(k: u32) -> vec4<i32> {
  let q = geom(); let COg = q.CO / q.G;
  let j = k % COg; let kx = (k / COg) % q.KW; let ky = k / (COg * q.KW);
  return vec4<i32>(i32(j), i32(ky * q.DH), i32(kx * q.DW), select(0, 1, k < dims().z));
}
fn aLoad(l: u32, k: vec4<i32>) -> f32 {
  // the output pixel (oy, ox) whose tap (ky, kx) read this input pixel, if the strides land on one
  let q = geom(); let r = rows[l];
  let ny = r.y - k.y; let nx = r.z - k.z;
  if (r.w == 0 || k.w == 0 || ny < 0 || nx < 0) { return 0.0; }
  let oy = u32(ny) / q.SH; let ox = u32(nx) / q.SW;
  if (oy * q.SH != u32(ny) || ox * q.SW != u32(nx) || oy >= q.OH || ox >= q.OW) { return 0.0; }
  return mem[ai(16u) + u32(r.x) + (oy * q.OW + ox) * q.CO + u32(k.x)];
}
fn bKey(k: u32) -> u32 {
  let q = geom(); let COg = q.CO / q.G;
  return select(${NONE}, (k / COg) * (q.C / q.G) * q.CO + grp * COg + k % COg, k < dims().z);
}
fn bLoad(l: u32, k: u32) -> f32 {
  let ci = tileN + l;
  if (ci >= dims().y || k == ${NONE}) { return 0.0; }
  return mem[ai(17u) + k + ci * ai(15u)];
}
fn store(m: u32, n: u32, s: f32) { mem[ai(18u) + m * ai(3u) + grp * (ai(3u) / ai(14u)) + n] = s; }`,
};

// dw: geometry, then x dy dw. Rows are filter taps, the reduction runs over output pixels:
// A[t, p] = x at tap t of pixel p's window, B[p, co] = dy[p, g COg + co]
const CONV_BACKWARD_FILTER: Operands = {
  fastA: 'k', fastB: 'x',
  code: X_AT + /* wgsl */ `
fn dims() -> vec4u { let q = geom(); return vec4u(q.KH * q.KW * (q.C / q.G), q.CO / q.G, q.N * q.OH * q.OW, q.G); }
fn rowsInit(l: u32) { rows[l] = tapAt(tileM + l, tileM + l < dims().x); }
fn aKey(k: u32) -> vec4<i32> { return windowAt(k, k < dims().z); }
fn aLoad(l: u32, q: vec4<i32>) -> f32 { return xAt(rows[l], q); }
fn bKey(k: u32) -> u32 { return select(${NONE}, k * ai(15u), k < dims().z); }
fn bLoad(l: u32, q: u32) -> f32 {
  let COg = ai(15u) / ai(14u); let n = tileN + l;
  if (n >= COg || q == ${NONE}) { return 0.0; }
  return mem[ai(17u) + q + grp * COg + n];
}
fn store(m: u32, n: u32, s: f32) { mem[ai(18u) + m * ai(15u) + grp * (ai(15u) / ai(14u)) + n] = s; }`,
};

const OPERANDS: Record<TiledKind, Operands> = {
  gemmNN: gemm(false, false), gemmNT: gemm(false, true), gemmTN: gemm(true, false), gemmTT: gemm(true, true),
  convForward: CONV_FORWARD, convBackwardInput: CONV_BACKWARD_INPUT, convBackwardFilter: CONV_BACKWARD_FILTER,
};

const HALF_OPERANDS: Record<HalfKind, Operands> = {
  gemmNN: gemm(false, false, GEMM_B16),
  convForward: convForward(/* wgsl */ `fn bKey(k: u32) -> u32 { return select(${NONE}, k * ai(15u), k < dims().z); }
fn bLoad(l: u32, q: u32) -> f16 {
  let COg = ai(15u) / ai(14u); let n = tileN + l;
  if (n >= COg || q == ${NONE}) { return 0.0h; }
  return halfAt(ai(17u), q + grp * COg + n);
}`),
};

/**
 * Stage one operand's BK x T slice into `dst` (vec4 along T): 64 threads, T * BK / 64 values each. With
 * fast 'k' a thread keeps one k (its key once) and steps over rows; with 'x' it keeps one row and steps over k.
 * `to`: a conversion of each loaded value ('f16': the f32 A operand staged as halves).
 */
function stage(dst: string, T: number, bk: number, fast: 'k' | 'x', key: string, load: string, origin: string, to = ''): string {
  const per = (T * bk) / 64;
  if (fast === 'k') {
    return `{
    let kl = lid % ${bk}u; let q = ${key}(${origin} + kl);
    for (var i = 0u; i < ${per}u; i++) {
      let l = lid / ${bk}u + ${64 / bk}u * i;
      ${dst}[kl * ${T / 4}u + l / 4u][l % 4u] = ${to}(${load}(l, q));
    }
  }`;
  }
  return `{
    let l = lid % ${T}u;
    for (var i = 0u; i < ${per}u; i++) {
      let kl = lid / ${T}u + ${64 / T}u * i;
      ${dst}[kl * ${T / 4}u + l / 4u][l % 4u] = ${to}(${load}(l, ${key}(${origin} + kl)));
    }
  }`;
}

/**
 * The kernel: workgroup w takes group w / tiles and the tile w % tiles of C. Thread (tx, ty) = (lid % 8,
 * lid / 8) owns rows 32 i + 4 ty + (0..3) and columns 32 j + 4 tx + (0..3), so its A and B values for one k
 * are one vec4 read each from workgroup memory, and the multiply-adds are vec4 fma (acc[i][j] += a[i] b[j]).
 *
 * The loads from the heap stay scalar: the heap is one `array<f32>` binding, and viewing the same buffer as
 * `array<vec4<f32>>` would be a second binding aliasing a writable one (WebGPU refuses that); operands also
 * start at any f32 offset with any leading dimension, so 16-byte alignment could not be assumed anyway.
 *
 * f16 (tiledCodeF16): A and B are staged as halves, and each product a[i] b[j] is an f16 vec4 multiply,
 * widened to f32 for the sum (f16 storage of the operands, f16 multiplies, f32 accumulation).
 */
function template(t: Tile, rows: boolean, o: Operands, f16 = false): string {
  const tm = 8 * t.rm, tn = 8 * t.rn, bk = t.bk, vm = t.rm / 4, vn = t.rn / 4;
  const lines: string[] = [];
  // the unrolled inner product: constant indices keep acc in registers
  for (let i = 0; i < vm; i++) lines.push(`let a${i} = As[kk * ${tm / 4}u + ${8 * i}u + ty];`);
  for (let j = 0; j < vn; j++) lines.push(`let b${j} = Bs[kk * ${tn / 4}u + ${8 * j}u + tx];`);
  for (let r = 0; r < t.rm; r++) {
    for (let j = 0; j < vn; j++) {
      lines.push(f16 ? `acc[${r * vn + j}] += vec4<f32>(a${r >> 2}[${r & 3}] * b${j});`
        : `acc[${r * vn + j}] = fma(vec4<f32>(a${r >> 2}[${r & 3}]), b${j}, acc[${r * vn + j}]);`);
    }
  }
  // the epilogue runs store() in a loop (it inlines the whole activation switch: 64 copies took SwiftShader
  // seconds to compile); a switch with constant indices copies one row of acc out, so acc stays in registers
  const pick: string[] = [];
  for (let r = 0; r < t.rm; r++) pick.push(`case ${r}u: { ${[0, 1].slice(0, vn).map((j) => `v${j} = acc[${r * vn + j}];`).join(' ')} }`);
  const out = `for (var r = 0u; r < ${t.rm}u; r++) {
    var v0: vec4<f32>; var v1: vec4<f32>;
    switch r { ${pick.join(' ')} default: {} }
    let m = tileM + (r / 4u) * 32u + 4u * ty + r % 4u;
    if (m >= d.x) { continue; }
    for (var c = 0u; c < 4u; c++) {
      let n = tileN + 4u * tx + c;
      if (n < d.y) { store(m, n, v0[c]); }${vn === 2 ? `
      if (n + 32u < d.y) { store(m, n + 32u, v1[c]); }` : ''}
    }
  }`;
  return /* wgsl */ `
var<workgroup> As: array<vec4<${f16 ? 'f16' : 'f32'}>, ${(bk * tm) / 4}>;
var<workgroup> Bs: array<vec4<${f16 ? 'f16' : 'f32'}>, ${(bk * tn) / 4}>;
${rows ? `var<workgroup> rows: array<vec4<i32>, ${tm}>;` : ''}
var<private> grp: u32;
var<private> tileM: u32;
var<private> tileN: u32;
${o.code}
@compute @workgroup_size(64) fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let d = dims();
  let tilesM = (d.x + ${tm - 1}u) / ${tm}u; let tilesN = (d.y + ${tn - 1}u) / ${tn}u;
  // a 1-D dispatch that may wrap into y (GpuHeap.run)
  let w = wg.x + wg.y * nw.x;
  if (w >= tilesM * tilesN * d.w) { return; }
  grp = w / (tilesM * tilesN);
  tileM = ((w % (tilesM * tilesN)) / tilesN) * ${tm}u;
  tileN = (w % tilesN) * ${tn}u;
  ${rows ? `if (lid < ${tm}u) { rowsInit(lid); }\n  workgroupBarrier();` : ''}
  let tx = lid % 8u; let ty = lid / 8u;
  var acc: array<vec4<f32>, ${t.rm * vn}>;
  for (var k0 = 0u; k0 < d.z; k0 += ${bk}u) {
    ${stage('As', tm, bk, o.fastA, 'aKey', 'aLoad', 'k0', f16 ? 'f16' : '')}
    ${stage('Bs', tn, bk, o.fastB, 'bKey', 'bLoad', 'k0')}
    workgroupBarrier();
    for (var kk = 0u; kk < ${bk}u; kk++) {
      ${lines.join('\n      ')}
    }
    workgroupBarrier();
  }
  ${out}
}`;
}
