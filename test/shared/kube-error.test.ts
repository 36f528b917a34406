// The one Kubernetes error type: every form a failed call takes gives the same status code.
import { describe, expect, it } from '@jest/globals';
import { ApiException } from '@kubernetes/client-node';
import { describeKubeError, KubeApiError, statusCode, toKubeApiError } from '../../shared/kube-error.js';

describe('Kubernetes errors', () => {
  const conflict = new ApiException(
    409,
    'Conflict',
    JSON.stringify({ kind: 'Status', reason: 'Conflict', message: 'the object has been modified' }),
    {},
  );

  it('reads the status code from client-node, from KubeApiError and from a plain code', () => {
    expect(statusCode(conflict)).toBe(409);
    expect(statusCode(toKubeApiError('patchNode', conflict))).toBe(409);
    expect(statusCode(Object.assign(new Error('x'), { code: 404 }))).toBe(404);
    // No answer at all: no status, whichever form.
    expect(statusCode(new Error('ECONNREFUSED'))).toBeUndefined();
    expect(statusCode(toKubeApiError('getNode', new Error('ECONNREFUSED')))).toBeUndefined();
    expect(statusCode(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBeUndefined();
    expect(statusCode(undefined)).toBeUndefined();
  });

  it('keeps the Status reason and message, and says what the server said', () => {
    const e = toKubeApiError('patchNode', conflict);
    expect(e).toBeInstanceOf(KubeApiError);
    expect(e).toMatchObject({ operation: 'patchNode', code: 409, reason: 'Conflict' });
    expect(e.message).toBe('patchNode: 409 Conflict: the object has been modified');
    expect(toKubeApiError('x', e)).toBe(e);
    expect(describeKubeError(conflict)).toBe('HTTP 409: the object has been modified');
    expect(describeKubeError(e)).toBe(e.message);
    expect(describeKubeError(Object.assign(new Error('slow'), { name: 'TimeoutError' }))).toBe('timed out');
    const noAnswer = toKubeApiError(
      'getNode',
      Object.assign(new Error('fetch failed'), { cause: { message: 'ECONNREFUSED' } }),
    );
    expect(noAnswer).toMatchObject({ code: 0, reason: 'NoResponse' });
    expect(noAnswer.message).toBe('getNode: ECONNREFUSED');
  });
});
