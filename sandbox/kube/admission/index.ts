// Mutating admission webhooks of the emulated API server: what the request pipeline calls.
export {
  createMutatingAdmission,
  admissionWarnings,
  buildRequest,
  type MutatingAdmission,
  type MutatingAdmissionOptions,
  type WebhookCallStats,
  type WebhookOutcome,
  type AdmissionRequest,
} from './mutating.js';
export {
  validateMutatingWebhookConfiguration,
  mutatingWebhookConfigurationErrors,
  defaultMutatingWebhookConfiguration,
  applyMutatingWebhookConfigurationDefaults,
  ADMISSION_GROUP,
  MUTATING_CONFIGS,
  type MutatingWebhook,
  type RuleWithOperations,
  type WebhookClientConfig,
} from './config.js';
export { compileExpression, evaluateConditions } from './cel.js';
export { selectorMatches, type LabelSelector } from './label-selector.js';
