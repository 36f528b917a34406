import { GameLiftClient, type GameLiftClientConfig } from '@aws-sdk/client-gamelift';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { createLogger } from '../../../shared/logger.js';
import { waitFor as waitFor_ } from '../../helpers/wait.js';

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

/** Waits for a condition (see ../helpers/wait.ts), 5000 ms by default here. */
export const waitFor = <T>(what: string, condition: () => T | Promise<T>, timeoutMs = 5000) =>
  waitFor_(what, condition, timeoutMs);

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
