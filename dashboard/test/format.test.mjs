// `money` and `exactMoney` of src/format.ts against the cases every money formatter of the project
// must give (tests/fixtures/money-cases.json; Python checks the same file). Run by `npm test`,
// which compiles src/format.ts first, and by `make dashboard` before every build.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { exactMoney, money } from "../.test-build/format.js";

const cases = JSON.parse(readFileSync(new URL("../../tests/fixtures/money-cases.json", import.meta.url), "utf8"));

test("an amount is shown in cents, or to two significant digits below a cent", () => {
  for (const [amount, text] of cases.plain) assert.equal(money(Number(amount)), text, `money(${amount})`);
});

test("signed amounts say plus or minus", () => {
  for (const [amount, text] of cases.signed) assert.equal(money(Number(amount), true), text, `money(${amount}, true)`);
});

test("no amount is a dash", () => {
  assert.equal(money(null), "–");
  assert.equal(money(undefined), "–");
  assert.equal(money(Number.NaN), "–");
});

test("the exact amount keeps every place the API sends", () => {
  const exact = [["0.00283", "$0.00283"], ["33.800577", "$33.800577"], ["2.5", "$2.50"], ["1234", "$1,234.00"],
    ["-0.1", "-$0.10"], ["0.0000004", "$0.00"]];
  for (const [amount, text] of exact) assert.equal(exactMoney(Number(amount)), text, `exactMoney(${amount})`);
});
