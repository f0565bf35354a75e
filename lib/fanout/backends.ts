import { withEc2Run, type Ec2RunOptions, type Ec2RunReport } from './ec2/run.ts';
import type { Backend } from './index.ts';
import { lambdaBackend, type LambdaBackendOptions } from './lambda-backend.ts';
import { localBackend, type LocalBackendOptions } from './local-backend.ts';

/**
 * The one place a backend is built from its name, for the fan-out Lambda, the CLI and the bench alike:
 * `withBackend({ name: 'lambda', client, functionName }, (backend) => fanout(tasks, backend))`. The backend
 * lives for the call: local threads are stopped, and an EC2 run uploads its worker bundle first and terminates
 * its instances and deletes its scratch objects after (./ec2/run.ts), whatever `body` did.
 */

export type BackendSpec<R> =
  | ({ name: 'lambda' } & LambdaBackendOptions<R>)
  | ({ name: 'local' } & LocalBackendOptions<R>)
  | ({ name: 'ec2' } & Ec2RunOptions<R>);

/** What an EC2 run adds to the body's value: its id, its instances, and a clean-up that failed. */
export type Ec2RunFacts = Omit<Ec2RunReport<unknown>, 'value' | 'cost'>;

export interface BackendRun<V> {
  value: V;
  /** On the EC2 backend only. */
  ec2?: Ec2RunFacts;
}

export async function withBackend<T, R, V>(
  spec: BackendSpec<R>,
  body: (backend: Backend<T, R>) => Promise<V>,
): Promise<BackendRun<V>> {
  if (spec.name === 'ec2') {
    const { name: _name, ...options } = spec;
    const { value, cost: _cost, ...ec2 } = await withEc2Run<T, R, V>(options, (backend) => body(backend));
    return { value, ec2 };
  }
  // The spec is the backend's options plus its name, which the builders ignore.
  const backend: Backend<T, R> = spec.name === 'lambda' ? lambdaBackend<T, R>(spec) : localBackend<T, R>(spec);
  try {
    return { value: await body(backend) };
  } finally {
    await backend.close?.();
  }
}
