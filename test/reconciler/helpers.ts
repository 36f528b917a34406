import { GameLiftClient } from '@aws-sdk/client-gamelift';
import { createLogger } from '../../shared/logger.js';

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

/** Polls `condition` until it returns a truthy value, or fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  condition: () => T | Promise<T>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await condition();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 10));
  }
}
