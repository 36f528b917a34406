// Jest runs the TypeScript sources as native ES modules (client-node is ESM-only):
// swc strips types without changing the module format, and `node --experimental-vm-modules`
// (see package.json) lets Jest load ESM. Type checking is `npm run typecheck`, run before the tests.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2023' },
        module: { type: 'es6' },
      },
    ],
  },
  testTimeout: 60000,
  // Each test file starts its own emulators on ephemeral ports; two workers match the machine.
  maxWorkers: 2,
};
