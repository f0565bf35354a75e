/**
 * The fan-out's speedup for real: π(end) in 1 chunk and in 2 chunks through the local stack's Lambda
 * (serverless-offline runs each invocation in its own worker thread), on the same machine in the same run.
 */
import { createLambdaClient } from '../lib/aws/lambda.ts';
import type { PrimesRunResult } from '../lib/primes/fanout-job.ts';
import { parsePrimesRunInput } from '../lib/primes/run-input.ts';
import { runPrimes, type PrimesTargets } from '../lib/primes/run.ts';
import { stackEnvironment } from '../local-stack/stack.ts';
import { formatTable } from '../cli/format.ts';
import { startStackInterruptibly } from '../cli/shared.ts';
import { median } from './report.ts';

export async function benchPrimesFanout(args: string[]): Promise<number> {
  const end = args.includes('--quick') ? 2e9 : 1e10;
  const runs = 3;
  // Ctrl-C stops the stack this bench started (cli/interrupt.ts).
  const { state, started, stop, release } = await startStackInterruptibly({
    onProgress: (m) => process.stderr.write(`  ${m}\n`),
  });
  Object.assign(process.env, stackEnvironment(state));
  const functionName = state.service.functions['primes-worker'];
  if (!functionName) throw new Error('serverless.yml has no primes-worker function');
  const targets: PrimesTargets = { lambda: { client: createLambdaClient(), functionName } };
  const rows: string[][] = [];
  try {
    // A first call loads the worker bundle into offline's threads, as a warm Lambda container would be.
    await runPrimes(parsePrimesRunInput({ start: 0, end: 1e6, chunks: 2 }), targets);
    const byChunks = new Map<number, PrimesRunResult[]>();
    for (let i = 0; i < runs; i++) {
      for (const chunks of [1, 2]) {
        const result = await runPrimes(parsePrimesRunInput({ start: 0, end, chunks }), targets);
        if (!result.complete) throw new Error(`fan-out failed: ${JSON.stringify(result.failedChunks)}`);
        byChunks.set(chunks, [...(byChunks.get(chunks) ?? []), result]);
        process.stderr.write(
          `  π(${end.toExponential()}) in ${chunks} chunk(s): ${result.count} in ${result.wallMs} ms wall, speedup ${result.speedup}×\n`,
        );
      }
    }
    const oneWall = median(byChunks.get(1)!.map((r) => r.wallMs));
    for (const [chunks, results] of byChunks) {
      const wall = median(results.map((r) => r.wallMs));
      rows.push([
        String(chunks),
        results[0]!.count.toLocaleString('en-US'),
        `${Math.round(wall)} ms`,
        `${median(results.map((r) => r.speedup)).toFixed(2)}×`,
        `${(oneWall / wall).toFixed(2)}×`,
      ]);
    }
  } finally {
    if (started) {
      await stop();
      release();
    }
  }
  process.stdout.write(
    `\nprimes fan-out through the local Lambda invoke API, π(${end.toExponential()}) (median of ${runs})\n` +
      formatTable(['chunks', 'count', 'wall', 'speedup (Σ worker / wall)', 'wall(1 chunk) ÷ wall'], rows) +
      'target: ≥ 1.8× with 2 chunks on this 2-core machine\n',
  );
  return 0;
}
