import neostandard from 'neostandard'

// neostandard's own style (no semicolons, single quotes, a space before a
// function's parentheses) is the one most of the code already had.
export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'build/**', 'coverage/**', '.tap/**', '.tools/**', 'node_modules/**']
  }),
  {
    // The console's modules run in the browser.
    files: ['console/**/*.js'],
    languageOptions: { globals: { location: 'readonly', addEventListener: 'readonly', removeEventListener: 'readonly', dispatchEvent: 'readonly' } }
  },
  {
    rules: {
      // `void promise` as a statement marks a promise deliberately not awaited.
      'no-void': ['error', { allowAsStatement: true }],
      // It cannot see a flag that another task sets across an await (`while (!stopped) await …`).
      'no-unmodified-loop-condition': 'off'
    }
  }
]
