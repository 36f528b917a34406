// What each identity asked the API server and what it got: the record tests (and the RBAC audit)
// read to see which component did what. Bounded, so a long simulation does not grow it forever.
import type { UserInfo } from './types.js';

export interface RequestLogEntry {
  time: number;
  user: string;
  groups: string[];
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  code: number;
  dryRun?: boolean;
  /** For an allowed request under RBAC: which binding and rule allowed it. */
  allowedBy?: { binding: string; role: string; ruleIndex: number };
  /** The Status message of a failed request. */
  message?: string;
}

export class RequestLog {
  private readonly items: RequestLogEntry[] = [];
  constructor(private readonly capacity = 50_000) {}

  record(entry: RequestLogEntry): void {
    this.items.push(entry);
    if (this.items.length > this.capacity * 1.2) this.items.splice(0, this.items.length - this.capacity);
  }

  /** Entries, oldest first, optionally only one identity's (by username or UserInfo). */
  entries(user?: string | UserInfo): RequestLogEntry[] {
    if (user === undefined) return [...this.items];
    const name = typeof user === 'string' ? user : user.username;
    return this.items.filter((e) => e.user === name);
  }

  clear(): void {
    this.items.length = 0;
  }
}
