import { ConfigError } from '../shared/ops-server.js';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  y: 365 * 86_400_000,
};

/**
 * Parses a duration such as `500ms`, `2s`, `10m`, `1h30m`, `365d` or `10y` (a year is 365 days)
 * into milliseconds. A bare number is rejected: a unit-less timeout is a classic source of
 * milliseconds-versus-seconds mistakes.
 */
export function parseDuration(value: string, setting: string): number {
  const text = value.trim();
  const segment = /(\d+(?:\.\d+)?)(ms|s|m|h|d|y)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = segment.exec(text); m; m = segment.exec(text)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = segment.lastIndex;
  }
  if (text === '' || consumed !== text.length) {
    throw new ConfigError(
      setting,
      `expected a duration such as 500ms, 2s, 10m, 1h30m, 365d or 10y, got "${value}"`,
    );
  }
  return total;
}

/** Formats milliseconds the way parseDuration reads them (for logs and --help defaults). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const parts: string[] = [];
  let rest = ms;
  for (const unit of ['y', 'd', 'h', 'm', 's', 'ms']) {
    const size = UNIT_MS[unit]!;
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}
