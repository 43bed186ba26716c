import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { OperationError } from '../../src/errors.ts';
import { createLogger, silentLogger } from '../../src/log.ts';
import { parseAppShow, Rhc } from '../../src/platform/rhc.ts';
import { useRhcStandin } from '../helpers/rhc/standin.ts';

const logger = silentLogger();
const PASSWORD = 'hunter22-secret';
const AUTH = ['--server', 'openshift.example.com', '-l', 'ops@example.com', '-p', PASSWORD];

describe('parseAppShow', () => {
  it('reads URL and Git URL lines', () => {
    const text = 'registry @ http://ignored/ (uuid: 1)\n  URL:        http://registry-acme.example.com/\n  Initial Git URL: https://github.com/pulp/crane\n  Git URL:    ssh://1@registry-acme.example.com/~/git/registry.git/\n';
    assert.deepEqual(parseAppShow(text), { url: 'http://registry-acme.example.com/', gitUrl: 'ssh://1@registry-acme.example.com/~/git/registry.git/' });
  });

  it('reads the URL from the heading later rhc releases print instead of a URL line', () => {
    const text = 'registry @ http://registry-acme.rhcloud.com/ (uuid: 53f3a)\n-----\n  Domain:  acme\n  Git URL: ssh://53f3a@registry-acme.rhcloud.com/~/git/registry.git/\n';
    assert.deepEqual(parseAppShow(text), { url: 'http://registry-acme.rhcloud.com/', gitUrl: 'ssh://53f3a@registry-acme.rhcloud.com/~/git/registry.git/' });
  });

  it('gives nothing for output without both', () => {
    assert.equal(parseAppShow('  URL: http://x/\n'), undefined);
    assert.equal(parseAppShow('  Initial Git URL: x\n  URL: http://x/\n'), undefined);
  });
});

describe('Rhc over the stand-in', () => {
  const rhc = () => new Rhc({ server: 'openshift.example.com', login: 'ops@example.com', password: PASSWORD, logger });

  it('runs exactly the documented commands and reads what they print', async (t) => {
    const standin = await useRhcStandin(t, { password: PASSWORD });
    const client = rhc();
    assert.equal(await client.domainExists('acme'), false);
    await client.createDomain('acme');
    assert.equal(await client.domainExists('acme'), true);
    assert.equal(await client.showApp('registry', 'acme'), undefined);
    assert.equal(await client.showApp('registry', 'nodomain'), undefined);
    await client.createApp({
      app: 'registry', domain: 'acme', cartridge: 'python-2.7', fromCode: 'https://github.com/pulp/crane',
      scaling: true, gearSize: 'small.highcpu', env: { A: '1', B: 'x=y' },
    });
    assert.deepEqual(await client.showApp('registry', 'acme'), { url: 'http://registry-acme.rhcloud.test/', gitUrl: standin.gitUrl('acme', 'registry') });
    await client.setEnv('registry', 'acme', { C: '3' });
    await client.restartApp('registry', 'acme');

    assert.deepEqual(await standin.invocations(), [
      ['domain', 'show', 'acme', ...AUTH],
      ['domain', 'create', 'acme', ...AUTH],
      ['domain', 'show', 'acme', ...AUTH],
      ['app', 'show', 'registry', '-n', 'acme', ...AUTH],
      ['app', 'show', 'registry', '-n', 'nodomain', ...AUTH],
      ['app', 'create', 'registry', 'python-2.7', '-n', 'acme', '--from-code', 'https://github.com/pulp/crane', '--scaling', '--gear-size', 'small.highcpu', '--env', 'A=1', '--env', 'B=x=y', '--no-git', ...AUTH],
      ['app', 'show', 'registry', '-n', 'acme', ...AUTH],
      ['env', 'set', 'C=3', '-a', 'registry', '-n', 'acme', ...AUTH],
      ['app', 'restart', '-a', 'registry', '-n', 'acme', ...AUTH],
    ]);
    const app = await standin.app('acme', 'registry');
    assert.deepEqual([app.env, app.scaling, app.gearSize, app.restarts], [{ A: '1', B: 'x=y', C: '3' }, true, 'small.highcpu', 1]);
  });

  it('sends a token instead of the password when it has one', async (t) => {
    const standin = await useRhcStandin(t, { password: 'unused-password', token: 'tok-12345678' });
    await new Rhc({ password: 'wrong-password', token: 'tok-12345678', logger }).domainExists('acme');
    assert.deepEqual(await standin.invocations(), [['domain', 'show', 'acme', '--token', 'tok-12345678']]);
  });

  it('never lets the password reach an error or the log, even when rhc prints it', async (t) => {
    await useRhcStandin(t, { password: 'the-right-one', echoArgv: true });
    const lines: string[] = [];
    const terminal = new Writable({ write(chunk, _e, done) { lines.push(String(chunk)); done(); } });
    const client = new Rhc({ login: 'ops', password: PASSWORD, logger: createLogger({ level: 'debug', terminal }) });
    await assert.rejects(client.createDomain('acme'), (error: unknown) => {
      assert.ok(error instanceof OperationError);
      assert.match(error.message, /^rhc domain create acme failed \(exit 1\): Your credentials are not authorized/);
      assert.match(error.message, /-p \*\*\*/);
      assert.doesNotMatch(`${error.message}${error.where}${error.fix}${error.stack}${String(error.cause)}`, new RegExp(PASSWORD));
      return true;
    });
    assert.ok(lines.length > 0);
    assert.doesNotMatch(lines.join(''), new RegExp(PASSWORD));
  });

  it('reports a server error with what rhc said', async (t) => {
    await useRhcStandin(t, { fail: 'app restart' });
    await assert.rejects(rhc().restartApp('registry', 'acme'), /rhc app restart -a registry -n acme failed \(exit 1\): The server returned an unexpected error/);
  });

  it('says how to get rhc when it is missing', async () => {
    await assert.rejects(new Rhc({ password: PASSWORD, logger, bin: 'rhc-not-installed' }).domainExists('acme'), (error: unknown) => {
      assert.ok(error instanceof OperationError);
      assert.match(error.message, /'rhc-not-installed' is not installed or not on PATH/);
      assert.match(error.fix ?? '', /gem install rhc/);
      assert.doesNotMatch(`${error.message}${error.where}`, new RegExp(PASSWORD));
      return true;
    });
  });
});
