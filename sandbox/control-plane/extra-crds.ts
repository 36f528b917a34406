// CustomResourceDefinitions of the two optional dependencies the manifests' components target, so
// their objects can be applied to a real API server: cert-manager's Issuer and Certificate
// (components/cert-manager) and the Prometheus Operator's PodMonitor and PrometheusRule
// (components/monitoring). Written by us (crds.ts): the group, version, names, short names and scope
// match theirs, but the schema keeps every field of spec and status. So a real API server checks these
// objects' metadata and kind, and accepts any spec: validating the specs themselves is left to the
// kubernetes-models schema tests (test/manifests/schema.test.ts).
import type { KubeObject } from '../kube/types.js';
import { keepAllCrd } from './crds.js';

export { installCrds } from './crds.js';

const certManager = { group: 'cert-manager.io', version: 'v1', categories: ['cert-manager'] };
const prometheusOperator = {
  group: 'monitoring.coreos.com',
  version: 'v1',
  categories: ['prometheus-operator'],
};

/** cert-manager.io/v1 Issuer and Certificate (components/cert-manager); both have a status subresource. */
export const CERT_MANAGER_CRDS: readonly KubeObject[] = [
  keepAllCrd({
    ...certManager,
    plural: 'issuers',
    kind: 'Issuer',
    shortNames: [],
    subresources: { status: {} },
  }),
  keepAllCrd({
    ...certManager,
    plural: 'certificates',
    kind: 'Certificate',
    shortNames: ['cert', 'certs'],
    subresources: { status: {} },
  }),
];

/** monitoring.coreos.com/v1 PodMonitor and PrometheusRule (components/monitoring). */
export const PROMETHEUS_OPERATOR_CRDS: readonly KubeObject[] = [
  keepAllCrd({ ...prometheusOperator, plural: 'podmonitors', kind: 'PodMonitor', shortNames: ['pmon'] }),
  keepAllCrd({
    ...prometheusOperator,
    plural: 'prometheusrules',
    kind: 'PrometheusRule',
    shortNames: ['promrule'],
  }),
];
