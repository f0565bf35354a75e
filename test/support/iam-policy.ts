/**
 * A least-privilege sweep over every IAM policy statement of a compiled CloudFormation template: the inline
 * policies and trust policy of every AWS::IAM::Role, every AWS::IAM::Policy / ManagedPolicy, every resource
 * policy (S3 bucket, SQS queue, SNS topic) and every AWS::Lambda::Permission (read as the statement it adds to
 * the function's resource policy). `checkTemplate` / `checkStatements` return the violations, each naming the
 * policy, the statement (Sid or #index), the action and the resource, and saying what is wrong.
 *
 * The rules, for every Allow statement:
 *  - no NotAction (in any statement), NotResource or NotPrincipal: they grant everything not listed;
 *  - every action named exactly: no "*", no "s3:*", no "s3:Get*";
 *  - Resource "*" only for the actions of `scope.starActions` (AWS authorizes them on "*" only);
 *  - every other resource is this service's own (see `SCOPE_RULES`): the data bucket, its functions, queue
 *    and log groups (by Ref/GetAtt, or an ARN with the service-stage prefix), the SSM parameters it reads, and
 *    EC2 resources narrowed by a Condition (this service's and stage's tags for instances and volumes);
 *  - EC2 actions that change something (all but Describe*, Get*, List*) have a Condition;
 *  - ec2:RunInstances on instances is narrowed to the configured instance type(s) (`ec2:InstanceType`, exact
 *    values from `scope.ec2InstanceTypes`) and to IMDSv2 (`ec2:MetadataHttpTokens` = required);
 *  - SSM parameters are this account's (`{AccountId}`, not "*"); only AWS's public parameters (/aws/service/...)
 *    have an empty account;
 *  - no Principal "*" (nothing public), and a service principal in a resource policy or Lambda permission
 *    names its source (aws:SourceArn / aws:SourceAccount), so another account's bucket or rule cannot use it.
 * Deny statements are checked for NotAction, and for Principal "*": they take permissions away, so a wildcard
 * action there narrows, never widens — but the one public Deny accepted is the TLS rule (`Bool`
 * aws:SecureTransport false, nothing else in its Condition), so a broader public statement cannot pass as a Deny.
 * Plus, for the template: no AWS::Lambda::Url (no public function URL), no managed policy ARNs on a role (their
 * statements are not in the template, so they cannot be checked here), and a template that creates the data
 * bucket gives it a policy denying every S3 action without TLS on the bucket and its objects.
 */

/** One statement of a policy document, as CloudFormation holds it (values may be intrinsic functions). */
export interface PolicyStatement {
  Sid?: string;
  Effect?: string;
  Action?: unknown;
  NotAction?: unknown;
  Resource?: unknown;
  NotResource?: unknown;
  Principal?: unknown;
  NotPrincipal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** identity: a role's or policy's own permissions; trust: who may assume a role; resource: a resource's policy. */
export type PolicyKind = 'identity' | 'trust' | 'resource';

export interface LocatedStatement {
  /** The policy it is in, e.g. `RatesExecutionRole policy cloud-parallel-dev-rates`. */
  where: string;
  /** Its Sid, or `#<index>` (from 0) in its policy document. */
  id: string;
  kind: PolicyKind;
  statement: PolicyStatement;
  /** A resource policy's own resource (its logical id), which its statements may name. */
  attachedTo?: string;
}

export interface Violation {
  where: string;
  id: string;
  action: string;
  resource: string;
  problem: string;
  /** All of the above in one line, for a failure message. */
  message: string;
}

/** An action AWS authorizes only on Resource "*", and why this service needs it. */
export interface StarAction {
  action: string;
  reason: string;
}

/** What counts as this service's own resources, in one stage and region. */
export interface ServiceScope {
  service: string;
  stage: string;
  region: string;
  /** The data bucket: its logical id and name. */
  dataBucket: { logicalId: string; name: string };
  /** The logical ids of the stack's functions, queues and log groups, which an Allow may name by Ref/GetAtt. */
  ownLogicalIds: ReadonlySet<string>;
  /** The SSM parameters the service reads, by name. */
  ssmParameters: readonly string[];
  /** The EC2 instance types the service launches (the configured ec2InstanceType). */
  ec2InstanceTypes: readonly string[];
  /** The actions allowed on Resource "*". */
  starActions: readonly StarAction[];
}

export interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
}

