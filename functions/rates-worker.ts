/**
 * PLACEHOLDER, only on the h14/infra branch: serverless.yml declares the `rates-worker` function, and `sls package`
 * bundles every function's handler, so the packaged-template tests need this file to exist. The real worker is
 * written on another branch; take that one when merging.
 */
export const handler = async (): Promise<never> => {
  throw new Error('rates-worker is not implemented on this branch (placeholder for packaging)');
};
