// A stand-in for the Agones SDK server (the sidecar) of one GameServer, driven by tests and the
// sandbox's game server processes. Each state change is what the SDK server writes: read the
// GameServer, build the changed copy, send a JSON Patch whose first operation is
// {"op":"test","path":"/metadata/resourceVersion","value":<rv>}; a failed test (422) means the
// object moved on, so it re-reads and tries again (as its work queue does for any failed update). Like the real one it never revives a GameServer
// that is Unhealthy or being deleted, and Reserve(seconds) returns to Ready when the time is up.

import jsonpatch from 'fast-json-patch';
import type { KubeObject, LocalClient } from '../../kube/types.js';
import type { SimClock } from '../../clock.js';
import { GAMESERVERS, isApiErrorCode, named } from '../host.js';
import { isBeingDeleted, stateOf } from '../gameserver-state.js';
import { LAST_ALLOCATED_ANNOTATION, type GameServerState } from '../names.js';
import { formatRFC3339, formatRFC3339Nano } from '../time.js';

export interface SdkOptions {
  clock: SimClock;
  /** Tries per change when the resourceVersion test fails (default 5). */
  retries?: number;
}

/** The JSON Patch the SDK server sends: a resourceVersion test, then the difference. */
export function sdkPatch(current: KubeObject, desired: KubeObject): jsonpatch.Operation[] {
  return [
    { op: 'test', path: '/metadata/resourceVersion', value: current.metadata.resourceVersion },
    ...jsonpatch.compare(current, desired),
  ];
}

export class GameServerSdk {
  private cancelReserve: (() => void) | undefined;
  /** How many patches failed their resourceVersion test (422) and were retried. */
  staleRetries = 0;

  constructor(
    private readonly client: LocalClient,
    readonly namespace: string,
    readonly name: string,
    private readonly options: SdkOptions,
  ) {}

  private get ref() {
    return named(GAMESERVERS, this.namespace, this.name);
  }

  getGameServer(): Promise<KubeObject> {
    return this.client.get(this.ref);
  }

  /** SDK.Ready(): RequestReady (the controller then makes it Ready). */
  ready(): Promise<KubeObject> {
    this.stopReserveTimer();
    return this.updateState('RequestReady');
  }

  /** SDK.Allocate(): the game server allocates itself. */
  allocate(): Promise<KubeObject> {
    this.stopReserveTimer();
    return this.updateState('Allocated');
  }

  /** SDK.Reserve(seconds): Reserved, back to Ready (via RequestReady) after `seconds` (0: until told otherwise). */
  async reserve(seconds: number): Promise<KubeObject> {
    this.stopReserveTimer();
    const out = await this.updateState('Reserved', seconds);
    if (seconds > 0) {
      this.cancelReserve = this.options.clock.setTimeout(() => {
        this.cancelReserve = undefined;
        this.updateState('RequestReady').catch(() => undefined);
      }, seconds * 1000);
    }
    return out;
  }

  /** SDK.Shutdown(). */
  shutdown(): Promise<KubeObject> {
    this.stopReserveTimer();
    return this.updateState('Shutdown');
  }

  /** SDK.SetLabel: metadata.labels["agones.dev/sdk-<key>"]. */
  setLabel(key: string, value: string): Promise<KubeObject> {
    return this.mutate((gs) => {
      gs.metadata.labels = { ...(gs.metadata.labels ?? {}), [`agones.dev/sdk-${key}`]: value };
      return true;
    });
  }

  /** SDK.SetAnnotation: metadata.annotations["agones.dev/sdk-<key>"]. */
  setAnnotation(key: string, value: string): Promise<KubeObject> {
    return this.mutate((gs) => {
      gs.metadata.annotations = { ...(gs.metadata.annotations ?? {}), [`agones.dev/sdk-${key}`]: value };
      return true;
    });
  }

  stop(): void {
    this.stopReserveTimer();
  }

  private stopReserveTimer(): void {
    this.cancelReserve?.();
    this.cancelReserve = undefined;
  }

  private updateState(state: GameServerState, reserveSeconds?: number): Promise<KubeObject> {
    return this.mutate((gs) => {
      // Being shut down or deleted: there is no escaping. Unhealthy: no way back to Ready.
      if (isBeingDeleted(gs) || stateOf(gs) === 'Unhealthy') return false;
      gs.status = { ...(gs.status ?? {}), state };
      if (state === 'Reserved' && reserveSeconds && reserveSeconds > 0) {
        gs.status.reservedUntil = formatRFC3339(this.options.clock.now() + reserveSeconds * 1000);
      } else {
        delete gs.status.reservedUntil;
      }
      if (state === 'Allocated') {
        gs.metadata.annotations = {
          ...(gs.metadata.annotations ?? {}),
          [LAST_ALLOCATED_ANNOTATION]: formatRFC3339Nano(this.options.clock.now()),
        };
      }
      return true;
    });
  }

  /** Read, change, patch with the resourceVersion test; on 422 read again and retry. */
  private async mutate(change: (gs: KubeObject) => boolean): Promise<KubeObject> {
    const tries = this.options.retries ?? 5;
    let lastErr: unknown;
    for (let attempt = 0; attempt < tries; attempt++) {
      const current = await this.getGameServer();
      const desired = structuredClone(current);
      if (!change(desired)) return current;
      try {
        return await this.client.patch(this.ref, 'json', sdkPatch(current, desired));
      } catch (err) {
        // 422: the resourceVersion test failed. The SDK server's work queue retries any failed
        // update, a 409 included, from a fresh read.
        if (!isApiErrorCode(err, 422) && !isApiErrorCode(err, 409)) throw err;
        this.staleRetries++;
        lastErr = err;
      }
    }
    throw lastErr;
  }
}