const list = (value: unknown): unknown[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The statements of a policy document, located. */
function documentStatements(
  document: unknown,
  where: string,
  kind: PolicyKind,
  attachedTo?: string,
): LocatedStatement[] {
  if (!isRecord(document)) return [];
  return list(document.Statement).map((statement, index) => {
    const s = (isRecord(statement) ? statement : {}) as PolicyStatement;
    return {
      where,
      id: typeof s.Sid === 'string' && s.Sid !== '' ? `Sid ${s.Sid}` : `#${index}`,
      kind,
      statement: s,
      ...(attachedTo === undefined ? {} : { attachedTo }),
    };
  });
}

/** A policy's name for messages: a plain string, or the parts of an Fn::Join. */
function policyName(name: unknown): string {
  if (typeof name === 'string') return name;
  const join = isRecord(name) ? name['Fn::Join'] : undefined;
  if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1]))
    return join[1].map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(join[0]);
  return JSON.stringify(name);
}

/** The logical id named by a Ref or Fn::GetAtt, if the value is one. */
function referencedId(value: unknown): string | undefined {
  if (!isRecord(value)) return undefined;
  if (typeof value.Ref === 'string') return value.Ref;
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  if (typeof getAtt === 'string') return getAtt.split('.')[0];
  return undefined;
}

/** Every IAM policy statement of a template's resources (see the module comment for which). */
export function policyStatements(resources: Record<string, TemplateResource>): LocatedStatement[] {
  const statements: LocatedStatement[] = [];
  for (const [logicalId, resource] of Object.entries(resources)) {
    const p = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::IAM::Role':
        statements.push(...documentStatements(p.AssumeRolePolicyDocument, `${logicalId} trust policy`, 'trust'));
        for (const policy of list(p.Policies)) {
          if (!isRecord(policy)) continue;
          statements.push(
            ...documentStatements(
              policy.PolicyDocument,
              `${logicalId} policy ${policyName(policy.PolicyName)}`,
              'identity',
            ),
          );
        }
        break;
      case 'AWS::IAM::Policy':
      case 'AWS::IAM::ManagedPolicy':
      case 'AWS::IAM::UserPolicy':
      case 'AWS::IAM::GroupPolicy':
      case 'AWS::IAM::RolePolicy':
        statements.push(...documentStatements(p.PolicyDocument, `${logicalId} (${resource.Type})`, 'identity'));
        break;
      case 'AWS::S3::BucketPolicy':
        statements.push(
          ...documentStatements(p.PolicyDocument, `${logicalId} (bucket policy)`, 'resource', referencedId(p.Bucket)),
        );
        break;
      case 'AWS::SQS::QueuePolicy':
      case 'AWS::SNS::TopicPolicy':
        for (const target of list(p.Queues ?? p.Topics)) {
          statements.push(
            ...documentStatements(
              p.PolicyDocument,
              `${logicalId} (${resource.Type})`,
              'resource',
              referencedId(target),
            ),
          );
        }
        break;
      case 'AWS::Lambda::Permission': {
        // The statement this permission adds to the function's resource policy.
        const condition: Record<string, Record<string, unknown>> = {};
        if (p.SourceArn !== undefined) condition.ArnLike = { 'aws:SourceArn': p.SourceArn };
        if (p.SourceAccount !== undefined) condition.StringEquals = { 'aws:SourceAccount': p.SourceAccount };
        const statement: PolicyStatement = {
          Effect: 'Allow',
          Action: p.Action,
          Principal:
            typeof p.Principal === 'string' && p.Principal !== '*' && !/^\d{12}$|^arn:/.test(p.Principal)
              ? { Service: p.Principal }
              : p.Principal,
          Resource: p.FunctionName,
          ...(Object.keys(condition).length === 0 ? {} : { Condition: condition }),
        };
        const fn = referencedId(p.FunctionName);
        statements.push({
          where: `${logicalId} (Lambda permission)`,
          id: '#0',
          kind: 'resource',
          statement,
          ...(fn === undefined ? {} : { attachedTo: fn }),
        });
        break;
      }
    }
  }
  return statements;
}

