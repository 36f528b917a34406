import { describe, it, expect } from '@jest/globals';
import {
  defaultMutatingWebhookConfiguration,
  validateMutatingWebhookConfiguration,
} from '../../../sandbox/kube/admission/config.js';
import { compileExpression, evaluateConditions, toCelValue } from '../../../sandbox/kube/admission/cel.js';
import {
  namespaceSelectorMatches,
  objectSelectorMatches,
  ruleMatches,
} from '../../../sandbox/kube/admission/match.js';
import { selectorMatches } from '../../../sandbox/kube/admission/label-selector.js';
import type { AdmissionAttributes, KubeObject } from '../../../sandbox/kube/types.js';

function configWith(hook: Record<string, unknown>, name = 'fleetiq-agones'): KubeObject {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: 'gameservers.fleetiq.example.com',
        clientConfig: {
          service: { namespace: 'fleetiq', name: 'webhook', path: '/mutate' },
          caBundle: 'Zm9v',
        },
        rules: [
          {
            operations: ['UPDATE'],
            apiGroups: ['agones.dev'],
            apiVersions: ['v1'],
            resources: ['gameservers'],
          },
        ],
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        ...hook,
      },
    ],
  };
}

function messageOf(hook: Record<string, unknown>): string | undefined {
  return validateMutatingWebhookConfiguration(configWith(hook))?.message;
}

const prefix = 'MutatingWebhookConfiguration.admissionregistration.k8s.io "fleetiq-agones" is invalid: ';

describe('MutatingWebhookConfiguration defaults', () => {
  it('fills in what kube-apiserver defaults', () => {
    const d = defaultMutatingWebhookConfiguration(configWith({}));
    expect(d.webhooks[0]).toMatchObject({
      failurePolicy: 'Fail',
      matchPolicy: 'Equivalent',
      namespaceSelector: {},
      objectSelector: {},
      timeoutSeconds: 10,
      reinvocationPolicy: 'Never',
      rules: [{ scope: '*' }],
      clientConfig: { service: { port: 443 } },
    });
    // Explicit values stay.
    const e = defaultMutatingWebhookConfiguration(configWith({ failurePolicy: 'Ignore', timeoutSeconds: 3 }));
    expect(e.webhooks[0]).toMatchObject({ failurePolicy: 'Ignore', timeoutSeconds: 3 });
  });
});

