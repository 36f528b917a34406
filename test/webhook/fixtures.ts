// An HTTPS client for the webhook's tests (the AdmissionReviews they send are
// sandbox/system/admission-review.ts, shared with bench/webhook.ts).
import https from 'node:https';
import { X509Certificate } from 'node:crypto';

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: any;
  /** SHA-256 fingerprint (lower-case hex) of the certificate the server presented on this connection. */
  peerFingerprint: string;
  /** Whether the request went over a connection that had served an earlier request (keep-alive). */
  reusedSocket: boolean;
}

/** One HTTPS request to the webhook, trusting `ca`, checking the name `servername`. */
export function httpsRequest(
  url: string,
  options: {
    method?: string;
    body?: string | Buffer;
    headers?: Record<string, string>;
    ca: string;
    agent?: https.Agent | false;
    servername?: string;
    chunked?: boolean;
  },
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = https.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: options.method ?? 'POST',
        ca: options.ca,
        servername: options.servername ?? 'localhost',
        agent: options.agent ?? false,
        headers: {
          ...(options.body !== undefined && !options.chunked
            ? { 'content-length': String(Buffer.byteLength(options.body)) }
            : {}),
          ...options.headers,
        },
      },
      (res) => {
        // Read the certificate now: a kept-alive socket goes back to the pool at 'end'.
        const raw = (res.socket as import('node:tls').TLSSocket).getPeerCertificate?.()?.raw;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json,
            peerFingerprint: raw
              ? new X509Certificate(raw).fingerprint256.replaceAll(':', '').toLowerCase()
              : '',
            reusedSocket: req.reusedSocket,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) {
      if (options.chunked) {
        // Several writes without a content-length: Transfer-Encoding chunked.
        const buf = Buffer.from(options.body);
        for (let i = 0; i < buf.length; i += 256 * 1024) req.write(buf.subarray(i, i + 256 * 1024));
      } else {
        req.write(options.body);
      }
    }
    req.end();
  });
}
