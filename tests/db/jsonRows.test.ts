import { describe, expect, it } from "vitest";
import { parseJsonNumbersAsText } from "../../db/jsonRows";

describe("parseJsonNumbersAsText", () => {
  it("keeps every number as its text, however many digits", () => {
    expect(
      parseJsonNumbersAsText('{"price":123.456789012345678901,"qty":-0.5,"ids":[1,22],"e":1e-7}'),
    ).toEqual({ price: "123.456789012345678901", qty: "-0.5", ids: ["1", "22"], e: "1e-7" });
  });

  it("leaves strings, booleans and nulls as they are, digits and escaped quotes inside strings too", () => {
    expect(
      parseJsonNumbersAsText(
        '[{"reason":"limit 12.5 \\"x\\" -3","path":"a\\\\","n":7},true,null,"-1",false]',
      ),
    ).toEqual([{ reason: 'limit 12.5 "x" -3', path: "a\\", n: "7" }, true, null, "-1", false]);
  });
});