describe('MutatingWebhookConfiguration validation', () => {
  it('accepts a valid configuration, including the adapter’s matchConditions', () => {
    expect(
      validateMutatingWebhookConfiguration(
        configWith({
          failurePolicy: 'Ignore',
          timeoutSeconds: 30,
          sideEffects: 'NoneOnDryRun',
          admissionReviewVersions: ['v1', 'v1beta1'],
          matchConditions: [
            {
              name: 'becomes-allocated',
              expression:
                'object.status.state == "Allocated" && (oldObject == null || !has(oldObject.status) || oldObject.status.state != "Allocated")',
            },
          ],
          objectSelector: { matchExpressions: [{ key: 'agones.dev/fleet', operator: 'Exists' }] },
        }),
      ),
    ).toBeUndefined();
  });

  it('rejects CEL that does not compile, with a 422 naming the field', () => {
    const err = validateMutatingWebhookConfiguration(
      configWith({ matchConditions: [{ name: 'broken', expression: 'object.status.state ==' }] }),
    );
    expect(err?.code).toBe(422);
    expect(err?.reason).toBe('Invalid');
    expect(err?.message).toMatch(
      new RegExp(
        `^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}webhooks\\[0\\]\\.matchConditions\\[0\\]\\.expression: Invalid value: "object\\.status\\.state ==": compilation failed: `,
      ),
    );
    expect(err?.toStatus().details?.causes?.[0]).toMatchObject({
      reason: 'FieldValueInvalid',
      field: 'webhooks[0].matchConditions[0].expression',
    });
    // Undeclared variables, the unsupported authorizer among them, and non-bool results are compile errors.
    expect(
      messageOf({
        matchConditions: [
          { name: 'a', expression: 'authorizer.group("").resource("pods").check("get").allowed()' },
        ],
      }),
    ).toContain('compilation failed');
    expect(messageOf({ matchConditions: [{ name: 'a', expression: 'params.x == 1' }] })).toContain(
      'compilation failed',
    );
    expect(messageOf({ matchConditions: [{ name: 'a', expression: '1 + 2' }] })).toBe(
      `${prefix}webhooks[0].matchConditions[0].expression: Invalid value: "1 + 2": must evaluate to bool`,
    );
    expect(
      messageOf({
        matchConditions: [
          { name: 'same', expression: 'true' },
          { name: 'same', expression: 'true' },
          { name: '', expression: ' ' },
        ],
      }),
    ).toBe(
      `${prefix}[webhooks[0].matchConditions[1].name: Duplicate value: "same", webhooks[0].matchConditions[2].expression: Required value, webhooks[0].matchConditions[2].name: Required value]`,
    );
  });

  it('words the field errors as kube-apiserver does', () => {
    expect(messageOf({ timeoutSeconds: 31 })).toBe(
      `${prefix}webhooks[0].timeoutSeconds: Invalid value: 31: the timeout value must be between 1 and 30 seconds`,
    );
    expect(messageOf({ timeoutSeconds: 0 })).toContain(
      'Invalid value: 0: the timeout value must be between 1 and 30 seconds',
    );
    expect(messageOf({ sideEffects: 'Some' })).toBe(
      `${prefix}webhooks[0].sideEffects: Unsupported value: "Some": supported values: "None", "NoneOnDryRun"`,
    );
    expect(messageOf({ sideEffects: undefined })).toBe(
      `${prefix}webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun`,
    );
    expect(messageOf({ admissionReviewVersions: undefined })).toBe(
      `${prefix}webhooks[0].admissionReviewVersions: Required value: must specify one of v1, v1beta1`,
    );
    expect(messageOf({ admissionReviewVersions: ['v2'] })).toBe(
      `${prefix}webhooks[0].admissionReviewVersions: Invalid value: []string{"v2"}: must include at least one of v1, v1beta1`,
    );
    expect(messageOf({ failurePolicy: 'Retry' })).toBe(
      `${prefix}webhooks[0].failurePolicy: Unsupported value: "Retry": supported values: "Fail", "Ignore"`,
    );
    expect(messageOf({ reinvocationPolicy: 'Always' })).toContain('supported values: "IfNeeded", "Never"');
    expect(messageOf({ matchPolicy: 'Fuzzy' })).toContain('supported values: "Equivalent", "Exact"');
    expect(messageOf({ name: 'webhook' })).toBe(
      `${prefix}webhooks[0].name: Invalid value: "webhook": should be a domain with at least three segments separated by dots`,
    );
    expect(messageOf({ clientConfig: { caBundle: 'Zm9v' } })).toBe(
      `${prefix}webhooks[0].clientConfig: Required value: exactly one of url or service is required`,
    );
    expect(messageOf({ clientConfig: { url: 'http://webhook.example.com/mutate' } })).toContain(
      "'https' is the only allowed URL scheme; desired format: https://host[/path]",
    );
    expect(messageOf({ clientConfig: { url: 'https://webhook.example.com/mutate?x=1' } })).toContain(
      'query parameters are not permitted in the URL',
    );
    expect(
      messageOf({ clientConfig: { service: { namespace: 'fleetiq', name: 'webhook', path: 'mutate' } } }),
    ).toContain(`webhooks[0].clientConfig.service.path: Invalid value: "mutate": must start with a '/'`);
    expect(
      messageOf({ clientConfig: { service: { namespace: 'fleetiq', name: 'webhook', port: 70000 } } }),
    ).toContain('webhooks[0].clientConfig.service.port: Invalid value: 70000: port is not valid');
    expect(
      messageOf({
        rules: [
          {
            operations: ['UPDATE', '*'],
            apiGroups: [],
            apiVersions: ['v1'],
            resources: ['*', 'pods'],
            scope: 'Node',
          },
        ],
      }),
    ).toBe(
      `${prefix}[webhooks[0].rules[0].operations: Invalid value: []string{"UPDATE", "*"}: if '*' is present, must not specify other operations, ` +
        'webhooks[0].rules[0].apiGroups: Required value, ' +
        `webhooks[0].rules[0].resources: Invalid value: []string{"*", "pods"}: if '*' is present, must not specify other resources without subresources, ` +
        'webhooks[0].rules[0].scope: Unsupported value: "Node": supported values: "*", "Cluster", "Namespaced"]',
    );
    expect(
      messageOf({ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: [] }] } }),
    ).toContain('webhooks[0].namespaceSelector.matchExpressions[0].values: Required value');
  });

  it('answers malformed configurations with field errors, never an exception', () => {
    const garbage: KubeObject = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'junk' },
      webhooks: [
        null,
        'webhook',
        {
          name: 'a.b.c',
          rules: [null, 'x', { operations: 'CREATE' }],
          clientConfig: { service: null, url: null },
          namespaceSelector: {
            matchExpressions: [null, { key: 7, operator: 'In', values: 'x' }],
            matchLabels: null,
          },
          objectSelector: 'all',
          matchConditions: [null, { name: 3, expression: 4 }],
          timeoutSeconds: 'ten',
        },
      ],
    };
    const err = validateMutatingWebhookConfiguration(garbage);
    expect(err?.code).toBe(422);
    expect(err?.message).toContain(
      'webhooks[2].clientConfig: Required value: exactly one of url or service is required',
    );
    expect(err?.message).toContain('webhooks[2].timeoutSeconds: Invalid value: "ten"');
  });

  it('rejects duplicate webhook names within a configuration', () => {
    const cfg = configWith({});
    cfg.webhooks.push({ ...cfg.webhooks[0] });
    expect(validateMutatingWebhookConfiguration(cfg)?.message).toBe(
      `${prefix}webhooks[1].name: Duplicate value: "gameservers.fleetiq.example.com"`,
    );
  });
});

