// The old Python adapter's message format, both ways, written from the format (four JSON fields:
// GameServerGroupName, GameServerGroupArn, InstanceId, InstanceStatus; the channel is the instance id):
// - what our pubsub publishes, read the way the old daemon reads it (the sandbox's model of it);
// - what the old pubsub publishes, read by the node agent's parsers: never as a status (see
//   test/reconciler/status-source.test.ts for what the agent then does with it).
import { describe, expect, it } from '@jest/globals';
import { buildStatusMessage } from '../../../pubsub/publisher.js';
import { FLEETIQ_STATUSES } from '../../../shared/contract.js';
import {
  parseLegacyStatusMessage,
  parseStatusMessage,
  statusChannel,
} from '../../../shared/status-message.js';
import { legacyDaemonReads } from '../../../sandbox/legacy/daemon.js';

const GROUP = 'agones-game-servers';
const ARN = `arn:aws:gamelift:us-east-1:123456789012:gameservergroup/${GROUP}`;
const INSTANCE = 'i-0123456789abcdef0';
const OLD_FIELDS = ['GameServerGroupName', 'GameServerGroupArn', 'InstanceId', 'InstanceStatus'];

describe("our pubsub's message, read as the old daemon reads it", () => {
  for (const signed of [false, true])
    it(`carries the old four fields with their old meaning (${signed ? 'signed' : 'unsigned'})`, () => {
      for (const status of FLEETIQ_STATUSES) {
        const m = buildStatusMessage(
          { group: GROUP, groupArn: ARN, instanceId: INSTANCE, status, observedAt: Date.now() },
          7,
          signed ? 'a-secret' : undefined,
        );
        const raw = JSON.stringify(m);
        const json = JSON.parse(raw) as Record<string, unknown>;
        for (const f of OLD_FIELDS) expect(typeof json[f]).toBe('string');
        expect(json).toMatchObject({
          GameServerGroupName: GROUP,
          GameServerGroupArn: ARN,
          InstanceId: INSTANCE,
          InstanceStatus: status,
        });
        expect(legacyDaemonReads(raw)).toBe(status);
        // On the old channel: the instance id itself.
        expect(statusChannel(INSTANCE)).toBe(INSTANCE);
        // Ours, so the agent's own parser takes it, and the old-format parser leaves it alone.
        expect(parseStatusMessage(raw, signed ? 'a-secret' : undefined).ok).toBe(true);
        expect(parseLegacyStatusMessage(raw).ok).toBe(false);
      }
    });
});

describe("the old pubsub's message, read by the node agent's parsers", () => {
  it('is recognised as the old format, and never as a status of ours', () => {
    const raw = JSON.stringify({
      GameServerGroupName: GROUP,
      GameServerGroupArn: ARN,
      InstanceId: INSTANCE,
      InstanceStatus: 'DRAINING',
    });
    expect(legacyDaemonReads(raw)).toBe('DRAINING');
    expect(parseStatusMessage(raw).ok).toBe(false);
    expect(parseStatusMessage(raw, 'a-secret').ok).toBe(false);
    expect(parseLegacyStatusMessage(raw)).toEqual({ ok: true, message: JSON.parse(raw) });
  });
});
