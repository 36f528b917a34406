// Tests start a real redis-server the way the sandbox does (sandbox/run/redis-process.ts): on a free
// loopback port, no persistence, restartable on the same port to simulate an outage.
import { startRedisProcess, type RedisProcess } from '../../sandbox/run/redis-process.js';

export { freePort } from '../../sandbox/run/redis-process.js';

export type RedisServer = RedisProcess;

export const startRedis = (options: { requirePass?: string } = {}): Promise<RedisServer> =>
  startRedisProcess(options);
