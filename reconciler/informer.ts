// Moved to shared/scoped-informer.ts (the webhook's node cache uses it too). Kept so that code written
// against this path still builds; import from shared/scoped-informer.ts instead.
export * from '../shared/scoped-informer.js';
