// The ConfigError a configuration parser throws, for assertions on its setting and message.
import { ConfigError } from '../../shared/ops-server.js';

export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}
