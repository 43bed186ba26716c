import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AWS, ROOT, TIME, log } from './common.ts';
import { SERVE } from './spec.ts';

// The machine: the tools the comparison needs, a build of the sources being measured, and
// what the report says the figures were measured on

/** push: the push and status cases run; serve: the serving case runs. */
export function preflight(build: boolean, needs: { readonly push: boolean; readonly serve: boolean }): void {
  const missing: string[] = [];
  if (needs.push && !existsSync(AWS)) missing.push(`${AWS} (the AWS CLI): sudo apt-get update && sudo apt-get install -y awscli`);
  if (needs.push && !existsSync(TIME)) missing.push(`${TIME} (GNU time, for peak RSS): sudo apt-get install -y time`);
  if (needs.serve && !existsSync(SERVE.registry)) missing.push(`${SERVE.registry} (the stock registry the serving case compares with): sudo apt-get install -y docker-registry`);
  if (needs.serve && spawnSync('skopeo', ['--version']).status !== 0) missing.push('skopeo (copies the serving image into docker-registry): sudo apt-get install -y skopeo');
  if (spawnSync('git', ['--version']).status !== 0) missing.push('git: sudo apt-get install -y git');
  if (missing.length > 0) {
    // Debian's awscli is called by its full path: a pyenv or pip shim named `aws` may come first on PATH.
    throw new Error(`missing tools:\n  ${missing.join('\n  ')}`);
  }
  if (build) {
    // dist/ is what bin/raas runs: build it so the numbers belong to these sources.
    log('building dist/ (npm run build)');
    const built = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (built.status !== 0) throw new Error(`npm run build failed:\n${built.stdout}${built.stderr}`);
  } else if (!existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run npm install (or npm run build) first');
  }
}

export interface Environment {
  readonly date: string;
  readonly cpu: string;
  readonly os: string;
  readonly node: string;
  readonly raas: string;
  readonly aws: string;
  readonly s3rver: string;
  readonly rounds: number;
}

export function describeEnvironment(rounds: number): Environment {
  const cpus = os.cpus();
  const release = existsSync('/etc/os-release') ? /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] : undefined;
  const head = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  // Uncommitted changes to what is built or run change what was measured: say so.
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src', 'bin', 'package-lock.json'], { cwd: ROOT, encoding: 'utf8' }).stdout
    .split('\n').filter(Boolean).map((line) => line.slice(3));
  const aws = spawnSync(AWS, ['--version'], { encoding: 'utf8', env: { ...process.env, AWS_CONFIG_FILE: '/dev/null' } });
  const s3rver = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', 's3rver', 'package.json'), 'utf8')) as { version: string };
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpu: `${cpus[0]?.model.trim() ?? 'unknown'}, ${cpus.length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM`,
    os: `${release ?? os.type()}, Linux ${os.release()}`,
    node: process.version,
    raas: `${head}${dirty.length > 0 ? ` with uncommitted changes to ${dirty.join(', ')}` : ''}`,
    aws: `${(aws.stdout || aws.stderr || 'aws-cli not installed').trim().split(' ')[0]} (${AWS})`,
    s3rver: s3rver.version,
    rounds,
  };
}

/** "github.com/docker/distribution 2.8.2+ds1", from `docker-registry --version`. */
export function registryVersion(): string {
  return spawnSync(SERVE.registry, ['--version'], { encoding: 'utf8' }).stdout.trim().split(' ').slice(1).join(' ');
}

/** "skopeo version 1.9.3", from `skopeo --version`. */
export const skopeoVersion = (): string => spawnSync('skopeo', ['--version'], { encoding: 'utf8' }).stdout.trim();
