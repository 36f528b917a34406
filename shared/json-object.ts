// One way to read a JSON document a peer sent that must be an object (a Redis status message, an
// instance-metadata document): never throws, and says why a value is refused.

export type JsonObjectResult = { ok: true; value: Record<string, unknown> } | { ok: false; error: string };

/** Parses `raw` as a JSON object; `maxBytes` refuses longer input before parsing it. */
export function parseJsonObject(raw: string, maxBytes?: number): JsonObjectResult {
  if (maxBytes !== undefined && raw.length > maxBytes)
    return { ok: false, error: `document of ${raw.length} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { ok: false, error: 'not an object' };
  return { ok: true, value: value as Record<string, unknown> };
}
