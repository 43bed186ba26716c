import type { Command } from 'commander';
import { isvConfig } from '../config/load.ts';
import { ExitCode } from '../errors.ts';
import { registryConfig, registryConfigEnv, registryConfigYaml } from '../setup/registry-config.ts';
import { runCommand, type GlobalOptions, type Io } from './run.ts';

export function registerRegistryConfig(program: Command, io: Io): void {
  program
    .command('registry-config')
    .description("print the configuration of a stock registry (Distribution's docker-registry) serving an ISV's storage (layout = distribution)")
    .argument('<isv>', 'the ISV (a section of raas.cfg)')
    .option('--env', 'print REGISTRY_* environment variables instead of the YAML config file')
    .option('--listen <host:port>', 'the address the registry listens at (http.addr)', ':5000')
    .addHelpText('after', '\nNo secret is printed: the registry reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from its own environment.')
    .action(async (isvName: string, options: { env?: boolean; listen: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      io.exitCode = await runCommand(io, globals, 'registry-config', async (ctx) => {
        const config = registryConfig(isvConfig(ctx.config, isvName), ctx.config.aws, { listen: options.listen });
        const text = options.env ? registryConfigEnv(config) : registryConfigYaml(config);
        return { exitCode: ExitCode.ok, human: text, terse: text, json: { yaml: registryConfigYaml(config), env: registryConfigEnv(config), notes: config.notes } };
      });
    });
}
