// Lease fields a real API server refuses: renewTime/acquireTime are metav1.MicroTime (RFC 3339 with
// exactly six fractional digits) and a body that does not decode is a 400 (its patch result: a 422
// on the field `patch`); leaseDurationSeconds must be > 0 and leaseTransitions >= 0 (422 with
// field causes, from kube's ValidateLeaseSpec).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import type { KubeEmulator } from '../../../sandbox/kube/emulator.js';
import { microTimeError, normalizeMicroTime } from '../../../sandbox/kube/strategies.js';
import { apis, expectStatus, failure, jsonPatch, merge, startEmulator } from './support.js';

const NS = 'kube-node-lease';
let emu: KubeEmulator;
let a: ReturnType<typeof apis>;

beforeAll(async () => {
  emu = await startEmulator();
  a = apis(emu);
});

afterAll(async () => {
  await emu.stop();
});

/** A lease body as raw JSON (client-node would turn Date objects into strings itself). */
const lease = (name: string, spec: Record<string, unknown>) =>
  ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name }, spec }) as any;

describe('MicroTime fields', () => {
  it('accepts six fractional digits, with Z or an offset, and what client-node sends as V1MicroTime', async () => {
    const l = await a.coordination.createNamespacedLease({
      namespace: NS,
      body: lease('micro-ok', {
        holderIdentity: 'a',
        leaseDurationSeconds: 15,
        acquireTime: '2026-11-21T10:00:00.123456Z',
        renewTime: '2026-11-21T12:00:00.000001+02:00',
        leaseTransitions: 0,
      }),
    });
    expect(l.spec!.holderIdentity).toBe('a');
    // Written back as the server's MicroTime marshals it: UTC, six digits.
    const stored = await emu.client().get({
      group: 'coordination.k8s.io',
      version: 'v1',
      resource: 'leases',
      namespace: NS,
      name: 'micro-ok',
    });
    expect(stored.spec).toMatchObject({
      acquireTime: '2026-11-21T10:00:00.123456Z',
      renewTime: '2026-11-21T10:00:00.000001Z',
    });
    const renewed = await a.coordination.replaceNamespacedLease({
      name: 'micro-ok',
      namespace: NS,
      body: { ...l, spec: { ...l.spec, renewTime: new k8s.V1MicroTime(Date.now()) } },
    });
    expect(renewed.metadata!.resourceVersion).not.toBe(l.metadata!.resourceVersion);
  });

  it('refuses a create or update whose time is not a MicroTime with 400, naming the layout', async () => {
    const cases: Array<[unknown, string]> = [
      // What a plain JS Date serializes to: three digits.
      [
        '2026-11-21T10:00:00.123Z',
        'parsing time "2026-11-21T10:00:00.123Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse ".123Z" as ".000000"',
      ],
      [
        '2026-11-21T10:00:00Z',
        'parsing time "2026-11-21T10:00:00Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000"',
      ],
      [
        '2026-11-21T10:00:00.1234567Z',
        'parsing time "2026-11-21T10:00:00.1234567Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "7Z" as "Z07:00"',
      ],
      [12345, 'json: cannot unmarshal number into Go value of type string'],
    ];
    for (const [renewTime, why] of cases) {
      await expectStatus(
        a.coordination.createNamespacedLease({
          namespace: NS,
          body: lease('micro-bad', { holderIdentity: 'a', renewTime }),
        }),
        400,
        'BadRequest',
        `Lease in version "v1" cannot be handled as a Lease: ${why}`,
      );
    }
    const l = await a.coordination.createNamespacedLease({
      namespace: NS,
      body: lease('micro-upd', { holderIdentity: 'a', leaseDurationSeconds: 10 }),
    });
    await expectStatus(
      a.coordination.replaceNamespacedLease({
        name: 'micro-upd',
        namespace: NS,
        body: { ...l, spec: { ...l.spec, acquireTime: new Date(0) as any } },
      }),
      400,
      'BadRequest',
      /cannot be handled as a Lease: parsing time "1970-01-01T00:00:00\.000Z"/,
    );
  });

  it('refuses a patch whose result is not a MicroTime with 422 on the field `patch`', async () => {
    await a.coordination.createNamespacedLease({
      namespace: NS,
      body: lease('micro-patch', { holderIdentity: 'a', leaseDurationSeconds: 10 }),
    });
    for (const [body, options] of [
      [{ spec: { renewTime: '2026-11-21T10:00:00.123Z' } }, merge],
      [[{ op: 'add', path: '/spec/renewTime', value: '2026-11-21T10:00:00.123Z' }], jsonPatch],
    ] as const) {
      const { code, status } = await failure(
        a.coordination.patchNamespacedLease({ name: 'micro-patch', namespace: NS, body }, options),
      );
      expect(code).toBe(422);
      expect(status.reason).toBe('Invalid');
      expect(status.message).toMatch(/^ "" is invalid: patch: Invalid value: ".*": parsing time/);
      expect(status.details.causes).toEqual([
        expect.objectContaining({
          reason: 'FieldValueInvalid',
          field: 'patch',
          message: expect.stringContaining('cannot parse ".123Z" as ".000000"'),
        }),
      ]);
    }
    const fine = await a.coordination.patchNamespacedLease(
      { name: 'micro-patch', namespace: NS, body: { spec: { renewTime: '2026-11-21T10:00:00.123000Z' } } },
      merge,
    );
    expect(fine.spec!.renewTime).toBeDefined();
  });
});

