/**
 * Rows as JSON, keyed by column name, for statements and database functions that take a row as
 * one JSON parameter (`jsonb_populate_record`), and rows read back as JSON: values go through each
 * column's own driver mapping (decimals as exact strings), so what is stored is what the query
 * builder would store.
 */
import { getTableColumns } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";

type Values = Record<string, unknown>;

/** A row as one JSON parameter: the column names it sets and the JSON. */
export interface JsonRow {
  readonly columns: readonly string[];
  readonly json: string;
}

/** The row `values` (keyed by property name, undefined left out) as one JSON parameter. */
export function jsonRow(table: PgTable, values: Values): JsonRow {
  const record = jsonRecord(table, values);
  return { columns: Object.keys(record), json: JSON.stringify(record) };
}

/**
 * The row `values` (keyed by property name, undefined left out) keyed by column name, each value
 * in its driver form, to be serialized as JSON on its own or within a larger value.
 */
export function jsonRecord(table: PgTable, values: Values): Record<string, unknown> {
  const columns = getTableColumns(table) as Record<string, PgColumn>;
  const record: Record<string, unknown> = {};
  for (const key in values) {
    const value = values[key];
    if (value === undefined) continue;
    const column = columns[key];
    if (!column) throw new Error(`${key} is not a column`);
    // jsonb columns take the value itself; everything else its driver form.
    record[column.name] =
      value === null || column.getSQLType() === "jsonb" ? value : column.mapToDriverValue(value);
  }
  return record;
}

/**
 * A row read as a JSON object keyed by column name (numbers as strings, as
 * `parseJsonNumbersAsText` leaves them), mapped as the query builder maps a selected row: keyed by
 * property, each value through its column's driver mapping.
 */
export function rowOfJson<T>(table: PgTable, json: Record<string, unknown>): T {
  const columns = getTableColumns(table) as Record<string, PgColumn>;
  const row: Record<string, unknown> = {};
  for (const key in columns) {
    const column = columns[key] as PgColumn;
    const value = json[column.name];
    row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row as T;
}

/**
 * `JSON.parse` with every number kept as its text (a quoted string), so a numeric column read as
 * JSON keeps every digit. Outside strings, only a number can start with a digit or a minus sign.
 */
export function parseJsonNumbersAsText(text: string): unknown {
  let quoted = "";
  let copied = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      let end = i + 1;
      while (end < text.length && isNumberPart(text.charCodeAt(end))) end++;
      quoted += `${text.slice(copied, i)}"${text.slice(i, end)}"`;
      copied = end;
      i = end - 1;
    }
  }
  return JSON.parse(quoted + text.slice(copied));
}

const QUOTE = 34;
const BACKSLASH = 92;
const MINUS = 45;
const PLUS = 43;
const DOT = 46;
const ZERO = 48;
const NINE = 57;

function isNumberPart(c: number): boolean {
  return (
    (c >= ZERO && c <= NINE) || c === DOT || c === MINUS || c === PLUS || c === 101 || c === 69
  );
}
