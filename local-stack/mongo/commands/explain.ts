/**
 * explain: the plan a command followed here, in mongod's classic-engine terms (explainVersion 1). Each explained
 * command runs its query as the command would (so executionStats are real) but changes nothing: writes only count
 * what they would do.
 */
import os from 'node:os';
import { serialize, type Document } from 'bson';
import { GIT_VERSION, VERSION } from '../protocol/constants.ts';
import { CommandError, badValue, typeMismatch } from '../protocol/errors.ts';
import { criteriaOf, documentArray, optionalCount, optionalDocument, requireString } from '../protocol/fields.ts';
import { parsedQuery, runFind, runQuery, type PlanStage } from '../state/query.ts';
import { updateSpecOf, updatedDocument } from '../state/update.ts';
import { sameBytes } from '../state/values.ts';
import { pipelineRunner } from './aggregate.ts';
import type { CommandContext, CommandHandler } from './context.ts';
import { countOf } from './read.ts';

type Verbosity = 'queryPlanner' | 'executionStats' | 'allPlansExecution';
const VERBOSITIES: readonly string[] = ['queryPlanner', 'executionStats', 'allPlansExecution'];

function timed<T>(work: () => T): { result: T; millis: number } {
  const started = performance.now();
  const result = work();
  return { result, millis: Math.round(performance.now() - started) };
}

const specOf = (plan: PlanStage): Document => (typeof plan.spec === 'function' ? plan.spec() : plan.spec);

const plannerView = (plan: PlanStage): Document => ({
  ...specOf(plan),
  ...(plan.input ? { inputStage: plannerView(plan.input) } : {}),
});

function executionView(plan: PlanStage, millis: number): Document {
  const { stage, ...fields } = specOf(plan);
  return {
    stage,
    ...fields,
    nReturned: plan.nReturned,
    executionTimeMillisEstimate: millis,
    ...(plan.keysExamined === undefined ? {} : { keysExamined: plan.keysExamined }),
    ...(plan.docsExamined === undefined ? {} : { docsExamined: plan.docsExamined }),
    ...plan.stats,
    ...(plan.input ? { inputStage: executionView(plan.input, millis) } : {}),
  };
}

const examined = (plan: PlanStage | undefined, field: 'keysExamined' | 'docsExamined'): number =>
  plan ? (plan[field] ?? 0) + examined(plan.input, field) : 0;

/** queryPlanner, plus executionStats when `verbosity` asks for them: what explain says about one query. */
function explainQuery(
  namespace: string,
  filter: unknown,
  plan: PlanStage,
  millis: number,
  verbosity: Verbosity,
): Document {
  return {
    queryPlanner: {
      namespace,
      indexFilterSet: false,
      parsedQuery: parsedQuery(criteriaOf(filter)),
      maxIndexedOrSolutionsReached: false,
      maxIndexedAndSolutionsReached: false,
      maxScansToExplodeReached: false,
      winningPlan: plannerView(plan),
      rejectedPlans: [],
    },
    ...(verbosity === 'queryPlanner'
      ? {}
      : {
          executionStats: {
            executionSuccess: true,
            nReturned: plan.nReturned,
            executionTimeMillis: millis,
            totalKeysExamined: examined(plan, 'keysExamined'),
            totalDocsExamined: examined(plan, 'docsExamined'),
            executionStages: executionView(plan, millis),
            ...(verbosity === 'allPlansExecution' ? { allPlansExecution: [] } : {}),
          },
        }),
  };
}

type Explainer = (db: string, inner: Document, verbosity: Verbosity) => Document;

/** Explains of the reads mongosh and the driver explain: find, count, distinct, aggregate. */
function readExplainers(ctx: CommandContext): Record<string, Explainer> {
  const { collectionOf } = ctx;
  const { aggregationSource, runStages } = pipelineRunner(ctx);
  return {
    find: (db, inner, verbosity) => {
      const name = requireString(inner, 'find');
      const { result, millis } = timed(() => runFind(collectionOf(db, name), inner));
      return explainQuery(`${db}.${name}`, inner.filter, result.plan, millis, verbosity);
    },
    count: (db, inner, verbosity) => {
      const name = requireString(inner, 'count');
      const { result: plan, millis } = timed((): PlanStage => {
        const { documents, plan: input } = runQuery(collectionOf(db, name), inner.query);
        const { n, skipped } = countOf(documents.length, inner);
        return { spec: { stage: 'COUNT' }, input, nReturned: 0, stats: { nCounted: n, nSkipped: skipped } };
      });
      return explainQuery(`${db}.${name}`, inner.query, plan, millis, verbosity);
    },
    distinct: (db, inner, verbosity) => {
      const name = requireString(inner, 'distinct');
      requireString(inner, 'key');
      const { result, millis } = timed(() => runQuery(collectionOf(db, name), inner.query));
      return explainQuery(`${db}.${name}`, inner.query, result.plan, millis, verbosity);
    },
    aggregate: (db, inner, verbosity) => {
      const target = inner.aggregate;
      const namespace = typeof target === 'string' ? `${db}.${target}` : `${db}.$cmd.aggregate`;
      const execute = verbosity !== 'queryPlanner';
      const { result: source, millis } = timed(() => aggregationSource(db, inner));
      // Nothing after the query: the whole pipeline was the query, explained as one (as mongod does).
      if (source.plan && source.stages.length === 0 && typeof target === 'string') {
        return explainQuery(namespace, source.filter, source.plan, millis, verbosity);
      }
      const counts = (returned: number, elapsed: number): Document =>
        execute ? { nReturned: returned, executionTimeMillisEstimate: elapsed } : {};
      const stages: Document[] = [];
      const pipeline = documentArray(inner, 'pipeline');
      if (source.plan && typeof target === 'string') {
        stages.push({
          $cursor: explainQuery(namespace, source.filter, source.plan, millis, verbosity),
          ...counts(source.documents.length, millis),
        });
      } else if (!source.plan) {
        stages.push({ ...pipeline[0], ...counts(source.documents.length, millis) });
      }
      let documents = source.documents;
      let elapsed = millis;
      for (const stage of source.stages) {
        if (!execute) {
          stages.push(stage);
          continue;
        }
        const step = timed(() => runStages(db, documents, [stage]));
        documents = step.result;
        elapsed += step.millis;
        stages.push({ ...stage, ...counts(documents.length, elapsed) });
      }
      return { stages };
    },
  };
}

