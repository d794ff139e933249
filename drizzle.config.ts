import { defineConfig } from "drizzle-kit";

/** drizzle-kit: `npx drizzle-kit generate` writes SQL migrations from the schema into db/migrations. */
export default defineConfig({
  dialect: "postgresql",
  schema: "./db/schema/index.ts",
  out: "./db/migrations",
  strict: true,
});
