// The benchmark's agent host: runs one agent per node name given, in this one process, each with its
// own Kubernetes, GameLift and Redis clients (nothing shared), as the sandbox would. Driven over IPC by
// bench/reconciler.ts: {cmd: 'sample'} answers CPU and memory, {cmd: 'stop'} stops every agent (no
// deregistration) and exits. Bundled with esbuild and run by plain Node, so the memory measured is
// the agent's, not a TypeScript loader's.
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { reconcilerConfig, startReconciler, type RunningReconciler } from '../reconciler/agent.js';

interface HostArgs {
  kubeconfig: string;
  fleetiqUrl: string;
  redisUrl: string;
  group: string;
  secret: string;
  nodes: string[];
  /** Ops server and process metrics per agent (as in production), or none (many agents). */
  ops: boolean;
}

const args = JSON.parse(process.env.AGENT_HOST_ARGS ?? '{}') as HostArgs;
const logger = pino({ level: process.env.AGENT_LOG_LEVEL ?? 'silent' });
const agents: RunningReconciler[] = [];

function sample() {
  const m = process.memoryUsage();
  return {
    type: 'sample',
    rss: m.rss,
    heapUsed: m.heapUsed,
    external: m.external,
    cpu: process.cpuUsage(),
    at: Date.now(),
    phases: agents.reduce<Record<string, number>>((acc, a) => {
      acc[a.phase()] = (acc[a.phase()] ?? 0) + 1;
      return acc;
    }, {}),
    ready: agents.filter((a) => a.ready() === true).length,
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  let next = 0;
  const startOne = async (nodeName: string) => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(args.kubeconfig);
    const agent = await startReconciler({
      config: reconcilerConfig({
        nodeName,
        gameServerGroup: args.group,
        redisUrl: args.redisUrl,
        statusSigningSecret: args.secret,
        overrides: { opsListen: { host: '127.0.0.1', port: 0 } },
        // Each status is published once here (no pubsub republishing it): an empty node is
        // deregistered without waiting for a newer DRAINING, as in the agent's tests. The reaction
        // measured (status to taint) comes before that wait.
        decide: { drainingStableMs: 0 },
      }),
      kubeConfig,
      gameLift: {
        region: 'us-east-1',
        endpoint: args.fleetiqUrl,
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'dummy-secret' },
      },
      logger,
      opsListen: args.ops ? { host: '127.0.0.1', port: 0 } : false,
      defaultMetrics: args.ops,
    });
    agents.push(agent);
    await agent.booted;
  };
  // Like a DaemonSet rollout, a bounded number of agents start at a time.
  await Promise.all(
    Array.from({ length: Math.min(50, args.nodes.length) }, async () => {
      while (next < args.nodes.length) await startOne(args.nodes[next++]);
    }),
  );
  process.send!({ ...sample(), type: 'booted', ms: Date.now() - started, opsUrl: agents[0]?.opsUrl });
}

process.on('message', (msg: { cmd: string }) => {
  if (msg.cmd === 'sample') process.send!(sample());
  if (msg.cmd === 'stop')
    void Promise.all(agents.map((a) => a.stop())).then(() => {
      process.send!({ type: 'stopped' });
      process.disconnect();
      process.exit(0);
    });
});

main().catch((err: unknown) => {
  process.send!({ type: 'error', message: String((err as Error)?.stack ?? err) });
  process.exit(1);
});
