import { aggregate, ProcessingMode } from 'mingo';
import type { Document } from 'bson';
import { CommandError, notSupported, typeMismatch } from '../protocol/errors.ts';
import { documentArray, isPlainObject, optionalCount, optionalDocument } from '../protocol/fields.ts';
import { runQuery, type PlanStage } from '../state/query.ts';
import { scaleOf, storageStats } from '../state/sizes.ts';
import type { CommandContext, CommandHandler } from './context.ts';

/** Aggregation stages of mongod this server does not have (mingo would only say "unregistered pipeline operator"). */
const STAGES_NOT_IMPLEMENTED = new Set([
  '$currentOp',
  '$listLocalSessions',
  '$listSessions',
  '$indexStats',
  '$planCacheStats',
  '$changeStream',
]);

/** Aggregation pipelines over a database's collections (the stages are mingo's); shared by aggregate and its explain. */
export interface PipelineRunner {
  /**
   * Where an aggregation's documents come from, and the stages left to run on them: `$collStats` makes its one
   * document; otherwise a leading `$match` goes through runQuery (uses the _id index, skips cloning what does not
   * match) and `plan` says how.
   */
  aggregationSource(
    db: string,
    body: Document,
  ): { documents: Document[]; stages: Document[]; plan?: PlanStage; filter?: Document };
  runStages(db: string, documents: Document[], stages: Document[]): Document[];
}

export function pipelineRunner(ctx: CommandContext): PipelineRunner {
  const { collectionOf, hostAndPort } = ctx;
  const aggregationSource = (
    db: string,
    body: Document,
  ): { documents: Document[]; stages: Document[]; plan?: PlanStage; filter?: Document } => {
    const target = body.aggregate;
    const pipeline = documentArray(body, 'pipeline');
    for (const [position, stage] of pipeline.entries()) {
      const name = Object.keys(stage)[0] ?? '';
      if (name === '$out' || name === '$merge') throw notSupported(name, 115, 'CommandNotSupported');
      if (STAGES_NOT_IMPLEMENTED.has(name)) throw notSupported(`The ${name} aggregation stage`, 40324, 'Location40324');
      if (name === '$collStats' && position > 0)
        throw new CommandError(40602, 'Location40602', '$collStats is only valid as the first stage in a pipeline');
    }
    const [first, ...rest] = pipeline;
    if (first && '$collStats' in first) return { documents: collStats(db, target, first.$collStats), stages: rest };
    const leadingMatch =
      first && Object.keys(first).length === 1 && isPlainObject(first.$match) ? first.$match : undefined;
    const collection = typeof target === 'string' ? collectionOf(db, target) : undefined;
    const { documents, plan } = runQuery(collection, leadingMatch ?? {});
    return { documents, stages: leadingMatch ? rest : pipeline, plan, filter: leadingMatch ?? {} };
  };

  const runStages = (db: string, documents: Document[], stages: Document[]): Document[] =>
    stages.length === 0
      ? documents
      : aggregate(documents, stages, {
          // Stages like $addFields would otherwise modify the stored documents.
          processingMode: ProcessingMode.CLONE_INPUT,
          collectionResolver: (name: string) => collectionOf(db, name)?.documents ?? [],
        });

  /** The document of `$collStats` (storageStats and count; latencyStats and queryExecStats are not kept here). */
  const collStats = (db: string, target: unknown, spec: unknown): Document[] => {
    if (!isPlainObject(spec)) throw typeMismatch('$collStats must take a nested object');
    if (typeof target !== 'string')
      throw new CommandError(73, 'InvalidNamespace', '$collStats must be run against a collection namespace');
    for (const option of Object.keys(spec)) {
      if (option === 'latencyStats' || option === 'queryExecStats')
        throw notSupported(`$collStats ${option}`, 115, 'CommandNotSupported');
      if (option !== 'storageStats' && option !== 'count') {
        throw new CommandError(40415, 'Location40415', `BSON field '$collStats.${option}' is an unknown field.`);
      }
    }
    const namespace = `${db}.${target}`;
    const collection = collectionOf(db, target);
    const stats: Document = { ns: namespace, host: hostAndPort(), localTime: new Date() };
    for (const option of ['storageStats', 'count']) {
      if (spec[option] === undefined) continue;
      if (!collection) {
        const message = `Unable to retrieve ${option} in $collStats stage :: caused by :: Collection [${namespace}] not found.`;
        throw new CommandError(26, 'NamespaceNotFound', message);
      }
      const options = isPlainObject(spec[option]) ? (spec[option] as Document) : {};
      stats[option] = option === 'count' ? collection.documents.length : storageStats(collection, scaleOf(options));
    }
    return [stats];
  };
  return { aggregationSource, runStages };
}

/** The aggregate command; `explain` answers its legacy `explain: true` form. */
export function aggregateCommands(ctx: CommandContext, explainCommand: CommandHandler): Record<string, CommandHandler> {
  const { cursorReply } = ctx;
  const { aggregationSource, runStages } = pipelineRunner(ctx);
  return {
    aggregate: (request) => {
      const { db, body } = request;
      // The legacy form of explaining a pipeline, answered like {explain: {aggregate…}, verbosity: 'queryPlanner'}.
      if (body.explain === true) {
        const { explain: _flag, ...inner } = body;
        return explainCommand({ ...request, body: { explain: inner, verbosity: 'queryPlanner' } });
      }
      const source = aggregationSource(db, body);
      const results = runStages(db, source.documents, source.stages);
      const cursorOptions = optionalDocument(body, 'cursor') ?? {};
      const namespace = typeof body.aggregate === 'string' ? `${db}.${body.aggregate}` : `${db}.$cmd.aggregate`;
      return cursorReply(namespace, results, optionalCount(cursorOptions, 'batchSize'));
    },
  };
}
