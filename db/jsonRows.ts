/**
 * INSERT and UPDATE statements that carry their row as one JSON parameter
 * (`jsonb_populate_record`), for the many-part write of an order event: one parameter per row
 * instead of one per column keeps the statement cheap to build and to send. Values go through
 * each column's own driver mapping (decimals as exact strings), so what is stored is what the
 * query builder would store.
 */
import { getTableColumns, is, SQL, sql } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";

type Values = Record<string, unknown>;

interface Split {
  /** Column name -> value in the form PostgreSQL's input functions read. */
  readonly record: Record<string, unknown>;
  /** Column name -> SQL expression written as is. */
  readonly expressions: [string, SQL][];
}

function split(table: PgTable, values: Values): Split {
  const columns = getTableColumns(table) as Record<string, PgColumn>;
  const record: Record<string, unknown> = {};
  const expressions: [string, SQL][] = [];
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const column = columns[key];
    if (!column) throw new Error(`${key} is not a column`);
    if (is(value, SQL)) expressions.push([column.name, value]);
    else if (value === null) record[column.name] = null;
    // jsonb columns take the value itself; everything else its driver form.
    else
      record[column.name] =
        column.getSQLType() === "jsonb" ? value : column.mapToDriverValue(value);
  }
  return { record, expressions };
}

function source(table: PgTable, record: Record<string, unknown>): SQL {
  return sql`jsonb_populate_record(null::${table}, ${JSON.stringify(record)}::jsonb) as j`;
}

/** `insert into table (...) select ... from <the JSON row> returning ...` (parenthesized). */
export function insertFromJson(table: PgTable, values: Values, returning: SQL): SQL {
  const { record, expressions } = split(table, values);
  const names = [...Object.keys(record), ...expressions.map(([name]) => name)];
  const selected = [
    ...Object.keys(record).map((name) => sql`j.${sql.identifier(name)}`),
    ...expressions.map(([, expression]) => expression),
  ];
  return sql`(insert into ${table} (${sql.join(
    names.map((name) => sql.identifier(name)),
    sql`, `,
  )}) select ${sql.join(selected, sql`, `)} from ${source(table, record)} returning ${returning})`;
}

/** `update table set ... from <the JSON row> where ... returning ...` (parenthesized). */
export function updateFromJson(table: PgTable, values: Values, where: SQL, returning: SQL): SQL {
  const { record, expressions } = split(table, values);
  const assignments = [
    ...Object.keys(record).map((name) => sql`${sql.identifier(name)} = j.${sql.identifier(name)}`),
    ...expressions.map(([name, expression]) => sql`${sql.identifier(name)} = ${expression}`),
  ];
  return sql`(update ${table} set ${sql.join(assignments, sql`, `)} from ${source(
    table,
    record,
  )} where ${where} returning ${returning})`;
}
