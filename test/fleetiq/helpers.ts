import { GameLiftClient, type GameLiftClientConfig } from '@aws-sdk/client-gamelift';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { createLogger } from '../../shared/logger.js';

export const silentLogger = createLogger('fleetiq-emulator-test', 'silent');

export const DUMMY_CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'dummy-secret' };

/**
 * The real GameLift client pointed at an emulator. By default it makes a single attempt so a test
 * sees each answer as sent; pass `retries` to use the SDK's own standard retry strategy with a short
 * constant backoff (the real base delays are 50 ms and 1 s for throttling).
 */
export function gameLift(
  url: string,
  options: { maxAttempts?: number; backoffMs?: number; config?: Partial<GameLiftClientConfig> } = {},
): GameLiftClient {
  const maxAttempts = options.maxAttempts ?? 1;
  return new GameLiftClient({
    region: 'us-east-1',
    endpoint: url,
    credentials: DUMMY_CREDENTIALS,
    retryStrategy: new ConfiguredRetryStrategy(maxAttempts, options.backoffMs ?? 5),
    ...options.config,
  });
}

/** Polls `condition` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(
  what: string,
  condition: () => T | Promise<T>,
  timeoutMs = 5000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await condition();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The error an SDK call rejects with (fails the test if it resolves). */
export async function errorOf(
  p: Promise<unknown>,
): Promise<Error & { $metadata: { httpStatusCode?: number; attempts?: number }; $fault?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { $metadata: { httpStatusCode?: number; attempts?: number } };
  }
  throw new Error('expected the call to fail, but it succeeded');
}
