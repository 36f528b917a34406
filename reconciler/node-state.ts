// Moved to shared/drain-contract.ts (the drain contract, shared with the webhook). Kept so that code
// written against this path still builds; import from shared/drain-contract.ts instead.
export * from '../shared/drain-contract.js';
