import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { findAccountForUser } from "../../db/accountOfUser";
import { ensureBrokerAccount } from "../../db/brokerAccounts";
import { upsertUser } from "../../db/users";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { T0 } from "./fixtures";

describe.each(TEST_DRIVERS)("account of a user on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  beforeEach(async () => {
    await t.truncate();
  });
  afterAll(async () => {
    await t.close();
  });

  const account = (brokerAccountId: string, ownerUserId: number | null = null) =>
    ensureBrokerAccount(t.db, { environment: "paper", brokerAccountId, ownerUserId }, T0);

  it("is none when the deployment has no account", async () => {
    await upsertUser(t.db, { telegramUserId: 7001, role: "trader" }, T0);
    expect(await findAccountForUser(t.db, 7001)).toBeNull();
  });

  it("is the account the user owns, else the default account with the lowest id", async () => {
    const owner = await upsertUser(t.db, { telegramUserId: 7001, role: "trader" }, T0);
    const other = await upsertUser(t.db, { telegramUserId: 7002, role: "trader" }, T0);
    const shared = await account("PA-DEFAULT");
    await account("PA-SECOND");
    const ownedFirst = await account("PA-OWNED-1", owner.id);
    await account("PA-OWNED-2", owner.id);

    expect((await findAccountForUser(t.db, 7001))?.id).toBe(ownedFirst.id);
    // Owns nothing, or is not a known user at all: the default account.
    expect((await findAccountForUser(t.db, 7002))?.id).toBe(shared.id);
    expect(other.id).not.toBe(owner.id);
    expect((await findAccountForUser(t.db, 9999))?.id).toBe(shared.id);
  });

  it("is the default account even when another user owns it", async () => {
    const owner = await upsertUser(t.db, { telegramUserId: 7001, role: "trader" }, T0);
    const first = await account("PA-OWNED", owner.id);
    expect((await findAccountForUser(t.db, 7003))?.id).toBe(first.id);
  });
});
