import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stdout (one object per line), as every component writes them.
 * LOG_LEVEL picks the level; tests pass `silent`.
 */
export function createLogger(component: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: component, level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime });
}
