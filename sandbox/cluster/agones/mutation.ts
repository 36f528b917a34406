// Agones' own mutating webhook for GameServer CREATE (GameServer.ApplyDefaults: the finalizer,
// port and eviction defaults, the first state), as an in-process admission step in front of the
// emulator's other admission (the webhooks). Without it the simulated GameServer controller applies
// the same defaults with an update right after the create, which a webhook on UPDATE would see.

import type { Admitter } from '../../kube/pipeline.js';
import type { AdmissionAttributes, AdmissionResult } from '../../kube/types.js';
import { applyGameServerDefaults } from '../gameserver-state.js';

/** Wraps `inner` (the emulator's webhook admission, if any) with Agones' GameServer defaulting. */
export function withAgonesMutation(inner?: Admitter): Admitter {
  return {
    async admit(attrs: AdmissionAttributes): Promise<AdmissionResult> {
      let object = attrs.object;
      if (
        attrs.operation === 'CREATE' &&
        attrs.resource.group === 'agones.dev' &&
        attrs.resource.resource === 'gameservers' &&
        !attrs.subResource &&
        object
      ) {
        object = applyGameServerDefaults(object);
      }
      if (!inner) return { object, warnings: [] };
      const res = await inner.admit({ ...attrs, object });
      return { object: res.object ?? object, warnings: res.warnings ?? [] };
    },
  };
}