/** The one statement of an explained write batch (`updates`, `deletes`): mongod explains batches of one only. */
function onlyStatement(inner: Document, field: string): Document {
  const statements = documentArray(inner, field);
  if (statements.length !== 1) throw new CommandError(16, 'InvalidLength', 'explained write batches must be of size 1');
  return statements[0] as Document;
}

/** Explains of the writes: what they would match, modify, upsert or delete. */
function writeExplainers(ctx: CommandContext): Record<string, Explainer> {
  const { collectionOf } = ctx;
  const explainers: Record<string, Explainer> = {
    update: (db, inner, verbosity) => {
      const name = requireString(inner, 'update');
      const statement = onlyStatement(inner, 'updates');
      const criteria = criteriaOf(statement.q);
      const spec = updateSpecOf(statement.u, statement.arrayFilters);
      const { result: plan, millis } = timed((): PlanStage => {
        const { documents, plan: input } = runQuery(
          collectionOf(db, name),
          criteria,
          optionalDocument(statement, 'sort'),
        );
        const targets = statement.multi === true ? documents : documents.slice(0, 1);
        const wouldModify = targets.filter(
          (target) => !sameBytes(serialize(target), serialize(updatedDocument(target, spec, criteria, false))),
        );
        const nWouldUpsert = targets.length === 0 && statement.upsert === true ? 1 : 0;
        return {
          spec: { stage: 'UPDATE' },
          input,
          nReturned: 0,
          stats: { nMatched: targets.length, nWouldModify: wouldModify.length, nWouldUpsert },
        };
      });
      return explainQuery(`${db}.${name}`, criteria, plan, millis, verbosity);
    },
    delete: (db, inner, verbosity) => {
      const name = requireString(inner, 'delete');
      const statement = onlyStatement(inner, 'deletes');
      const { result: plan, millis } = timed((): PlanStage => {
        const { documents, plan: input } = runQuery(collectionOf(db, name), statement.q);
        const nWouldDelete = optionalCount(statement, 'limit') === 1 ? Math.min(1, documents.length) : documents.length;
        return { spec: { stage: 'DELETE' }, input, nReturned: 0, stats: { nWouldDelete } };
      });
      return explainQuery(`${db}.${name}`, statement.q, plan, millis, verbosity);
    },
    findAndModify: (db, inner, verbosity) => {
      const name = requireString(inner, Object.keys(inner)[0] as string);
      const criteria = criteriaOf(inner.query);
      const { result: plan, millis } = timed((): PlanStage => {
        const { documents, plan: input } = runQuery(collectionOf(db, name), criteria, optionalDocument(inner, 'sort'));
        const [target] = documents;
        if (inner.remove === true)
          return { spec: { stage: 'DELETE' }, input, nReturned: 0, stats: { nWouldDelete: target ? 1 : 0 } };
        const spec = updateSpecOf(inner.update, inner.arrayFilters);
        const changes =
          target !== undefined &&
          !sameBytes(serialize(target), serialize(updatedDocument(target, spec, criteria, false)));
        const stats = {
          nMatched: target ? 1 : 0,
          nWouldModify: changes ? 1 : 0,
          nWouldUpsert: !target && inner.upsert === true ? 1 : 0,
        };
        return { spec: { stage: 'UPDATE' }, input, nReturned: 0, stats };
      });
      return explainQuery(`${db}.${name}`, criteria, plan, millis, verbosity);
    },
  };
  explainers.findandmodify = explainers.findAndModify as Explainer;
  return explainers;
}

export function explainCommand(ctx: CommandContext): CommandHandler {
  const { state } = ctx;
  const explainers = { ...readExplainers(ctx), ...writeExplainers(ctx) };
  return ({ db, body }) => {
    const inner = optionalDocument(body, 'explain');
    if (!inner) throw typeMismatch("'explain' must be a command document");
    const verbosity = body.verbosity ?? 'allPlansExecution';
    if (typeof verbosity !== 'string' || !VERBOSITIES.includes(verbosity)) {
      throw new CommandError(
        9,
        'FailedToParse',
        "verbosity string must be one of {'queryPlanner', 'executionStats', 'allPlansExecution'}",
      );
    }
    const name = Object.keys(inner)[0] ?? '';
    const explainer = Object.hasOwn(explainers, name) ? explainers[name] : undefined;
    if (!explainer) throw badValue(`Cannot explain cmd: ${name}`);
    return {
      explainVersion: '1',
      ...explainer(db, inner, verbosity as Verbosity),
      command: { ...inner, $db: db },
      serverInfo: { host: os.hostname(), port: state.process.port, version: VERSION, gitVersion: GIT_VERSION },
      ok: 1,
    };
  };
}