/**
 * A resource value as text: pseudo parameters resolved (AccountId becomes `{AccountId}`, this account),
 * Ref/GetAtt of a resource as `{Ref:Id}` / `{GetAtt:Id.Attr}`; undefined for anything else. The sweep reads
 * every resource this way; tests may too, to compare a role's grants with a table.
 */
export function render(value: unknown, region: string): string | undefined {
  const pseudo = (name: string): string | undefined =>
    ({
      'AWS::Partition': 'aws',
      'AWS::Region': region,
      'AWS::AccountId': '{AccountId}',
      'AWS::URLSuffix': 'amazonaws.com',
    })[name];
  if (typeof value === 'string') return value;
  if (!isRecord(value)) return undefined;
  if (typeof value.Ref === 'string') return pseudo(value.Ref) ?? `{Ref:${value.Ref}}`;
  const getAtt = value['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return `{GetAtt:${getAtt.join('.')}}`;
  if (typeof getAtt === 'string') return `{GetAtt:${getAtt}}`;
  const join = value['Fn::Join'];
  if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) {
    const parts = join[1].map((part) => render(part, region));
    return parts.every((part) => part !== undefined) ? parts.join(join[0]) : undefined;
  }
  const sub = value['Fn::Sub'];
  const template =
    typeof sub === 'string'
      ? sub
      : Array.isArray(sub) && typeof sub[0] === 'string' && sub[1] === undefined
        ? sub[0]
        : undefined;
  if (template !== undefined) {
    return template.replace(
      /\$\{([^}!]+)\}/g,
      (_, name: string) => pseudo(name) ?? (name.includes('.') ? `{GetAtt:${name}}` : `{Ref:${name}}`),
    );
  }
  return undefined;
}

interface Arn {
  partition: string;
  service: string;
  region: string;
  account: string;
  resource: string;
}

function parseArn(text: string): Arn | undefined {
  const match = /^arn:([^:]+):([^:]+):([^:]*):([^:]*):(.+)$/.exec(text);
  if (match === null) return undefined;
  const [, partition, service, region, account, resource] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return { partition, service, region, account, resource };
}

/** The values of a Condition key under the operators that narrow (not *Not*, *IfExists or Null), lower-cased key. */
function narrowingValues(condition: PolicyStatement['Condition'], key: string): unknown[] {
  const values: unknown[] = [];
  for (const [operator, entries] of Object.entries(condition ?? {})) {
    if (/Not|IfExists$|^Null$/.test(operator) || !isRecord(entries)) continue;
    for (const [k, v] of Object.entries(entries)) if (k.toLowerCase() === key.toLowerCase()) values.push(...list(v));
  }
  return values.filter((v) => v !== '*');
}

const hasKey = (condition: PolicyStatement['Condition'], key: string) => narrowingValues(condition, key).length > 0;
const tagged = (condition: PolicyStatement['Condition'], kind: 'RequestTag' | 'ResourceTag', scope: ServiceScope) =>
  ['service', 'stage'].every((tag) => {
    const values = narrowingValues(condition, `aws:${kind}/${tag}`);
    return values.length > 0 && values.every((v) => v === (tag === 'service' ? scope.service : scope.stage));
  });

/**
 * Launched with this service's and stage's tags (RunInstances), changed only while so tagged (Terminate),
 * or tagged only while being launched (CreateTags with ec2:CreateAction, itself behind the launch's tags).
 */
const TAGGED_AT_LAUNCH = {
  needs: 'aws:RequestTag/service+stage, aws:ResourceTag/service+stage or ec2:CreateAction',
  scoped: (s: PolicyStatement, scope: ServiceScope): boolean =>
    tagged(s.Condition, 'RequestTag', scope) ||
    tagged(s.Condition, 'ResourceTag', scope) ||
    hasKey(s.Condition, 'ec2:CreateAction'),
};

/**
 * How each EC2 resource type with a wildcard id ("instance/*") is narrowed to this service's own, by the
 * statement's Condition. A type not listed here is refused: add it, with the reason, when one is needed.
 */
