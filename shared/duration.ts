// The one duration grammar of every component's settings (documented in README.md, "Configuration
// reference"): Go-style `250ms`, `90s`, `5m`, `1h30m`, `1.5h`, plus `d` and `y` for certificate
// lifetimes, and a bare number meaning seconds.
import { ConfigError } from './ops-server.js';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  y: 365 * 86_400_000,
};

export interface DurationOptions {
  /**
   * Refuse a bare number instead of reading it as seconds. Only the sandbox's simulated times use it,
   * where a unit-less value has always been refused.
   */
  requireUnit?: boolean;
}

/**
 * Parses a duration such as `500ms`, `2s`, `10m`, `1h30m`, `1.5h`, `365d` or `10y` (a year is 365
 * days) into whole milliseconds. A bare number is seconds: pubsub's lease timings (`15`) and the
 * reconciler's settings (`90`) have always been read so, and Kubernetes' and fleetiq.conf's
 * `*Seconds` fields count in seconds too. Negative, empty and space-separated values are refused
 * with a message naming `setting`.
 */
export function parseDuration(value: string, setting: string, options: DurationOptions = {}): number {
  const text = value.trim();
  if (!options.requireUnit && /^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const segment = /(\d+(?:\.\d+)?)(ms|s|m|h|d|y)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = segment.exec(text); m; m = segment.exec(text)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = segment.lastIndex;
  }
  if (text === '' || consumed !== text.length) {
    const bare = options.requireUnit ? '' : ' (a bare number is seconds)';
    throw new ConfigError(
      setting,
      `expected a duration such as 250ms, 90s, 5m, 1h30m, 365d or 10y${bare}, got "${value}"`,
    );
  }
  return Math.round(total);
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
