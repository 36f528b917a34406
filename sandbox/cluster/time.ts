// Timestamps as Go writes them.

/**
 * Go's time.MarshalText / RFC3339Nano in UTC: up to nine fractional digits with trailing zeros
 * trimmed (and no fraction at all when it is zero), e.g. 2026-01-02T03:04:05.123456789Z.
 * `subMsNanos` (0..999999) are the nanoseconds below the millisecond (a double cannot carry them
 * at epoch scale).
 */
export function formatRFC3339Nano(epochMs: number, subMsNanos = 0): string {
  const wholeMs = Math.floor(epochMs);
  subMsNanos = Math.min(999_999, Math.max(0, Math.trunc(subMsNanos)));
  const seconds = Math.floor(wholeMs / 1000);
  const nanos = (wholeMs - seconds * 1000) * 1_000_000 + subMsNanos;
  const base = new Date(seconds * 1000).toISOString().slice(0, 19);
  if (nanos === 0) return `${base}Z`;
  return `${base}.${String(nanos).padStart(9, '0').replace(/0+$/, '')}Z`;
}

/** metav1.Time: RFC3339 to the second, UTC. */
export function formatRFC3339(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
