// The admission route itself (POST <path>), from raw request to AdmissionReview answer: content type,
// size limit, JSON, schema, decision, metrics. It is dispatched before the express router: it is the
// route every GameServer update hits, and on a non-transition review the router and body-parser
// machinery cost a measurable share of the request (see bench/webhook.ts). Everything else the server
// answers (405, 404, future routes) goes through the express app.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../shared/logger.js';
import { answerReview, type AdmissionDeps, type AdmissionPolicy } from './admission.js';
import type { AdmissionOutcome, WebhookMetrics } from './metrics.js';
import { checkAdmissionReview } from './review-schema.js';

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  500: 'InternalError',
};

/** Writes a meta/v1 Status as the body of an error answer. */
export function sendStatus(
  res: ServerResponse,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  const body = JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: REASONS[code] ?? 'BadRequest',
    code,
  });
  res.writeHead(code, { 'content-type': 'application/json', ...headers }).end(body);
}

/** application/json, with no charset or a UTF-8 one (RFC 8259: JSON is UTF-8). */
export function isJsonContentType(header: string | undefined): boolean {
  if (!header) return false;
  const [type, ...params] = header.split(';');
  if (type!.trim().toLowerCase() !== 'application/json') return false;
  for (const p of params) {
    const [k, v] = p.split('=');
    if (k!.trim().toLowerCase() === 'charset' && !/^"?utf-8"?$/i.test((v ?? '').trim())) return false;
  }
  return true;
}

/** What one answered review cost, for observers (the benchmark, embedding simulations). */
export interface AdmissionRecord {
  uid: string;
  outcome: AdmissionOutcome;
  reason: string;
  allowed: boolean;
  /** From the complete body to the answer. */
  seconds: number;
  /** Of which waiting on the Kubernetes API. */
  apiSeconds: number;
}

export interface AdmissionRouteOptions {
  maxRequestBytes: number;
  onAdmission?: (record: AdmissionRecord) => void;
  policy: AdmissionPolicy;
  deps: AdmissionDeps;
  metrics: WebhookMetrics;
  logger: Logger;
}

export function createAdmissionRoute(
  options: AdmissionRouteOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { maxRequestBytes, policy, deps, metrics, logger, onAdmission } = options;
  // Label children bound once: prom-client hashes the label set on every unbound call.
  const latency = new Map<AdmissionOutcome, ReturnType<WebhookMetrics['admissionSeconds']['labels']>>();
  const observe = (start: bigint, outcome: AdmissionOutcome): number => {
    let h = latency.get(outcome);
    if (!h) latency.set(outcome, (h = metrics.admissionSeconds.labels(outcome)));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    h.observe(seconds);
    return seconds;
  };
  const decisions = new Map<string, ReturnType<WebhookMetrics['decisions']['labels']>>();
  const decided = (decision: string, reason: string) => {
    const key = `${decision}\0${reason}`;
    let c = decisions.get(key);
    if (!c) decisions.set(key, (c = metrics.decisions.labels(decision, reason)));
    c.inc();
  };
  const refuse = (
    res: ServerResponse,
    code: number,
    reason: string,
    message: string,
    headers?: Record<string, string>,
  ) => {
    decided('error', reason);
    sendStatus(res, code, message, headers);
  };

  const answer = async (res: ServerResponse, body: string, start: bigint) => {
    let parsed: unknown;
    try {
      parsed = body === '' ? {} : JSON.parse(body);
    } catch (err) {
      observe(start, 'bad_request');
      refuse(res, 400, 'not-json', `body is not valid JSON: ${(err as Error).message}`);
      return;
    }
    const check = checkAdmissionReview(parsed);
    if (!check.ok) {
      observe(start, 'bad_request');
      logger.debug({ problem: check.message, uid: check.uid }, 'rejected a malformed AdmissionReview');
      refuse(res, 400, 'bad-review', `malformed AdmissionReview: ${check.message}`);
      return;
    }
    const result = await answerReview(check.review, policy, deps);
    const seconds = observe(start, result.outcome);
    if (result.outcome !== 'skipped')
      metrics.ownSeconds.observe({ outcome: result.outcome }, Math.max(0, seconds - result.apiMs / 1000));
    decided(result.response.allowed ? 'allow' : 'deny', result.reason);
    onAdmission?.({
      uid: result.response.uid,
      outcome: result.outcome,
      reason: result.reason,
      allowed: result.response.allowed,
      seconds,
      apiSeconds: result.apiMs / 1000,
    });
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(
        `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":${JSON.stringify(result.response)}}`,
      );
  };

  return (req, res) => {
    const start = process.hrtime.bigint();
    if (!isJsonContentType(req.headers['content-type'])) {
      observe(start, 'bad_request');
      // The unread body is discarded by Node before the connection is reused.
      refuse(
        res,
        415,
        'unsupported-media-type',
        `expected Content-Type application/json, got "${req.headers['content-type'] ?? ''}"`,
      );
      return;
    }
    const tooLarge = () => {
      observe(start, 'bad_request');
      // Close rather than read (and throw away) the rest of an oversized body: Node would otherwise
      // decrypt and discard all of it once the answer is sent, megabytes of garbage per caller. The
      // answer gets a moment to reach the client before the connection goes.
      res.once('finish', () => {
        req.socket.pause();
        setTimeout(() => req.socket.destroy(), 200).unref();
      });
      refuse(
        res,
        413,
        'too-large',
        `request body larger than ${maxRequestBytes} bytes (--max-request-bytes)`,
        {
          connection: 'close',
        },
      );
    };
    const declared = Number(req.headers['content-length']);
    if (declared > maxRequestBytes) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > maxRequestBytes) {
        refused = true;
        chunks.length = 0;
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      const body =
        chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
      answer(res, body, start).catch((err: unknown) => {
        // Our bug, not the client's: the one case for a 500.
        logger.error({ err: (err as Error).message, stack: (err as Error).stack }, 'admission failed');
        observe(start, 'internal_error');
        refuse(res, 500, 'internal-error', 'internal error');
      });
    });
    req.on('error', () => {
      // The client went away mid-body: nothing to answer.
    });
  };
}
