/**
 * The names serverless.yml gives a deployed stage's resources, for clients that reach a deployment from outside
 * (`cloud-parallel dashboard --stage dev`): the framework's `<service>-<stage>-<function>` function names, the
 * `dataBucket` param's default and the scraper's SSM parameter names. test/lib/stage.test.ts checks them against
 * serverless.yml. A deployment that overrode a param (`--param="dataBucket=…"`) is named with a flag instead.
 */
import { z } from 'zod';

export const SERVICE = 'cloud-parallel';

/** What `sls deploy --stage` accepts that also makes valid bucket and function names. */
export const stageSchema = z
  .string()
  .regex(/^[a-zA-Z0-9-]{1,16}$/, 'must be a stage name such as dev or prod (letters, digits and -, at most 16)');

export const regionSchema = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'must be an AWS region such as us-east-1');

export interface StageNames {
  stage: string;
  region: string;
  /** serverless.yml params.default.dataBucket. */
  bucket: string;
  /** serverless.yml params.default.mongodbUriParameter. */
  mongodbUriParameter: string;
  functionName: (key: string) => string;
}

export function stageNames(stage: string, region: string): StageNames {
  stageSchema.parse(stage);
  regionSchema.parse(region);
  return {
    stage,
    region,
    bucket: `${SERVICE}-${stage}-${region}-data`,
    mongodbUriParameter: `/${SERVICE}/${stage}/mongodb-uri`,
    functionName: (key) => `${SERVICE}-${stage}-${key}`,
  };
}
