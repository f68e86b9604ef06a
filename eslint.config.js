// eslint (flat config) for the map page's own ES modules, run by `make lint`.
// The page runs in QtWebEngine with Leaflet (L) and Qt's qwebchannel.js (QWebChannel, qt) as globals.
import js from '@eslint/js';
import globals from 'globals';

const HTML_SINKS = ['innerHTML', 'outerHTML', 'insertAdjacentHTML'].map((property) => ({
  property, message: 'Text goes into the DOM with textContent; no HTML is built from data.'
}));

export default [
  { ignores: ['node_modules/**', 'resources/leaflet/**', 'resources/protomaps-leaflet/**'] },
  js.configs.recommended,
  {
    files: ['resources/map/**/*.js'],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.browser, L: 'readonly', QWebChannel: 'readonly', qt: 'readonly', protomapsL: 'readonly' }
    },
    rules: {
      'no-eval': 'error',
      'no-implied-eval': 'error',
      'no-new-func': 'error',
      'no-script-url': 'error',
      'no-restricted-properties': ['error', ...HTML_SINKS, { object: 'document', property: 'write' }],
      'no-unused-vars': ['error', { args: 'after-used' }],
      'no-undef': 'error',
      'no-var': 'error',
      'prefer-const': 'error',
      eqeqeq: 'error',
      curly: 'error',
      'no-shadow': 'error',
      'no-implicit-globals': 'error',
      'no-console': 'error',
      // one job per function (the Architecture issue's limit; scripts/check_sizes.py for the Python side)
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }]
    }
  }
];