const EC2_TYPE_SCOPES: Record<string, { needs: string; scoped: (s: PolicyStatement, scope: ServiceScope) => boolean }> =
  {
    // Instances and their volumes (created by the same launch) alike.
    instance: TAGGED_AT_LAUNCH,
    volume: TAGGED_AT_LAUNCH,
    // Images are not ours to tag: narrowed by their owner (e.g. amazon) or id.
    image: {
      needs: 'ec2:Owner or ec2:ImageID',
      scoped: (s) => hasKey(s.Condition, 'ec2:Owner') || hasKey(s.Condition, 'ec2:ImageID'),
    },
    // The network a launch uses: narrowed to a VPC or subnet.
    subnet: {
      needs: 'ec2:Vpc or ec2:SubnetID',
      scoped: (s) => hasKey(s.Condition, 'ec2:Vpc') || hasKey(s.Condition, 'ec2:SubnetID'),
    },
    'security-group': {
      needs: 'ec2:Vpc or ec2:SecurityGroupID',
      scoped: (s) => hasKey(s.Condition, 'ec2:Vpc') || hasKey(s.Condition, 'ec2:SecurityGroupID'),
    },
    'network-interface': {
      needs: 'ec2:Vpc or ec2:Subnet',
      scoped: (s) => hasKey(s.Condition, 'ec2:Vpc') || hasKey(s.Condition, 'ec2:Subnet'),
    },
  };

/** The service-stage prefix of this service's resource names, e.g. `cloud-parallel-dev`. */
const prefixOf = (scope: ServiceScope) => `${scope.service}-${scope.stage}`;
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Per AWS service, whether an ARN (already checked for partition, region and account) is this service's own;
 * returns the problem, or undefined. A service not listed here is refused.
 */
const SCOPE_RULES: Record<string, (arn: Arn, s: LocatedStatement, scope: ServiceScope) => string | undefined> = {
  // The data bucket (or a resource policy's own bucket), the bucket itself or objects in it.
  s3: (arn, s, scope) => {
    const bucket = arn.resource.split('/')[0]!;
    const own = [
      scope.dataBucket.name,
      `{Ref:${scope.dataBucket.logicalId}}`,
      ...(s.attachedTo ? [`{Ref:${s.attachedTo}}`] : []),
    ];
    return own.includes(bucket) ? undefined : `bucket ${bucket} is not the data bucket ${scope.dataBucket.name}`;
  },
  // The service's functions' log groups: /aws/lambda/<service>-<stage> then "-" or "*" (the framework's grant).
  logs: (arn, _, scope) =>
    new RegExp(`^log-group:/aws/lambda/${escapeRegExp(prefixOf(scope))}[-*]`).test(arn.resource)
      ? undefined
      : `not a log group of this service's functions (/aws/lambda/${prefixOf(scope)}-*)`,
  lambda: (arn, _, scope) =>
    arn.resource.startsWith(`function:${prefixOf(scope)}-`)
      ? undefined
      : `not a function of this service (function:${prefixOf(scope)}-*)`,
  sqs: (arn, _, scope) =>
    arn.resource.startsWith(`${prefixOf(scope)}-`) ? undefined : `not a queue of this service (${prefixOf(scope)}-*)`,
  // Exactly the parameters the service reads: no wildcards, no path prefixes; in this account, except AWS's public
  // parameters (/aws/service/...), whose ARNs have no account.
  ssm: (arn, _, scope) => {
    const name = arn.resource.replace(/^parameter/, '');
    if (!arn.resource.startsWith('parameter') || !scope.ssmParameters.includes(name))
      return `not one of the SSM parameters this service reads (${scope.ssmParameters.join(', ')})`;
    if (name.startsWith('/aws/service/'))
      return arn.account === '' ? undefined : `account "${arn.account}" for AWS's public parameter: its ARN has none`;
    return arn.account === '{AccountId}'
      ? undefined
      : `account "${arn.account}": name this account (Ref AWS::AccountId), so no other account's parameter of that name is readable`;
  },
  // EC2: a wildcard id must be narrowed by the statement's Condition, per type (EC2_TYPE_SCOPES).
  ec2: (arn, s, scope) => {
    const [type, id = ''] = arn.resource.split('/');
    if (!id.includes('*')) return undefined; // one named resource
    const rule = EC2_TYPE_SCOPES[type!];
    if (rule === undefined)
      return `no rule says how an EC2 ${type} is narrowed to this service's own: add one to EC2_TYPE_SCOPES`;
    return rule.scoped(s.statement, scope)
      ? undefined
      : `any ${type} of the region: narrow it with a Condition on ${rule.needs}`;
  },
};

