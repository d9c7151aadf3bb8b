import type { Command } from 'commander';
import { loadServerConfig, type ServerFlags } from '../../server/config.js';
import { logLevels } from '../../server/config-schema.js';
import type { CliContext } from '../context.js';

/**
 * `ferry serve`: the servers. Settings from these flags, `FERRY_*` variables and the YAML file
 * (src/server/config-schema.ts, docs/server.md). Runs until SIGTERM/SIGINT (main.ts turns them into
 * ctx.signal): then stops accepting, lets transfers finish for the grace period, aborts the rest
 * cleanly and exits 0. A second signal exits at once.
 */
export function registerServe(program: Command, ctx: () => CliContext): void {
  program
    .command('serve')
    .description('run the Ferry server (HTTP API, SFTP/SCP; later FTP, WebDAV) on a data folder')
    .option('--data <dir>', 'data folder: database, secret key, local files (default ./ferry-data)')
    .option('--config <file>', 'YAML configuration file (default <data>/ferry.yaml when it exists)')
    .option('--database <url>', 'postgres://… for several nodes, or a SQLite file (default <data>/ferry.db)')
    .option(
      '--storage <location>',
      "where users' homes go: a folder, s3://bucket/prefix, or CONNECTION[:prefix] (default <data>/files)",
    )
    .option('--http <host:port>', 'HTTP listen address (default 127.0.0.1:8080; port 0 picks a free port)')
    .option('--sftp <host:port|off>', 'SFTP/SCP (SSH) listen address (default 127.0.0.1:2022; off disables)')
    .option('--shutdown-grace-seconds <n>', 'seconds transfers get to finish on SIGTERM (default 30)')
    .option('--trust-proxy <true|addresses>', "trust a load balancer's X-Forwarded-For (default false)")
    .option(
      '--memory-budget-bytes <n>',
      'bytes of transfer buffers the process may hold; transfers wait when spent (default 256 MiB)',
    )
    .option('--log-level <level>', logLevels.join(', '))
    .action(async (opts: ServerFlags) => {
      const c = ctx();
      const config = loadServerConfig(opts);
      if (config.configFile) c.out(`configuration: ${config.configFile}`);
      // Loaded here: the file commands should not pay for fastify, kysely and the drivers.
      const { startServer } = await import('../../server/serve.js');
      const server = await startServer(config, { say: c.out });
      c.out(`data folder: ${config.data}; stop with Ctrl-C (SIGINT) or SIGTERM`);
      const signal = c.signal;
      if (!signal) throw new Error('ferry serve needs the interrupt signal of main.ts');
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
      c.out(`stopping: transfers have ${config.shutdownGraceSeconds} s to finish`);
      await server.stop(config.shutdownGraceSeconds * 1000);
      c.out('stopped');
    });
}
