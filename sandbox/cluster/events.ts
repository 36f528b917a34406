// core/v1 Events as the simulated controllers' event recorders write them (fire and forget: a
// failed event never fails the controller, as with client-go's recorder).

import type { KubeObject, LocalClient } from '../kube/types.js';
import type { SimClock } from '../clock.js';
import { EVENTS } from './host.js';
import { formatRFC3339 } from './time.js';

export class EventRecorder {
  private seq = 0;

  constructor(
    private readonly client: LocalClient,
    private readonly component: string,
    private readonly clock: SimClock,
    private readonly enabled = true,
  ) {}

  record(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string, host?: string): void {
    if (!this.enabled) return;
    const namespace = obj.metadata.namespace ?? 'default';
    const now = formatRFC3339(this.clock.now());
    const suffix = (this.clock.now() * 1000 + this.seq++).toString(16);
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${obj.metadata.name}.${suffix}`, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}),
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      source: { component: this.component, ...(host ? { host } : {}) },
      reportingComponent: this.component,
      reportingInstance: host ?? '',
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    this.client.create({ ...EVENTS, namespace }, event).catch(() => undefined);
  }
}