/** Why a resource is not this service's own, or undefined when it is. */
function scopeProblem(resource: unknown, s: LocatedStatement, scope: ServiceScope): string | undefined {
  const text = render(resource, scope.region);
  if (text === undefined)
    return 'an expression the sweep cannot read: write the ARN with Ref, Fn::GetAtt, Fn::Join or Fn::Sub';
  const reference = /^\{(?:Ref|GetAtt):([^.}]+)(?:\.[^}]*)?\}$/.exec(text);
  if (reference !== null) {
    const id = reference[1]!;
    return id === scope.dataBucket.logicalId || scope.ownLogicalIds.has(id) || id === s.attachedTo
      ? undefined
      : `${id} is not this service's data bucket, function, queue or log group`;
  }
  const arn = parseArn(text);
  if (arn === undefined) return 'not an ARN';
  if (arn.partition !== 'aws') return `partition ${arn.partition}`;
  const rule = SCOPE_RULES[arn.service];
  if (rule === undefined)
    return `no rule says which ${arn.service} resources are this service's own: add one to SCOPE_RULES`;
  if (arn.service !== 's3' && arn.region !== scope.region)
    return `region "${arn.region}", not this stage's ${scope.region}`;
  if (!['', '*', '{AccountId}'].includes(arn.account)) return `account ${arn.account}, not this one`;
  return rule(arn, s, scope);
}

const READ_ONLY_EC2 = /^ec2:(Describe|Get|List)/i;

/** The values of a Condition key under StringEquals (exact matches only), lower-cased key. */
function exactValues(condition: PolicyStatement['Condition'], key: string): unknown[] {
  const entries = condition?.StringEquals;
  if (!isRecord(entries)) return [];
  return Object.entries(entries).flatMap(([k, v]) => (k.toLowerCase() === key.toLowerCase() ? list(v) : []));
}

/**
 * Why launching an instance under this statement is not narrowed to the configured type(s) and to IMDSv2 (the
 * metadata service answering only session-token requests), or undefined. `resource` is already rendered.
 */
function launchProblem(action: string, resource: string, s: PolicyStatement, scope: ServiceScope): string | undefined {
  if (action.toLowerCase() !== 'ec2:runinstances') return undefined;
  const arn = parseArn(resource);
  if (arn === undefined || arn.service !== 'ec2' || arn.resource.split('/')[0] !== 'instance') return undefined;
  const problems: string[] = [];
  const types = exactValues(s.Condition, 'ec2:InstanceType');
  if (types.length === 0 || !types.every((t) => typeof t === 'string' && scope.ec2InstanceTypes.includes(t))) {
    problems.push(
      `instance type not limited (StringEquals ec2:InstanceType) to the configured ${scope.ec2InstanceTypes.join(', ') || '(none)'}${types.length === 0 ? '' : `, got ${JSON.stringify(types)}`}`,
    );
  }
  const tokens = exactValues(s.Condition, 'ec2:MetadataHttpTokens');
  if (tokens.length === 0 || !tokens.every((t) => t === 'required'))
    problems.push('IMDSv2 not required (StringEquals ec2:MetadataHttpTokens: required)');
  return problems.length === 0 ? undefined : problems.join('; ');
}

/** Whether a statement is exactly the TLS rule: its whole Condition is `Bool` aws:SecureTransport false. */
function isTlsOnlyCondition(condition: PolicyStatement['Condition']): boolean {
  if (condition === undefined || Object.keys(condition).length !== 1 || !isRecord(condition.Bool)) return false;
  const entries = Object.entries(condition.Bool);
  return (
    entries.length === 1 &&
    entries[0]![0].toLowerCase() === 'aws:securetransport' &&
    list(entries[0]![1]).every((v) => v === false || v === 'false') &&
    list(entries[0]![1]).length > 0
  );
}
const textOf = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

/** Whether a principal is everyone: "*", {AWS: "*"} or a list holding "*". */
function isPublic(principal: unknown): boolean {
  if (principal === '*') return true;
  if (!isRecord(principal)) return false;
  return Object.values(principal).some((v) => list(v).includes('*'));
}