describe('matchConditions evaluation', () => {
  const becomesAllocated = {
    name: 'becomes-allocated',
    expression:
      'object.status.state == "Allocated" && (oldObject == null || oldObject.status.state != "Allocated")',
  };
  const gs = (state: string) => toCelValue({ metadata: { name: 'gs' }, status: { state } });

  it('matches only when every condition is true', () => {
    expect(
      evaluateConditions([becomesAllocated], {
        object: gs('Allocated'),
        oldObject: gs('Ready'),
        request: {},
      }),
    ).toEqual({
      matches: true,
    });
    expect(
      evaluateConditions([becomesAllocated], { object: gs('Allocated'), oldObject: null, request: {} }),
    ).toEqual({
      matches: true,
    });
    expect(
      evaluateConditions([becomesAllocated], {
        object: gs('Allocated'),
        oldObject: gs('Allocated'),
        request: {},
      }),
    ).toEqual({
      matches: false,
      failedCondition: 'becomes-allocated',
    });
  });

  it('lets a false condition win over an erroring one, and reports errors otherwise', () => {
    const erroring = { name: 'err', expression: 'object.spec.missing == 1' };
    const falseOne = { name: 'no', expression: 'false' };
    const vars = { object: gs('Ready'), oldObject: null, request: {} };
    expect(evaluateConditions([erroring, falseOne], vars)).toEqual({ matches: false, failedCondition: 'no' });
    const result = evaluateConditions([erroring, { name: 'yes', expression: 'true' }], vars);
    expect(result).toEqual({
      matches: false,
      error: expect.stringMatching(/^expression 'object\.spec\.missing == 1' resulted in error: /),
    });
  });

  it('gives whole numbers CEL type int, so arithmetic on object fields works', () => {
    const program = compileExpression('object.spec.replicas + 1 == 4 && object.spec.ratio > 0.25');
    expect(program.ok).toBe(true);
    if (program.ok) {
      expect(
        program.evaluate({
          object: toCelValue({ spec: { replicas: 3, ratio: 0.5 } }),
          oldObject: null,
          request: {},
        }),
      ).toBe(true);
    }
  });
});

