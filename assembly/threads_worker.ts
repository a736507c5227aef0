// The loop a pool worker's instance runs (threads.ts): wait for a job, do this thread's share, repeat.
import { workerWait, jobKind, startGeneration, JOB_STOP } from './threads';
import { gemmJob, JOB_GEMM } from './gemm_f32';
import { convJob, JOB_CONV } from './conv';
import { poolJob, JOB_POOL } from './pool';
import { qdwJob, JOB_QDW } from './dwconv_i8';
import { maskJob, JOB_MASK } from './act';

/** Runs until a JOB_STOP (or the worker is terminated); only a worker calls this, never the main thread. */
export function threadWorkerLoop(): void {
  let seen = startGeneration;
  while (true) {
    seen = workerWait(seen);
    const kind = jobKind();
    if (kind == JOB_STOP) return;
    // each job claims chunks until none is left (threads.ts claim)
    if (kind == JOB_GEMM) gemmJob();
    else if (kind == JOB_CONV) convJob();
    else if (kind == JOB_POOL) poolJob();
    else if (kind == JOB_QDW) qdwJob();
    else if (kind == JOB_MASK) maskJob();
  }
}