/** The violations of located statements (the rules are in the module comment). */
export function checkStatements(statements: readonly LocatedStatement[], scope: ServiceScope): Violation[] {
  const violations: Violation[] = [];
  const starActions = new Set(scope.starActions.map((a) => a.action));
  for (const located of statements) {
    const { statement: s } = located;
    const actions = list(s.Action ?? s.NotAction).map(textOf);
    const resources = list(s.Resource ?? s.NotResource);
    const add = (action: string, resource: string, problem: string) =>
      violations.push({
        where: located.where,
        id: located.id,
        action,
        resource,
        problem,
        message: `${located.where}, statement ${located.id}: ${action} on ${resource}: ${problem}`,
      });
    const allActions = actions.join(', ') || '(no action)';
    const allResources = resources.map(textOf).join(', ') || '(no resource)';

    if (s.NotAction !== undefined)
      add(
        `NotAction ${allActions}`,
        allResources,
        'NotAction covers every action not listed: name the actions instead',
      );
    if (s.Effect === 'Deny' && isPublic(s.Principal) && !isTlsOnlyCondition(s.Condition)) {
      add(
        allActions,
        allResources,
        `Principal ${textOf(s.Principal)} in a Deny that is not the TLS rule (Condition only Bool aws:SecureTransport false)`,
      );
    }
    if (s.Effect !== 'Allow') continue; // Deny only narrows

    if (s.NotResource !== undefined)
      add(
        allActions,
        `NotResource ${allResources}`,
        'NotResource covers every resource not listed: name the resources instead',
      );
    if (s.NotPrincipal !== undefined)
      add(allActions, allResources, `NotPrincipal ${textOf(s.NotPrincipal)} allows everyone not listed`);
    if (isPublic(s.Principal)) add(allActions, allResources, `Principal ${textOf(s.Principal)}: public`);
    if (
      located.kind === 'resource' &&
      isRecord(s.Principal) &&
      s.Principal.Service !== undefined &&
      !hasKey(s.Condition, 'aws:SourceArn') &&
      !hasKey(s.Condition, 'aws:SourceAccount')
    ) {
      add(
        allActions,
        allResources,
        `service principal ${textOf(s.Principal.Service)} without aws:SourceArn or aws:SourceAccount: any account's resources could use it`,
      );
    }
    if (located.kind === 'trust') continue; // no Resource: who may assume the role is all it says
    if (s.Resource === undefined && s.NotResource === undefined) add(allActions, '(no resource)', 'no Resource');

    for (const action of actions) {
      for (const resource of list(s.Resource)) {
        const problems: string[] = [];
        if (action.includes('*')) problems.push('wildcard action: name each action');
        if (resource === '*') {
          if (!starActions.has(action))
            problems.push(
              'Resource "*": scope it to this service\'s resources (or, if AWS accepts only "*" for this action, allow-list it with the reason)',
            );
        } else {
          const problem = scopeProblem(resource, located, scope);
          if (problem !== undefined) problems.push(problem);
        }
        if (
          /^ec2:/i.test(action) &&
          !READ_ONLY_EC2.test(action) &&
          (s.Condition === undefined || Object.keys(s.Condition).length === 0)
        ) {
          problems.push('an EC2 action that changes something, allowed without a Condition');
        }
        const rendered = render(resource, scope.region);
        const launch = rendered === undefined ? undefined : launchProblem(action, rendered, s, scope);
        if (launch !== undefined) problems.push(launch);
        if (problems.length > 0) add(action, textOf(resource), problems.join('; '));
      }
    }
  }
  return violations;
}

/** The template-level violations (no function URLs, no unreadable managed policies), then every statement's. */
export function checkTemplate(resources: Record<string, TemplateResource>, scope: ServiceScope): Violation[] {
  const violations: Violation[] = [];
  const add = (where: string, action: string, resource: string, problem: string) =>
    violations.push({
      where,
      id: '-',
      action,
      resource,
      problem,
      message: `${where}: ${action} on ${resource}: ${problem}`,
    });
  for (const [logicalId, resource] of Object.entries(resources)) {
    const p = resource.Properties ?? {};
    if (resource.Type === 'AWS::Lambda::Url')
      add(
        logicalId,
        'lambda:InvokeFunctionUrl',
        textOf(p.TargetFunctionArn),
        `a function URL (AuthType ${textOf(p.AuthType)}): no public URLs`,
      );
    if (resource.Type === 'AWS::Lambda::Permission' && p.FunctionUrlAuthType !== undefined)
      add(logicalId, textOf(p.Action), textOf(p.FunctionName), 'a function URL permission: no public URLs');
    if (
      resource.Type === 'AWS::IAM::Role' ||
      resource.Type === 'AWS::IAM::User' ||
      resource.Type === 'AWS::IAM::Group'
    ) {
      for (const arn of list(p.ManagedPolicyArns))
        add(
          logicalId,
          '(managed policy)',
          textOf(arn),
          "a managed policy's statements are not in the template, so this sweep cannot check them: inline what is needed",
        );
    }
  }
  const tlsProblem = dataBucketTlsProblem(resources, scope);
  if (tlsProblem !== undefined)
    add(`${scope.dataBucket.logicalId} (data bucket)`, 's3:*', `arn:aws:s3:::${scope.dataBucket.name}`, tlsProblem);
  return [...violations, ...checkStatements(policyStatements(resources), scope)];
}

