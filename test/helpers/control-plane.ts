// The real control plane in a Jest file: started once in beforeAll, stopped in afterAll, and a
// process that died meanwhile fails the file with its log tail (instead of the tests hanging).
import https from 'node:https';
import { afterAll, beforeAll } from '@jest/globals';
import {
  startControlPlane,
  type ControlPlane,
  type ControlPlaneOptions,
} from '../../sandbox/control-plane/control-plane.js';

/** Start-up on a loaded two-core machine (the first file also waits for nothing to be built: pretest builds). */
export const CONTROL_PLANE_START_MS = 180_000;

export function useControlPlane(options: ControlPlaneOptions = {}): () => ControlPlane {
  let cp: ControlPlane | undefined;
  beforeAll(async () => {
    cp = await startControlPlane(options);
  }, CONTROL_PLANE_START_MS);
  afterAll(async () => {
    const failure = cp?.failure();
    await cp?.stop();
    if (failure) throw failure;
  }, 30_000);
  return () => {
    if (!cp) throw new Error('the control plane has not started');
    return cp;
  };
}

export interface ApiResponse {
  status: number;
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

/** One request to the API server as the admin (or with `token`), JSON in and out. */
export function apiRequest(
  cp: Pick<ControlPlane, 'server' | 'caPem' | 'adminToken'>,
  method: string,
  path: string,
  body?: unknown,
  options: { token?: string; contentType?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = https.request(
      new URL(path, cp.server),
      {
        method,
        ca: cp.caPem,
        timeout: 30_000,
        headers: {
          Authorization: `Bearer ${options.token ?? cp.adminToken}`,
          Accept: 'application/json',
          // With a length, not chunked: Node sends a DELETE's body with neither otherwise, and the
          // server reads it as the start of the next request on the connection.
          ...(data !== undefined
            ? {
                'Content-Type': options.contentType ?? 'application/json',
                'Content-Length': Buffer.byteLength(data),
              }
            : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // Not JSON (e.g. /readyz): the text itself.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}
