import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020, type ErrorObject } from "ajv/dist/2020";
import addFormats from "ajv-formats";

/**
 * Validates simulator responses against Alpaca's published OpenAPI 3.1 documents with Ajv's
 * draft 2020-12 validator (OpenAPI 3.1 schemas are JSON Schema 2020-12). The response schema is
 * looked up by path, method and status exactly as the spec declares it.
 */

const CONTRACTS = join(import.meta.dirname, "..", "..", "contracts", "alpaca");

type Spec = {
  paths: Record<
    string,
    Record<
      string,
      { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }
    >
  >;
};

function loadSpec(file: string): Spec {
  const dir = process.env.ALPACA_CONTRACTS_DIR ?? CONTRACTS;
  return JSON.parse(readFileSync(join(dir, file), "utf8")) as Spec;
}

const specs = { trading: loadSpec("trading-api.json"), data: loadSpec("market-data-api.json") };

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats.default(ajv);
// Formats the specs use beyond JSON Schema's: checked, not ignored.
ajv.addFormat("decimal", /^-?\d+(\.\d+)?$/);
ajv.addFormat("uint32", {
  type: "number",
  validate: (n: number) => Number.isInteger(n) && n >= 0 && n < 2 ** 32,
});
ajv.addFormat("uint64", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= 0 });
ajv.addSchema(specs.trading as object, "trading");
ajv.addSchema(specs.data as object, "data");

export type SpecName = keyof typeof specs;

function pointerEscape(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** Errors of a body against the response schema of `METHOD path` with `status` (empty = valid). */
export function responseErrors(
  spec: SpecName,
  method: string,
  specPath: string,
  status: number,
  body: unknown,
): string[] {
  const op = specs[spec].paths[specPath]?.[method.toLowerCase()];
  if (!op) throw new Error(`${spec} spec has no ${method} ${specPath}`);
  const content = op.responses?.[String(status)]?.content?.["application/json"];
  if (!content?.schema)
    throw new Error(`${spec} spec has no JSON schema for ${method} ${specPath} ${status}`);
  const ref = `${spec}#/paths/${pointerEscape(specPath)}/${method.toLowerCase()}/responses/${status}/content/${pointerEscape("application/json")}/schema`;
  const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
  return validate(body) ? [] : (validate.errors ?? []).map(describe);
}

/** Errors of a value against a named component schema, e.g. ("trading", "Error"). */
export function componentErrors(spec: SpecName, name: string, value: unknown): string[] {
  const ref = `${spec}#/components/schemas/${name}`;
  const validate = ajv.getSchema(ref) ?? ajv.compile({ $ref: ref });
  return validate(value) ? [] : (validate.errors ?? []).map(describe);
}

function describe(e: ErrorObject): string {
  return `${e.instancePath || "/"} ${e.message ?? ""} ${JSON.stringify(e.params)}`;
}
