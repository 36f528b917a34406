// Jest runs the TypeScript sources as native ES modules (client-node is ESM-only): ts-jest
// transpiles each file on its own (tsconfig has isolatedModules, so no type checking here) and
// `node --experimental-vm-modules` (see package.json) lets Jest load ESM. Type checking is
// `npm run typecheck`, run before the tests. Jest 29 and ts-jest are pure JavaScript, so the
// lock file installs with `npm ci` on any platform.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json', diagnostics: false }],
  },
  testTimeout: 60000,
  // Each test file starts its own emulators on ephemeral ports; two workers match the machine.
  maxWorkers: 2,
};
