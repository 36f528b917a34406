// The versioned object store: one global resourceVersion counter, a map per stored resource,
// a bounded history of events per resource for watches that resume from a resourceVersion,
// and the watch fan-out (indexed by selector field so a write reaches only the watchers that can match).
import { badRequest, gone } from './errors.js';
import type { FieldGetter } from './resources.js';
import type { FieldSelector, LabelSelector } from './selectors.js';
import { matchesFields, matchesLabels } from './selectors.js';
import type { KubeObject } from './types.js';

/** One stored version of an object. The object is never mutated; its JSON is computed once, on demand. */
export class Stored {
  private serialized: string | undefined;
  constructor(readonly obj: KubeObject) {}
  json(): string {
    return (this.serialized ??= JSON.stringify(this.obj));
  }
  /** A deep copy a caller may mutate. */
  copy(): KubeObject {
    return JSON.parse(this.json());
  }
}

export type StoreEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: StoreEventType;
  rv: number;
  key: string;
  /** The new version (for DELETED: the last state, stamped with the deletion's resourceVersion). */
  cur: Stored;
  prev?: Stored;
  /** Deliveries built from this event, shared by every watcher that receives the same one. */
  deliveries?: Map<string, Delivery>;
}

export interface Delivery {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  stored: Stored;
  /** Encoded forms (e.g. the JSON line of an HTTP watch), computed once per delivery and format. */
  encoded: Map<string, string>;
}

export interface WatchSink {
  deliver(d: Delivery): void;
  bookmark(rv: number): void;
  /** The watch cannot continue (e.g. its resourceVersion is too old). */
  error(err: Error): void;
}

export interface WatchSpec {
  namespace?: string;
  labels: LabelSelector;
  fields: FieldSelector;
  /** Field getters of the resource type the watcher was opened on (they read the stored form). */
  getters: Record<string, FieldGetter>;
  /** Undefined or "0": start with the current state as ADDED events; else: events after this version. */
  resourceVersion?: string;
  allowBookmarks?: boolean;
  /** After the initial ADDED events, send a bookmark marking their end (sendInitialEvents). */
  initialEventsEndBookmark?: boolean;
}

export class Watcher {
  closed = false;
  lastRv = 0;
  /** The resourceVersion the watch started from. */
  startRv = 0;
  indexedOn?: { field: string; value: string };
  constructor(
    readonly id: number,
    readonly spec: WatchSpec,
    readonly sink: WatchSink,
    private readonly collection: Collection,
  ) {}

  /** The resourceVersion of the last event of the watched resource. */
  collectionRv(): number {
    return this.collection.latestRv();
  }

  matches(obj: KubeObject): boolean {
    const s = this.spec;
    if (s.namespace !== undefined && obj.metadata.namespace !== s.namespace) return false;
    if (s.labels.length > 0 && !matchesLabels(s.labels, obj.metadata.labels)) return false;
    if (s.fields.length > 0 && !matchesFields(s.fields, obj, s.getters)) return false;
    return true;
  }

  /** Delivers an event the way the watch cache does: entering the selector is ADDED, leaving it DELETED. */
  consider(ev: StoreEvent): void {
    if (ev.rv <= this.lastRv || this.closed) return;
    this.lastRv = ev.rv;
    try {
      this.deliverEvent(ev);
    } catch {
      // A watcher whose sink fails is dropped; the others still get the event.
      this.stop();
    }
  }

  private deliverEvent(ev: StoreEvent): void {
    if (ev.type === 'DELETED') {
      if (this.matches(ev.cur.obj)) this.sink.deliver(delivery(ev, 'DELETED', 'cur'));
      return;
    }
    const curPasses = this.matches(ev.cur.obj);
    const prevPasses = ev.prev !== undefined && this.matches(ev.prev.obj);
    if (curPasses && !prevPasses) this.sink.deliver(delivery(ev, 'ADDED', 'cur'));
    else if (curPasses && prevPasses) this.sink.deliver(delivery(ev, 'MODIFIED', 'cur'));
    else if (!curPasses && prevPasses) this.sink.deliver(delivery(ev, 'DELETED', 'prev'));
  }

  stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.collection.removeWatcher(this);
  }
}

