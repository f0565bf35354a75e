/**
 * A primes run's id: what names its folder, `results/primes/<runId>/`. The fan-out makes one (lib/fanout/ec2/run.ts
 * newRunId: the time, then 12 hex digits) unless its caller chose one; either way it must be one safe S3 key segment.
 * Its own module so the run's input schema (./fanout-job.ts) checks it without loading the S3 reading code.
 */
import { z } from 'zod';

/** A run id as lib/fanout/ec2/run.ts newRunId makes them, or one a caller chose: one safe path segment. */
export const runIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a run id is letters, digits, ".", "_" and "-" (up to 128)');
