// `fleetiq-agones reconciler`: the node agent as the DaemonSet runs it. Every setting is a flag and an
// environment variable (SETTINGS in config.ts; flags win); Kubernetes access from KUBECONFIG or the
// in-cluster service account, AWS through the SDK's standard chain (AWS_REGION, credentials,
// AWS_ENDPOINT_URL_GAMELIFT). SIGTERM stops it without deregistering: a DaemonSet rollout must not
// give up every instance.
import type { Command } from 'commander';
import { runComponent } from '../shared/component.js';
import { createLogger } from '../shared/logger.js';
import { addSettings, componentCommand, givenFlags } from '../shared/settings.js';
import { VERSION } from '../shared/version.js';
import { ConfigError } from '../shared/ops-server.js';
import { loadKubeClientConfig } from '../shared/kube-client/config.js';
import {
  SETTINGS,
  STATUS_SIGNING_SECRET_ENV,
  STATUS_SIGNING_SECRET_FILE_ENV,
  parseReconcilerConfig,
  type ReconcilerFlags,
} from './config.js';
import { startReconciler } from './agent.js';

/**
 * The hard deadline after SIGTERM: the step in flight gets SHUTDOWN_GRACE, the parts that stop after it
 * (FleetIQ calls, Events) get their own bounded time; past this, the process exits anyway.
 */
export const RECONCILER_SHUTDOWN_MARGIN_MS = 5_000;

export function registerReconcilerCommand(program: Command): Command {
  const cmd = componentCommand(
    program
      .command('reconciler')
      .description(
        'The node agent (one per game server node, as a DaemonSet): registers the instance with FleetIQ, and on ' +
          'DRAINING cordons, fences, taints, waits for the sessions and deregisters; on SPOT_TERMINATING ends the ' +
          'game servers within the notice. Each setting is a flag or the environment variable in brackets. Also: ' +
          `${STATUS_SIGNING_SECRET_ENV} (env only; empty is refused) or ${STATUS_SIGNING_SECRET_FILE_ENV} (a file ` +
          'holding it), AWS_REGION (required), AWS credentials and ' +
          'AWS_ENDPOINT_URL_GAMELIFT via the SDK chain, KUBECONFIG (else in-cluster), LOG_LEVEL.',
      ),
    VERSION,
  );
  addSettings(cmd, SETTINGS);
  return cmd.action(async (_flags: ReconcilerFlags, command: Command) => {
    const config = parseReconcilerConfig(process.env, givenFlags(command) as ReconcilerFlags);
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
        version: VERSION,
      },
      'reconciler: starting',
    );
    if (!signing)
      logger.warn(
        { signing: 'off' },
        `reconciler: STATUS SIGNING IS OFF: this agent acts on unsigned statuses, so anything that can write Redis can drain this node; set ${STATUS_SIGNING_SECRET_ENV} or ${STATUS_SIGNING_SECRET_FILE_ENV}`,
      );
    const kubeConfig = loadKubeClientConfig();
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
    // SIGTERM stops without deregistering (the agent's stop() never deregisters).
    await runComponent({
      name: 'reconciler',
      logger,
      component: agent,
      shutdownDeadlineMs: config.shutdownGraceMs + RECONCILER_SHUTDOWN_MARGIN_MS,
    });
  });
}
