// `fleetiq-agones reconciler`: the node agent as the DaemonSet runs it. Every setting is a flag and an
// environment variable (SETTINGS in config.ts; flags win); Kubernetes access from KUBECONFIG or the
// in-cluster service account, AWS through the SDK's standard chain (AWS_REGION, credentials,
// AWS_ENDPOINT_URL_GAMELIFT). SIGTERM stops it without deregistering: a DaemonSet rollout must not
// give up every instance.
import type { Command } from 'commander';
import { createLogger } from '../shared/logger.js';
import { ConfigError } from '../shared/ops-server.js';
import { loadKubeConfig } from '../shared/kube-connection.js';
import {
  SETTINGS,
  STATUS_SIGNING_SECRET_ENV,
  STATUS_SIGNING_SECRET_FILE_ENV,
  parseReconcilerConfig,
  type ReconcilerFlags,
} from './config.js';
import { startReconciler } from './agent.js';

const kebab = (flag: string) => flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function registerReconcilerCommand(program: Command): Command {
  const cmd = program
    .command('reconciler')
    .description(
      'The node agent (one per game server node, as a DaemonSet): registers the instance with FleetIQ, and on ' +
        'DRAINING cordons, fences, taints, waits for the sessions and deregisters; on SPOT_TERMINATING ends the ' +
        'game servers within the notice. Each setting is a flag or the environment variable in brackets. Also: ' +
        `${STATUS_SIGNING_SECRET_ENV} (env only; empty is refused) or ${STATUS_SIGNING_SECRET_FILE_ENV} (a file ` +
        'holding it), AWS_REGION (required), AWS credentials and ' +
        'AWS_ENDPOINT_URL_GAMELIFT via the SDK chain, KUBECONFIG (else in-cluster), LOG_LEVEL.',
    );
  for (const s of SETTINGS) {
    const origin = s.default === undefined ? 'required' : `default ${s.default}`;
    cmd.option(`--${kebab(s.flag)} <value>`, `${s.help} [${s.env}; ${origin}]`);
  }
  return cmd.action(async (flags: ReconcilerFlags) => {
    const config = parseReconcilerConfig(process.env, flags);
    if (!process.env.AWS_REGION?.trim())
      throw new ConfigError(
        'AWS_REGION',
        'is required (the region of the game server group, e.g. us-west-2)',
      );
    const logger = createLogger('reconciler');
    const signing = config.statusSigningSecret !== undefined;
    logger.info(
      {
        node: config.nodeName,
        group: config.gameServerGroup,
        redis: config.redisDescription,
        signing: signing ? 'on' : 'off',
      },
      'reconciler: starting',
    );
    if (!signing)
      logger.warn(
        { signing: 'off' },
        `reconciler: STATUS SIGNING IS OFF: this agent acts on unsigned statuses, so anything that can write Redis can drain this node; set ${STATUS_SIGNING_SECRET_ENV} or ${STATUS_SIGNING_SECRET_FILE_ENV}`,
      );
    const kubeConfig = loadKubeConfig();
    const agent = await startReconciler({ config, kubeConfig, gameLift: {}, logger });
    logger.info(
      {
        node: config.nodeName,
        group: config.gameServerGroup,
        redis: config.redisDescription,
        signing: signing ? 'on' : 'off',
        ops: agent.opsUrl,
      },
      'reconciler: started',
    );
    await new Promise<void>((resolve) => {
      const shutdown = (signal: string) => {
        logger.info({ signal }, 'reconciler: shutting down (the instance stays registered)');
        // Whatever happens, leave within the pod's grace period.
        setTimeout(() => {
          logger.error('reconciler: shutdown took too long; exiting');
          process.exit(0);
        }, config.shutdownGraceMs + 5_000).unref();
        agent.stop().then(resolve, (err: unknown) => {
          logger.error({ err }, 'reconciler: shutdown failed');
          process.exit(1);
        });
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
    });
  });
}
