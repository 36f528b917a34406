/**
 * The HTTP front of the emulator: `POST /` speaks GameLift's awsJson1_1, `/_emulator/...` is the
 * control surface. Per API call: envelope → count → rate limit → injected fault → validation →
 * state. Nothing a client sends can crash it: every failure becomes an error answer.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Counter, Registry } from 'prom-client';
import type { Logger } from '../../shared/logger.js';
import type { CallCounter } from './calls.js';
import { handleControlRequest, type FleetIQControl } from './control.js';
import type { FaultInjector } from './faults.js';
import {
  FleetIQError,
  errorResponse,
  parseCall,
  successResponse,
  type FleetIQOperation,
  type WireResponse,
} from './protocol.js';
import type { FleetIQState } from './state.js';
import type { OperationThrottle } from './throttle.js';
import { validateInput } from './validation.js';

/** Larger bodies are refused: every FleetIQ input is a few kilobytes at most. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface ServerParts {
  state: FleetIQState;
  throttle: OperationThrottle;
  faults: FaultInjector;
  calls: CallCounter;
  control: FleetIQControl;
  logger: Logger;
}

export interface RunningServer {
  url: string;
  registry: Registry;
  close(): Promise<void>;
}

export async function startServer(
  listen: { host: string; port: number },
  parts: ServerParts,
): Promise<RunningServer> {
  const { state, throttle, faults, calls, control, logger } = parts;
  const registry = new Registry();
  const callsMetric = new Counter({
    name: 'fleetiq_emulator_calls_total',
    help: 'GameLift API calls answered by the FleetIQ emulator, by operation and outcome (ok or error name).',
    labelNames: ['operation', 'outcome'] as const,
    registers: [registry],
  });
  const hangs = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  let closing = false;

  const holdFor = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          hangs.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      hangs.add(entry);
    });

  async function answerApiCall(req: http.IncomingMessage, path: string, body: string): Promise<WireResponse> {
    const requestId = randomUUID();
    let operation: FleetIQOperation | undefined;
    try {
      const call = parseCall({ method: req.method ?? '', path, headers: req.headers, body });
      operation = call.operation;
      calls.received(operation);
      if (!throttle.admit(operation)) {
        calls.answered(operation, { ok: false, errorType: 'ThrottlingException', throttled: true });
        callsMetric.inc({ operation, outcome: 'ThrottlingException' });
        logger.debug({ operation, attempt: call.attempt }, 'fleetiq emulator: throttled');
        return errorResponse(new FleetIQError('ThrottlingException', 'Rate exceeded'), requestId);
      }
      const fault = faults.decide(operation, call.attempt);
      if (fault?.kind === 'error') {
        calls.answered(operation, { ok: false, errorType: fault.errorType, faulted: true });
        callsMetric.inc({ operation, outcome: fault.errorType });
        logger.info({ operation, attempt: call.attempt, fault }, 'fleetiq emulator: injected error');
        return errorResponse(new FleetIQError(fault.errorType, fault.message, fault.httpStatus), requestId);
      }
      if (fault?.kind === 'hang') {
        calls.hung(operation);
        logger.info({ operation, attempt: call.attempt, fault }, 'fleetiq emulator: injected hang');
        await holdFor(fault.delayMs);
      }
      const input = validateInput(operation, call.input);
      const output = state.call(operation, input);
      calls.answered(operation, { ok: true });
      callsMetric.inc({ operation, outcome: 'ok' });
      logger.debug({ operation, attempt: call.attempt }, 'fleetiq emulator: call answered');
      return successResponse(output, requestId);
    } catch (err) {
      const error =
        err instanceof FleetIQError
          ? err
          : new FleetIQError(
              'InternalServiceException',
              `emulator failure: ${(err as Error)?.message ?? String(err)}`,
            );
      if (!(err instanceof FleetIQError))
        logger.error({ err, operation }, 'fleetiq emulator: unexpected failure');
      if (operation) {
        calls.answered(operation, { ok: false, errorType: error.type });
        callsMetric.inc({ operation, outcome: error.type });
      }
      logger.debug(
        { operation, error: error.type, message: error.message },
        'fleetiq emulator: call rejected',
      );
      return errorResponse(error, requestId);
    }
  }

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (path === '/_emulator' || path.startsWith('/_emulator/')) {
          if (tooLarge)
            return send(
              res,
              413,
              { 'content-type': 'application/json' },
              JSON.stringify({ error: 'body too large' }),
            );
          const r = await handleControlRequest(control, req.method ?? '', path, query, body, async () => ({
            contentType: registry.contentType,
            text: await registry.metrics(),
          }));
          const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
          return send(res, r.status, { 'content-type': r.contentType ?? 'application/json' }, text);
        }
        const answer = tooLarge
          ? errorResponse(
              new FleetIQError('SerializationException', `request body exceeds ${MAX_BODY_BYTES} bytes`),
              randomUUID(),
            )
          : await answerApiCall(req, path, body);
        send(res, answer.status, answer.headers, answer.body);
      })().catch((err: unknown) => {
        logger.error({ err }, 'fleetiq emulator: request handling failed');
        send(
          res,
          500,
          { 'content-type': 'application/json' },
          JSON.stringify({ __type: 'InternalServiceException', message: 'emulator failure' }),
        );
      });
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;

  function send(
    res: http.ServerResponse,
    status: number,
    headers: Record<string, string>,
    body: string,
  ): void {
    if (closing || res.destroyed || res.writableEnded) return;
    res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) }).end(body);
  }

  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    registry,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        for (const h of hangs) {
          clearTimeout(h.timer);
          h.resolve();
        }
        hangs.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
