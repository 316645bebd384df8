import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{envs,stacks,constructs,scripts,bench}/**/*.test.ts", "main.test.ts"],
    exclude: ["node_modules/**", "cdktf.out/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