function delivery(ev: StoreEvent, type: Delivery['type'], which: 'cur' | 'prev'): Delivery {
  const key = `${type}:${which}`;
  ev.deliveries ??= new Map();
  let d = ev.deliveries.get(key);
  if (!d) {
    let stored = ev.cur;
    if (which === 'prev' && ev.prev) {
      // The previous content, but carrying this event's resourceVersion (as the watch cache sends it).
      const p = ev.prev.obj;
      stored = new Stored({ ...p, metadata: { ...p.metadata, resourceVersion: String(ev.rv) } });
    }
    d = { type, stored, encoded: new Map() };
    ev.deliveries.set(key, d);
  }
  return d;
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** The objects and history of one stored resource. */
export class Collection {
  readonly objects = new Map<string, Stored>();
  private sorted: string[] | null = [];
  readonly history: StoreEvent[] = [];
  /** Events with a resourceVersion at or below this one have left the history. */
  compactedThrough = 0;
  private readonly unindexed = new Set<Watcher>();
  private readonly index = new Map<string, { getter: FieldGetter; byValue: Map<string, Set<Watcher>> }>();

  constructor(
    readonly name: string,
    private readonly historySize: number,
  ) {}

  sortedKeys(): string[] {
    if (this.sorted === null) this.sorted = [...this.objects.keys()].sort();
    return this.sorted;
  }

  noteInsert(key: string): void {
    const s = this.sorted;
    if (s !== null && (s.length === 0 || s[s.length - 1] < key)) s.push(key);
    else this.sorted = null;
  }

  noteRemove(): void {
    this.sorted = null;
  }

  record(ev: StoreEvent): void {
    this.history.push(ev);
    if (this.history.length > this.historySize * 1.25) {
      const drop = this.history.length - this.historySize;
      this.compactedThrough = this.history[drop - 1].rv;
      this.history.splice(0, drop);
    }
  }

  /** The resourceVersion of this resource's last event (0 before any). */
  latestRv(): number {
    return this.history.length ? this.history[this.history.length - 1].rv : this.compactedThrough;
  }

  /** Events after `rv`, oldest first (binary search over the ordered history). */
  eventsAfter(rv: number): StoreEvent[] {
    const h = this.history;
    let lo = 0;
    let hi = h.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (h[mid].rv <= rv) lo = mid + 1;
      else hi = mid;
    }
    return h.slice(lo);
  }

  addWatcher(w: Watcher): void {
    const eq = w.spec.fields.find((f) => f.op === '=');
    const on = eq
      ? { field: eq.field, value: eq.value, getter: w.spec.getters[eq.field] }
      : w.spec.namespace !== undefined
        ? { field: 'metadata.namespace', value: w.spec.namespace, getter: namespaceGetter }
        : undefined;
    if (!on) {
      this.unindexed.add(w);
      return;
    }
    w.indexedOn = { field: on.field, value: on.value };
    let idx = this.index.get(on.field);
    if (!idx) this.index.set(on.field, (idx = { getter: on.getter, byValue: new Map() }));
    let set = idx.byValue.get(on.value);
    if (!set) idx.byValue.set(on.value, (set = new Set()));
    set.add(w);
  }

  removeWatcher(w: Watcher): void {
    if (!w.indexedOn) {
      this.unindexed.delete(w);
      return;
    }
    const idx = this.index.get(w.indexedOn.field);
    const set = idx?.byValue.get(w.indexedOn.value);
    set?.delete(w);
    if (set && set.size === 0) idx!.byValue.delete(w.indexedOn.value);
  }

  watcherCount(): number {
    let n = this.unindexed.size;
    for (const idx of this.index.values()) for (const set of idx.byValue.values()) n += set.size;
    return n;
  }

  forEachWatcher(fn: (w: Watcher) => void): void {
    for (const w of this.unindexed) fn(w);
    for (const idx of this.index.values()) for (const set of idx.byValue.values()) for (const w of set) fn(w);
  }

  /** Only the watchers whose index value matches the old or new object, plus the unindexed ones. */
  dispatch(ev: StoreEvent): void {
    for (const w of this.unindexed) w.consider(ev);
    if (this.index.size === 0) return;
    for (const idx of this.index.values()) {
      const a = idx.getter(ev.cur.obj);
      const setA = idx.byValue.get(a);
      if (setA) for (const w of setA) w.consider(ev);
      if (ev.prev) {
        const b = idx.getter(ev.prev.obj);
        if (b !== a) {
          const setB = idx.byValue.get(b);
          // consider() is idempotent per event (lastRv), so a watcher indexed on both values sees it once.
          if (setB) for (const w of setB) w.consider(ev);
        }
      }
    }
  }
}

