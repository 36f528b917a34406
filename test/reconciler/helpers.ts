import { GameLiftClient } from '@aws-sdk/client-gamelift';
import { createLogger } from '../../shared/logger.js';
import { waitFor as waitFor_ } from '../helpers/wait.js';

export const silent = createLogger('reconciler-test', 'silent');

/** The real GameLift client pointed at an emulator; one attempt unless told, so a test sees each answer. */
export function gameLiftClient(url: string, maxAttempts = 1): GameLiftClient {
  return new GameLiftClient({
    region: 'us-east-1',
    endpoint: url,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'dummy-secret' },
    maxAttempts,
  });
}

/** Waits for a condition (see ../helpers/wait.ts), 30_000 ms by default here (the real API server on a busy machine). */
export const waitFor = <T>(what: string, condition: () => T | Promise<T>, timeoutMs = 30_000) =>
  waitFor_(what, condition, timeoutMs);

/** `expected` appears in `actual` in this order (other items may come in between). */
export function inOrder(expected: readonly string[], actual: readonly string[]): boolean {
  let i = 0;
  for (const a of actual) if (a === expected[i]) i++;
  return i === expected.length;
}
