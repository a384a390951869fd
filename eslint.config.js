// ESLint: the recommended rules of ESLint, typescript-eslint and eslint-plugin-svelte, plus the project's two firm
// ones: no `any` in public code (server/, shared/, web/src/) and no unused variables. `npm run lint` runs it.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'node_modules/', 'test-results/', 'playwright-report/', 'lab-data/']),
  js.configs.recommended,
  tseslint.configs.recommended,
  svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      // `_name` marks a parameter a signature needs and the body does not; catch clauses may ignore their error.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // The stores keep their large indexes (PDUs by task, by LBA...) in plain Maps and Sets on purpose and publish
      // them by reassigning $state.raw fields (ARCHITECTURE.md: big collections stay raw); reactive copies of every
      // one would cost a proxy per entry under a flood of PDUs.
      'svelte/prefer-svelte-reactivity': 'off',
      // It misreads the initiator's login rounds (a destructured pair reassigned in a loop whose last value is read
      // after it) and counters read only on some paths; tsc's flow analysis already catches the real ones.
      'no-useless-assignment': 'off',
    },
  },
  {
    // A `let` a closure reads before its one assignment is a late binding (the request guard, the SCSI target
    // reservations call back into), not a constant. Svelte files keep the plugin's own rule ($props() are `let`).
    files: ['**/*.ts', '**/*.js', '**/*.cjs', '**/*.mjs'],
    ignores: ['**/*.svelte.ts'],
    rules: { 'prefer-const': ['error', { ignoreReadBeforeAssign: true }] },
  },
  {
    files: ['web/src/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    // Svelte components and rune modules: the script blocks are TypeScript.
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'] } },
  },
  {
    // Tests and tools may reach into untyped shapes (malformed PDUs, raw JSON) on purpose.
    files: ['test/**', 'e2e/**', 'scripts/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
