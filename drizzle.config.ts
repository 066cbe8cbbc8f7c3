/**
 * drizzle-kit configuration: `node_modules/.bin/drizzle-kit generate --config drizzle.config.ts`
 * writes SQL migrations for src/store/schema.ts into src/store/migrations/; then
 * `node_modules/.bin/bun test/tools/gen-migrations.ts` embeds them into
 * src/store/embedded-migrations.ts, which is what the binary actually runs.
 */

import { defineConfig } from "drizzle-kit";

// A default export, against the house rule, because it is drizzle-kit's documented entry point.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/store/schema.ts",
  out: "./src/store/migrations",
  strict: true,
  verbose: true,
});
