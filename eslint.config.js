// Lint: type-aware rules (floating promises) and the import boundaries of DESIGN.md §4.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Which src/ folders each folder may import. Anything not listed is a boundary violation. src/shared holds
// what every layer reads the same way (durations, the logger, the package root) and imports nothing. src/envoy holds Envoy's and
// Istio's vocabulary (resource types, node identity, NDS, workload metadata): types and pure helpers, no I/O,
// so the model depends on what it produces, not on the transport that carries it.
const allowed = {
  shared: [],
  envoy: [],
  config: ['shared'],
  analyze: ['config', 'shared'],
  pki: ['shared'],
  xds: ['envoy', 'pki', 'shared'],
  model: ['config', 'envoy', 'pki', 'shared'],
  controlplane: ['config', 'analyze', 'model', 'envoy', 'xds', 'pki', 'shared'],
  capture: ['envoy', 'xds', 'pki', 'shared'],
  proxy: ['envoy', 'xds', 'pki', 'capture', 'shared'],
  lab: ['config', 'analyze', 'model', 'envoy', 'xds', 'pki', 'controlplane', 'proxy', 'capture', 'shared'],
  cli: ['config', 'analyze', 'model', 'envoy', 'xds', 'pki', 'controlplane', 'proxy', 'capture', 'lab', 'shared'],
};
const folders = Object.keys(allowed);

const boundaryRules = folders.map((folder) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: folders
          .filter((other) => other !== folder && !allowed[folder].includes(other))
          .map((other) => ({
            group: [`../${other}/*`, `../../${other}/*`, `**/src/${other}/*`],
            message: `src/${folder} must not import src/${other} (DESIGN.md §4: dependencies point one way).`,
          })),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', name: ['test', 'it', 'describe', 'suite'], package: 'node:test' }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  ...boundaryRules,
);