describe('webhook matching', () => {
  const attrs = (over: Partial<AdmissionAttributes> = {}): AdmissionAttributes => ({
    operation: 'UPDATE',
    kind: { group: 'agones.dev', version: 'v1', kind: 'GameServer' },
    resource: { group: 'agones.dev', version: 'v1', resource: 'gameservers' },
    name: 'gs-1',
    namespace: 'game',
    object: {
      apiVersion: 'agones.dev/v1',
      kind: 'GameServer',
      metadata: { name: 'gs-1', labels: { a: '1' } },
    },
    userInfo: { username: 'u', groups: [] },
    dryRun: false,
    ...over,
  });
  const rule = {
    operations: ['UPDATE'],
    apiGroups: ['agones.dev'],
    apiVersions: ['v1'],
    resources: ['gameservers'],
  };

  it('matches operations, groups, versions and resources with wildcards', () => {
    expect(ruleMatches(rule, attrs())).toBe(true);
    expect(ruleMatches(rule, attrs({ operation: 'CREATE' }))).toBe(false);
    expect(ruleMatches({ ...rule, operations: ['*'] }, attrs({ operation: 'DELETE' }))).toBe(true);
    expect(ruleMatches({ ...rule, apiGroups: ['*'], apiVersions: ['*'] }, attrs())).toBe(true);
    expect(ruleMatches({ ...rule, apiVersions: ['v2'] }, attrs())).toBe(false);
    expect(ruleMatches({ ...rule, resources: ['fleets'] }, attrs())).toBe(false);
  });

  it('matches subresources only when the rule names them', () => {
    const status = attrs({ subResource: 'status' });
    expect(ruleMatches({ ...rule, resources: ['gameservers'] }, status)).toBe(false);
    expect(ruleMatches({ ...rule, resources: ['*'] }, status)).toBe(false);
    expect(ruleMatches({ ...rule, resources: ['gameservers/status'] }, status)).toBe(true);
    expect(ruleMatches({ ...rule, resources: ['gameservers/*'] }, status)).toBe(true);
    expect(ruleMatches({ ...rule, resources: ['*/status'] }, status)).toBe(true);
    expect(ruleMatches({ ...rule, resources: ['*/*'] }, status)).toBe(true);
    expect(ruleMatches({ ...rule, resources: ['gameservers/*'] }, attrs())).toBe(true);
    expect(ruleMatches({ ...rule, resources: ['gameservers/status'] }, attrs())).toBe(false);
  });

  it('honours scope, with Namespace objects counting as cluster-scoped', () => {
    expect(ruleMatches({ ...rule, scope: 'Namespaced' }, attrs())).toBe(true);
    expect(ruleMatches({ ...rule, scope: 'Cluster' }, attrs())).toBe(false);
    const node = attrs({
      resource: { group: '', version: 'v1', resource: 'nodes' },
      namespace: undefined,
    });
    const any = { operations: ['*'], apiGroups: [''], apiVersions: ['v1'], resources: ['*'] };
    expect(ruleMatches({ ...any, scope: 'Cluster' }, node)).toBe(true);
    expect(ruleMatches({ ...any, scope: 'Namespaced' }, node)).toBe(false);
    const ns = attrs({
      resource: { group: '', version: 'v1', resource: 'namespaces' },
      namespace: undefined,
      name: 'game',
    });
    expect(ruleMatches({ ...any, scope: 'Cluster' }, ns)).toBe(true);
    expect(ruleMatches({ ...any, scope: 'Namespaced' }, ns)).toBe(false);
  });

  it('selects namespaces by label, never excludes cluster-scoped objects, 404s a missing namespace', () => {
    const selector = { matchLabels: { adapter: 'on' } };
    const namespaces: Record<string, Record<string, string>> = { game: { adapter: 'on' }, other: {} };
    const lookup = (name: string) => namespaces[name];
    expect(namespaceSelectorMatches(selector, attrs(), lookup)).toBe(true);
    expect(namespaceSelectorMatches(selector, attrs({ namespace: 'other' }), lookup)).toBe(false);
    expect(
      namespaceSelectorMatches(
        selector,
        attrs({ resource: { group: '', version: 'v1', resource: 'nodes' }, namespace: undefined }),
        lookup,
      ),
    ).toBe(true);
    const missing = namespaceSelectorMatches(selector, attrs({ namespace: 'gone' }), lookup);
    expect(missing).toMatchObject({ code: 404, message: 'namespaces "gone" not found' });
    // A Namespace being created is judged by its new labels.
    const creatingNs = attrs({
      operation: 'CREATE',
      resource: { group: '', version: 'v1', resource: 'namespaces' },
      namespace: undefined,
      name: 'fresh',
      object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fresh', labels: { adapter: 'on' } } },
    });
    expect(namespaceSelectorMatches(selector, creatingNs, lookup)).toBe(true);
  });

  it('selects objects by the new or the old object’s labels', () => {
    const selector = { matchExpressions: [{ key: 'a', operator: 'In', values: ['2'] }] };
    expect(objectSelectorMatches(selector, attrs())).toBe(false);
    expect(
      objectSelectorMatches(
        selector,
        attrs({ oldObject: { apiVersion: 'v1', kind: 'X', metadata: { labels: { a: '2' } } } }),
      ),
    ).toBe(true);
    expect(objectSelectorMatches({}, attrs())).toBe(true);
  });

  it('evaluates label selector operators', () => {
    const labels = { tier: 'game', zone: 'a' };
    expect(
      selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['b'] }] }, labels),
    ).toBe(true);
    expect(
      selectorMatches({ matchExpressions: [{ key: 'missing', operator: 'NotIn', values: ['b'] }] }, labels),
    ).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels)).toBe(
      false,
    );
    expect(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, labels)).toBe(true);
    expect(
      selectorMatches(
        { matchLabels: { tier: 'game' }, matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] },
        labels,
      ),
    ).toBe(false);
  });
});
