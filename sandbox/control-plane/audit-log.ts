// The real API server's audit log as a request log: what the emulator's request log records of each
// request (who, what, the answer), read from kube-apiserver's JSON-lines audit file. The policy
// decides whose requests are written; only completed requests are (a watch when it ends).
import { open, type FileHandle } from 'node:fs/promises';
import type { RequestLogEntry } from '../kube/request-log.js';

/** An audit policy writing the requests of the ServiceAccounts of `namespaces` (Metadata level), nothing else. */
export function serviceAccountAuditPolicy(namespaces: string[]): Record<string, unknown> {
  return {
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived', 'ResponseStarted'],
    rules: [
      { level: 'Metadata', userGroups: namespaces.map((ns) => `system:serviceaccounts:${ns}`) },
      { level: 'None' },
    ],
  };
}

/** One audit event (audit.k8s.io/v1 Event) as a request log entry; undefined for what is not one. */
export function auditEventToEntry(line: string): RequestLogEntry | undefined {
  let e: any;
  try {
    e = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (e?.kind !== 'Event' || e.stage !== 'ResponseComplete') return undefined;
  const ref = e.objectRef ?? {};
  const code = Number(e.responseStatus?.code ?? 0);
  return {
    time: Date.parse(e.stageTimestamp ?? e.requestReceivedTimestamp ?? '') || 0,
    user: String(e.user?.username ?? ''),
    groups: Array.isArray(e.user?.groups) ? e.user.groups.map(String) : [],
    verb: String(e.verb ?? ''),
    group: String(ref.apiGroup ?? ''),
    resource: String(ref.resource ?? ''),
    ...(ref.subresource ? { subresource: String(ref.subresource) } : {}),
    ...(ref.namespace ? { namespace: String(ref.namespace) } : {}),
    ...(ref.name ? { name: String(ref.name) } : {}),
    code,
    ...(code >= 400 && e.responseStatus?.message ? { message: String(e.responseStatus.message) } : {}),
  };
}

/**
 * Follows the audit file: `poll()` hands every new complete line to `onEntry`. The API server
 * appends; a partial last line waits for the next poll.
 */
export class AuditLogReader {
  private handle: FileHandle | undefined;
  private offset = 0;
  private rest = '';
  private polling: Promise<void> | undefined;

  constructor(
    private readonly path: string,
    private readonly onEntry: (e: RequestLogEntry) => void,
  ) {}

  poll(): Promise<void> {
    this.polling ??= this.read().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async read(): Promise<void> {
    if (!this.handle) {
      try {
        this.handle = await open(this.path, 'r');
      } catch {
        return; // Not written yet.
      }
    }
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      const { bytesRead } = await this.handle.read(buf, 0, buf.length, this.offset);
      if (bytesRead === 0) return;
      this.offset += bytesRead;
      const text = this.rest + buf.subarray(0, bytesRead).toString('utf8');
      const lines = text.split('\n');
      this.rest = lines.pop() ?? '';
      for (const line of lines) {
        const entry = auditEventToEntry(line);
        if (entry) this.onEntry(entry);
      }
    }
  }

  async close(): Promise<void> {
    await this.polling;
    await this.handle?.close();
    this.handle = undefined;
  }
}
