// The reference backend ('ref'): float32 storage in a plain ArrayBuffer heap, kernels in plain TypeScript
// with float64 accumulation that compute what the wasm kernels compute. It runs wherever JavaScript runs
// (an engine without WebAssembly), and the whole op suite runs on it beside the wasm builds: the model of
// how a backend registers itself (its kernel table here, its entry in src/backend/index.ts).
import { HeapBackend } from '../heap.js';
import { kernelTable } from '../backend.js';
import { RefMemory } from './memory.js';
import { gemmConvPoolKernels } from './gemm-conv-pool.js';
import { quantKernels } from './quant.js';
import { actNormLossKernels } from './act-norm-loss.js';
import { elementwiseRandomOptimKernels } from './elementwise-random-optim.js';
import { copyKernels } from './copy.js';
import { recurrentKernels } from './recurrent.js';
import { augmentKernels } from './augment.js';

export class RefBackend extends HeapBackend {
  readonly name = 'ref';
  readonly build = 'ref';

  private constructor(memory: RefMemory) {
    super(memory, kernelTable('ref', {
      ...gemmConvPoolKernels(memory),
      ...quantKernels(memory),
      ...actNormLossKernels(memory),
      ...elementwiseRandomOptimKernels(memory),
      ...copyKernels(memory),
      ...recurrentKernels(memory),
      ...augmentKernels(memory),
    }), 64);
  }

  static createSync(): RefBackend {
    return new RefBackend(new RefMemory());
  }
}