const namespaceGetter: FieldGetter = (obj) => obj.metadata.namespace ?? '';

export interface StoreOptions {
  /** Events kept per resource for watches resuming from a resourceVersion (older ones get 410 Gone). */
  historySize?: number;
  bookmarkIntervalMs?: number;
}

export class ObjectStore {
  private rv = 0;
  private readonly collections = new Map<string, Collection>();
  private readonly byUid = new Map<string, { collection: string; key: string }>();
  private readonly dependentsOf = new Map<string, Set<string>>();
  private pending: Array<{ c: Collection; ev: StoreEvent }> = [];
  private flushScheduled = false;
  private nextWatcherId = 1;
  private readonly historySize: number;
  private readonly bookmarkTimer: NodeJS.Timeout;
  private readonly commitListeners: Array<(collection: string, ev: StoreEvent) => void> = [];

  constructor(options: StoreOptions = {}) {
    this.historySize = options.historySize ?? 10_000;
    this.bookmarkTimer = setInterval(() => this.sendBookmarks(), options.bookmarkIntervalMs ?? 60_000);
    this.bookmarkTimer.unref();
  }

  get resourceVersion(): number {
    return this.rv;
  }

  collection(name: string): Collection {
    let c = this.collections.get(name);
    if (!c) this.collections.set(name, (c = new Collection(name, this.historySize)));
    return c;
  }

  get(collection: string, key: string): Stored | undefined {
    return this.collections.get(collection)?.objects.get(key);
  }

  /** Where an object with this uid is stored, if it still exists. */
  locateUid(uid: string): { collection: string; key: string } | undefined {
    return this.byUid.get(uid);
  }

  /** Objects whose ownerReferences name this uid, as `collection|key`. */
  dependents(uid: string): Array<{ collection: string; key: string }> {
    const set = this.dependentsOf.get(uid);
    if (!set) return [];
    return [...set].map((s) => {
      const i = s.indexOf('|');
      return { collection: s.slice(0, i), key: s.slice(i + 1) };
    });
  }

  /** Called synchronously on every committed write (the garbage collector listens). */
  onCommit(fn: (collection: string, ev: StoreEvent) => void): void {
    this.commitListeners.push(fn);
  }

  /** Stores a new version of an object (create when absent), stamping the next resourceVersion. */
  put(collection: string, obj: KubeObject): Stored {
    const c = this.collection(collection);
    const key = objectKey(obj.metadata.namespace, obj.metadata.name!);
    const prev = c.objects.get(key);
    const rv = ++this.rv;
    obj.metadata.resourceVersion = String(rv);
    const cur = new Stored(obj);
    c.objects.set(key, cur);
    if (!prev) c.noteInsert(key);
    this.indexOwners(collection, key, prev?.obj, obj);
    this.commit(c, { type: prev ? 'MODIFIED' : 'ADDED', rv, key, cur, prev });
    return cur;
  }

  /** Removes an object; the DELETED event carries its last state with the deletion's resourceVersion. */
  remove(collection: string, key: string): Stored | undefined {
    const c = this.collections.get(collection);
    const prev = c?.objects.get(key);
    if (!c || !prev) return undefined;
    const rv = ++this.rv;
    const last = new Stored({ ...prev.obj, metadata: { ...prev.obj.metadata, resourceVersion: String(rv) } });
    c.objects.delete(key);
    c.noteRemove();
    this.indexOwners(collection, key, prev.obj, undefined);
    this.commit(c, { type: 'DELETED', rv, key, cur: last, prev });
    return last;
  }

