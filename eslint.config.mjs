// ESLint for the buyer's page (apps/web/static): plain ES modules run by the browser as written.
// `make test` runs it; `make format` applies its fixes.
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/", ".venv/", "staticfiles/", "build/", "bench/out/", ".run/"] },
  js.configs.recommended,
  {
    files: ["apps/web/static/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.browser },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      // The page runs under a strict Content-Security-Policy: no eval in any form, no HTML strings.
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-new-func": "error",
      "no-restricted-properties": ["error",
        { property: "innerHTML", message: "Build nodes with h(); HTML strings bypass escaping." },
        { property: "outerHTML", message: "Build nodes with h(); HTML strings bypass escaping." },
        { property: "insertAdjacentHTML", message: "Build nodes with h(); HTML strings bypass escaping." }],
      // Django's manifest storage rewrites `import … from "./x.js";` to the hashed file names; its
      // pattern needs the semicolon.
      "semi": ["error", "always"],
      "eqeqeq": ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": "error",
      "no-unused-vars": ["error", { args: "after-used" }],
      "no-shadow": "error",
      "no-console": ["error", { allow: ["error", "warn"] }],
      "consistent-return": "off",
    },
  },
  {
    files: ["eslint.config.mjs", "tests/web/js/**/*.mjs"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.node },
    rules: { "semi": ["error", "always"], "prefer-const": "error", "no-var": "error" },
  },
];