/**
 * When the template creates the data bucket: why no policy of it denies every S3 action over plain HTTP on the
 * bucket and on its objects (Effect Deny, Principal "*", Action "s3:*", Condition Bool aws:SecureTransport false),
 * or undefined. Templates without the bucket (the synthetic cases) have nothing to say about it.
 */
export function dataBucketTlsProblem(
  resources: Record<string, TemplateResource>,
  scope: ServiceScope,
): string | undefined {
  if (resources[scope.dataBucket.logicalId]?.Type !== 'AWS::S3::Bucket') return undefined;
  const names = [scope.dataBucket.name, `{Ref:${scope.dataBucket.logicalId}}`];
  const covered = new Set<string>();
  for (const located of policyStatements(resources)) {
    const { statement: s } = located;
    if (located.kind !== 'resource' || located.attachedTo !== scope.dataBucket.logicalId) continue;
    if (
      s.Effect !== 'Deny' ||
      !isPublic(s.Principal) ||
      !list(s.Action).includes('s3:*') ||
      !isTlsOnlyCondition(s.Condition)
    )
      continue;
    for (const resource of list(s.Resource)) {
      const arn = parseArn(render(resource, scope.region) ?? '');
      if (arn === undefined || arn.service !== 's3') continue;
      for (const name of names) {
        if (arn.resource === name) covered.add('bucket');
        if (arn.resource === `${name}/*`) covered.add('objects');
      }
    }
  }
  const missing = ['bucket', 'objects'].filter((what) => !covered.has(what));
  return missing.length === 0
    ? undefined
    : `no bucket policy denies requests without TLS on the ${missing.join(' and ')} (Deny, Principal "*", Action s3:*, Condition Bool aws:SecureTransport false)`;
}

/** The allow-listed "*" actions no Allow statement uses on Resource "*" any more (the list must not rot). */
export function unusedStarActions(
  statements: readonly LocatedStatement[],
  starActions: readonly StarAction[],
): StarAction[] {
  const used = new Set(
    statements
      .filter(({ statement: s }) => s.Effect === 'Allow' && list(s.Resource).includes('*'))
      .flatMap(({ statement: s }) => list(s.Action).map(textOf)),
  );
  return starActions.filter((entry) => !used.has(entry.action));
}

/**
 * This service's scope in a compiled template: the data bucket is the S3 bucket that is not the framework's
 * deployment bucket; its functions, queues and log groups are the stack's.
 */
export function scopeOfTemplate(
  resources: Record<string, TemplateResource>,
  options: Pick<ServiceScope, 'service' | 'stage' | 'region' | 'ssmParameters' | 'starActions' | 'ec2InstanceTypes'>,
): ServiceScope {
  const buckets = Object.entries(resources).filter(
    ([id, r]) => r.Type === 'AWS::S3::Bucket' && id !== 'ServerlessDeploymentBucket',
  );
  if (buckets.length !== 1)
    throw new Error(`expected one data bucket, found ${buckets.map(([id]) => id).join(', ') || 'none'}`);
  const [logicalId, bucket] = buckets[0]!;
  const name = bucket.Properties?.BucketName;
  if (typeof name !== 'string') throw new Error(`the data bucket ${logicalId} has no literal BucketName`);
  const own = Object.entries(resources)
    .filter(([, r]) => ['AWS::Lambda::Function', 'AWS::SQS::Queue', 'AWS::Logs::LogGroup'].includes(r.Type))
    .map(([id]) => id);
  return { ...options, dataBucket: { logicalId, name }, ownLogicalIds: new Set(own) };
}
