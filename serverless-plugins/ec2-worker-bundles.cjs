'use strict';
// Builds the EC2 worker bundles (.ec2-workers/<name>.mjs, see lib/fanout/ec2/worker-bundle.ts) before anything
// that packages or runs the functions: the fan-out function ships its worker in its zip and uploads it for
// each EC2 run. The build itself lives in TypeScript next to its readers; this plugin only runs it.
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { manifestHolds } = require('./input-manifest.cjs');

class Ec2WorkerBundles {
  constructor(serverless) {
    this.serverless = serverless;
    const build = () => this.build();
    this.hooks = {
      'before:package:createDeploymentArtifacts': build,
      'before:deploy:function:packageFunction': build,
      'before:invoke:local:invoke': build,
      'before:offline:start:init': build,
    };
  }

  build() {
    const root = this.serverless.serviceDir || this.serverless.config.servicePath;
    // The build wrote what it read (inputs.json); unchanged inputs mean unchanged bundles, and the check takes
    // milliseconds where the build takes a process with tsx and esbuild (~2–4 s of every local stack start).
    if (manifestHolds(root, path.join(root, '.ec2-workers', 'inputs.json'))) {
      this.serverless.cli.log('EC2 worker bundles in .ec2-workers/ are up to date');
      return;
    }
    const script = path.join(root, 'lib', 'fanout', 'ec2', 'worker-bundle.ts');
    const tsx = require.resolve('tsx', { paths: [root] });
    execFileSync(process.execPath, ['--import', tsx, script], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    this.serverless.cli.log('EC2 worker bundles built in .ec2-workers/');
  }
}

module.exports = Ec2WorkerBundles;
