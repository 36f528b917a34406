// Every ci/*-values.yaml (the chart-testing convention) lints strictly and renders objects the
// Kubernetes and CRD schemas accept; the chart refuses, with a message naming the value, what would
// install something broken: the documentation's placeholder account, a missing region where AWS
// credentials are configured, settings that do not exist.
import { describe, expect, it } from '@jest/globals';
import { containersOf, podTemplates } from '../manifests/inspect.js';
import { modelValidationErrors, typeCheckErrors } from '../manifests/schema-check.js';
import { CI_VALUES, ciValues, helmLint, helmTemplateRun, renderChart, useHelm } from './helm.js';

useHelm();

const IRSA = [
  'aws.credentials=irsa',
  'aws.region=eu-west-1',
  'aws.roleArns.pubsub=arn:aws:iam::444455556666:role/fleetiq-agones-pubsub',
  'aws.roleArns.reconciler=arn:aws:iam::444455556666:role/fleetiq-agones-reconciler',
];

describe.each(CI_VALUES)('ci/%s', (file) => {
  it('passes helm lint --strict', async () => {
    const r = await helmLint([ciValues(file)]);
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({
      code: 0,
      out: expect.stringContaining('1 chart(s) linted, 0 chart(s) failed'),
    });
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
  });

  it('renders objects the Kubernetes and CRD schemas accept, unknown fields included', async () => {
    const objects = await renderChart([ciValues(file)]);
    expect(objects.length).toBeGreaterThan(20);
    expect(await modelValidationErrors(objects)).toEqual([]);
    expect(typeCheckErrors(objects)).toEqual([]);
    for (const t of podTemplates(objects))
      for (const { container } of containersOf(t))
        if (t.labels['app.kubernetes.io/component'] !== 'redis')
          expect(container.image).toMatch(/\/fleetiq-agones:\d+\.\d+\.\d+/);
  });
});

describe('the chart refuses to render', () => {
  const refusal = async (set: string[], files: string[] = []) => {
    const r = await helmTemplateRun(files, set);
    expect(r.code).not.toBe(0);
    return r.stderr;
  };

  it.each(['pubsub', 'reconciler'])(
    'a role ARN of %s in the placeholder account 111122223333',
    async (component) => {
      const stderr = await refusal([
        ...IRSA,
        `aws.roleArns.${component}=arn:aws:iam::111122223333:role/fleetiq-agones-${component}`,
      ]);
      expect(stderr).toContain(`aws.roleArns.${component} still names the placeholder account 111122223333`);
    },
  );

  it('the placeholder account in a ServiceAccount annotation', async () => {
    const stderr = await refusal([
      'serviceAccounts.pubsub.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::111122223333:role/x',
    ]);
    expect(stderr).toContain('serviceAccounts.pubsub.annotations.eks.amazonaws.com/role-arn');
    expect(stderr).toContain('111122223333');
  });

  it.each(['irsa', 'podIdentity'])('credentials %s without a region', async (credentials) => {
    const set =
      credentials === 'irsa'
        ? IRSA.filter((s) => !s.startsWith('aws.region='))
        : ['aws.credentials=podIdentity'];
    expect(await refusal(set)).toContain(`aws.region is required with aws.credentials=${credentials}`);
  });

  it('irsa without a role', async () => {
    expect(await refusal(IRSA.filter((s) => !s.startsWith('aws.roleArns.reconciler')))).toContain(
      'aws.roleArns.reconciler is required with aws.credentials=irsa',
    );
  });

  it('role ARNs with EKS Pod Identity (the associations name the roles)', async () => {
    const stderr = await refusal([
      ...IRSA.filter((s) => s !== 'aws.credentials=irsa'),
      'aws.credentials=podIdentity',
    ]);
    expect(stderr).toContain('aws.roleArns are used only with aws.credentials=irsa');
  });

  it('a setting a component does not have (a typo)', async () => {
    const stderr = await refusal(['reconciler.env.DRAIN_MAX_WIAT=2h']);
    expect(stderr).toMatch(/\/reconciler\/env.*DRAIN_MAX_WIAT.*not allowed/);
  });

  it('a value outside what the component accepts', async () => {
    expect(await refusal(['webhook.failurePolicy=Sometimes'])).toMatch(/\/webhook\/failurePolicy/);
    expect(await refusal(['reconciler.env.UTILIZATION_MODE=never'])).toMatch(/UTILIZATION_MODE/);
    expect(await refusal(['aws.region=Oregon'])).toMatch(/\/aws\/region/);
  });

  it('a Redis URL with credentials in it (it would land in a ConfigMap), without repeating them', async () => {
    const stderr = await refusal(['redis.url=rediss://:s3cr3t@master.example.cache.amazonaws.com:6379']);
    expect(stderr).toContain('redis.url carries credentials');
    expect(stderr).not.toContain('s3cr3t');
  });

  it('several pubsub replicas without leader election', async () => {
    expect(await refusal(['pubsub.leaderElection.enabled=false'])).toContain(
      'pubsub.leaderElection.enabled=false polls from every replica: set pubsub.replicas to 1',
    );
  });

  it('and renders again once the values are right', async () => {
    const r = await helmTemplateRun([], IRSA);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  });
});