describe('lease spec validation', () => {
  it('leaseDurationSeconds must be greater than 0 and leaseTransitions at least 0', async () => {
    const s = await expectStatus(
      a.coordination.createNamespacedLease({
        namespace: NS,
        body: lease('zero', { holderIdentity: 'a', leaseDurationSeconds: 0, leaseTransitions: -1 }),
      }),
      422,
      'Invalid',
      'Lease.coordination.k8s.io "zero" is invalid: [spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0, spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0]',
    );
    expect(s.details.causes).toEqual([
      {
        reason: 'FieldValueInvalid',
        field: 'spec.leaseDurationSeconds',
        message: 'Invalid value: 0: must be greater than 0',
      },
      {
        reason: 'FieldValueInvalid',
        field: 'spec.leaseTransitions',
        message: 'Invalid value: -1: must be greater than or equal to 0',
      },
    ]);

    await a.coordination.createNamespacedLease({
      namespace: NS,
      body: lease('valid', { holderIdentity: 'a', leaseDurationSeconds: 1, leaseTransitions: 0 }),
    });
    await expectStatus(
      a.coordination.patchNamespacedLease(
        { name: 'valid', namespace: NS, body: { spec: { leaseDurationSeconds: -5 } } },
        merge,
      ),
      422,
      'Invalid',
      'Lease.coordination.k8s.io "valid" is invalid: spec.leaseDurationSeconds: Invalid value: -5: must be greater than 0',
    );
    await expectStatus(
      a.coordination.createNamespacedLease({
        namespace: NS,
        body: lease('stringly', { leaseDurationSeconds: '15' }),
      }),
      400,
      'BadRequest',
      'Lease in version "v1" cannot be handled as a Lease: json: cannot unmarshal string into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32',
    );
  });
});

describe('microTimeError', () => {
  it('says what Go says for each way a time can be wrong', () => {
    expect(microTimeError('2026-11-21T10:00:00.123456Z')).toBeUndefined();
    expect(microTimeError('2026-11-21T10:00:00,123456-07:30')).toBeUndefined();
    expect(microTimeError(null)).toBeUndefined();
    expect(microTimeError('2026/11/21T10:00:00.123456Z')).toContain(
      'cannot parse "/11/21T10:00:00.123456Z" as "-"',
    );
    expect(microTimeError('26-11-21T10:00:00.123456Z')).toContain(
      'cannot parse "26-11-21T10:00:00.123456Z" as "2006"',
    );
    expect(microTimeError('2026-11-21 10:00:00.123456Z')).toContain(
      'cannot parse " 10:00:00.123456Z" as "T"',
    );
    expect(microTimeError('2026-13-21T10:00:00.123456Z')).toBe(
      'parsing time "2026-13-21T10:00:00.123456Z": month out of range',
    );
    expect(microTimeError('2026-02-29T10:00:00.123456Z')).toBe(
      'parsing time "2026-02-29T10:00:00.123456Z": day out of range',
    );
    expect(microTimeError('2026-11-21T24:00:00.123456Z')).toContain('hour out of range');
    expect(microTimeError('2026-11-21T10:00:00.123456Zjunk')).toBe(
      'parsing time "2026-11-21T10:00:00.123456Zjunk": extra text: "junk"',
    );
    expect(microTimeError(true)).toBe('json: cannot unmarshal bool into Go value of type string');
    expect(normalizeMicroTime('2026-01-01T01:30:00.000007+02:00')).toBe('2025-12-31T23:30:00.000007Z');
    expect(normalizeMicroTime('2026-11-21T10:00:00,123456-00:30')).toBe('2026-11-21T10:30:00.123456Z');
  });
});
