import { customType, timestamp } from "drizzle-orm/pg-core";
import { type Decimal, dec } from "../../domain/money";

/**
 * An unconstrained `numeric` column read and written as a `Decimal`: prices, quantities and money
 * never pass through a JavaScript number. Unconstrained so the database never rounds silently;
 * rounding to the tick happens in the domain before a value gets here.
 */
export const decimal = customType<{ data: Decimal; driverData: string }>({
  dataType: () => "numeric",
  toDriver: (value) => value.toFixed(),
  fromDriver: (value) => dec(value),
});

/** A `timestamp with time zone` read and written as a `Date`. */
export function instant(name: string) {
  return timestamp(name, { withTimezone: true, mode: "date" });
}
