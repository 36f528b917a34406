import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The product: what `fleetiq-agones` and the image are built from. */
export const PRODUCT_DIRS = ['cli', 'certs', 'pubsub', 'webhook', 'reconciler', 'shared'];

// The product never reaches into the test bed: the sandbox, the emulators, the tests and the benchmarks
// stay out of the production bundle and its dependencies. A relative specifier that climbs into one of
// those folders is refused, statically imported, re-exported or loaded with import().
const TEST_BED = '^(\\.{1,2}/)+(sandbox|test|bench)(/|$)';
const TEST_BED_MESSAGE =
  'The product (cli/, certs/, pubsub/, webhook/, reconciler/, shared/) must not import sandbox/, test/ or ' +
  'bench/: move what both need into shared/, or keep it in the test bed.';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: PRODUCT_DIRS.map((dir) => `${dir}/**/*.ts`),
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: TEST_BED, message: TEST_BED_MESSAGE }] }],
      'no-restricted-syntax': [
        'error',
        {
          selector: `ImportExpression[source.value=/${TEST_BED.replaceAll('/', '\\/')}/]`,
          message: TEST_BED_MESSAGE,
        },
      ],
    },
  },
);