  private indexOwners(collection: string, key: string, before?: KubeObject, after?: KubeObject): void {
    const ref = `${collection}|${key}`;
    const oldUid = before?.metadata.uid;
    const newUid = after?.metadata.uid;
    if (oldUid && oldUid !== newUid) this.byUid.delete(oldUid);
    if (newUid) this.byUid.set(newUid, { collection, key });
    const oldOwners = (before?.metadata.ownerReferences ?? []).map((o) => o.uid);
    const newOwners = (after?.metadata.ownerReferences ?? []).map((o) => o.uid);
    for (const u of oldOwners) {
      if (newOwners.includes(u)) continue;
      const set = this.dependentsOf.get(u);
      set?.delete(ref);
      if (set && set.size === 0) this.dependentsOf.delete(u);
    }
    for (const u of newOwners) {
      let set = this.dependentsOf.get(u);
      if (!set) this.dependentsOf.set(u, (set = new Set()));
      set.add(ref);
    }
  }

  private commit(c: Collection, ev: StoreEvent): void {
    c.record(ev);
    for (const fn of this.commitListeners) fn(c.name, ev);
    this.pending.push({ c, ev });
    // Fan-out happens after the writer's turn: a write never waits on its watchers.
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Delivers every committed event not yet delivered. */
  flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    for (const { c, ev } of batch) {
      c.dispatch(ev);
      // The encoded lines served their purpose; a watcher replaying history re-encodes.
      ev.deliveries = undefined;
    }
  }

  /**
   * Opens a watch. Resuming from a resourceVersion replays the history after it (410 Gone if that
   * history has been compacted); without one, the current state is sent as ADDED events first.
   */
  watch(collection: string, spec: WatchSpec, sink: WatchSink): Watcher {
    const c = this.collection(collection);
    const w = new Watcher(this.nextWatcherId++, spec, sink, c);
    const rvParam = spec.resourceVersion;
    if (rvParam === undefined || rvParam === '' || rvParam === '0') {
      w.lastRv = w.startRv = this.rv;
      c.addWatcher(w);
      for (const key of c.sortedKeys()) {
        const s = c.objects.get(key)!;
        if (w.closed) break;
        if (w.matches(s.obj)) sink.deliver({ type: 'ADDED', stored: s, encoded: new Map() });
      }
      if (spec.initialEventsEndBookmark && !w.closed) sink.bookmark(this.rv);
      return w;
    }
    const from = Number(rvParam);
    if (!Number.isInteger(from) || from < 0) throw badRequest(`invalid resource version: ${rvParam}`);
    if (from < c.compactedThrough) {
      w.closed = true;
      // As the watch cache words it: the oldest resourceVersion it can still start from.
      sink.error(gone(`too old resource version: ${from} (${c.compactedThrough})`));
      return w;
    }
    w.lastRv = w.startRv = from;
    c.addWatcher(w);
    for (const ev of c.eventsAfter(from)) {
      if (w.closed) break;
      w.consider(ev);
    }
    return w;
  }

  /**
   * One bookmark for one watcher now (after the events still queued), if it asked for bookmarks:
   * what the watch cache sends a watcher shortly before its request times out.
   */
  bookmark(w: Watcher): void {
    this.flush();
    if (!w.spec.allowBookmarks || w.closed) return;
    // The watch cache's resourceVersion is that of its resource's last event; a bookmark no newer
    // than where the watch started is not sent (events it filtered out still count).
    const rv = w.collectionRv();
    if (rv <= w.startRv || rv < w.lastRv) return;
    w.lastRv = rv;
    w.sink.bookmark(rv);
  }

  private sendBookmarks(): void {
    this.flush();
    for (const c of this.collections.values()) {
      c.forEachWatcher((w) => {
        if (w.spec.allowBookmarks && !w.closed) {
          w.lastRv = Math.max(w.lastRv, this.rv);
          w.sink.bookmark(this.rv);
        }
      });
    }
  }

  watcherCount(): number {
    let n = 0;
    for (const c of this.collections.values()) n += c.watcherCount();
    return n;
  }

  close(): void {
    clearInterval(this.bookmarkTimer);
    for (const c of this.collections.values()) {
      const all: Watcher[] = [];
      c.forEachWatcher((w) => all.push(w));
      for (const w of all) w.stop();
    }
  }
}
