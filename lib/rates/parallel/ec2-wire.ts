/**
 * The two worker tasks (tasks.ts) as an EC2 instance receives them: an instance has no credentials, so every
 * object it reads or writes comes as a presigned URL instead of a key (ec2-tasks.ts makes them from the key-based
 * task; ec2-worker.ts runs them). Bucket and key still travel, for the messages only. Reads carry the ETag they
 * are conditional on: the GET is presigned with `If-Match` as a signed header, which the instance must send as
 * given, and the instance also compares the response's ETag, so a replaced object fails the task either way.
 */
import { z } from 'zod';
import { chunkReplyJsonSchema } from './reply.ts';
import { parseTaskSchema, statsTaskSchema } from './tasks.ts';

const count = z.number().int().min(0);
const url = z.url({ protocol: /^https?$/ });

export const ec2ParseTaskSchema = parseTaskSchema.omit({ source: true, output: true, parts: true }).extend({
  source: parseTaskSchema.shape.source.extend({ url }),
  /** Presigned PUTs of the chunk's two scratch objects. */
  output: z.strictObject({ csv: url, values: url }),
});
export type Ec2ParseTask = z.infer<typeof ec2ParseTaskSchema>;

export const ec2StatsTaskSchema = statsTaskSchema.extend({
  values: statsTaskSchema.shape.values.extend({ url }),
});
export type Ec2StatsTask = z.infer<typeof ec2StatsTaskSchema>;

export const ec2TaskSchema = z.discriminatedUnion('kind', [ec2ParseTaskSchema, ec2StatsTaskSchema]);
export type Ec2WorkerTask = z.infer<typeof ec2TaskSchema>;

/** What the instance wrote: bytes and the ETag its PUT answered (the keys are the coordinator's to fill in). */
const putSchema = z.strictObject({ bytes: count, eTag: z.string().min(1) });

export const ec2ParseAnswerSchema = z.strictObject({
  reply: chunkReplyJsonSchema,
  csv: putSchema,
  values: putSchema,
  ms: z.number().min(0),
});
export type Ec2ParseAnswer = z.infer<typeof ec2ParseAnswerSchema>;
