import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findUserByTelegramId, listUsers, updateUserSettings, upsertUser } from "../../db/users";
import { createTestDatabase, TEST_DRIVERS, type TestDatabase } from "../support/database";
import { at, T0 } from "./fixtures";

describe.each(TEST_DRIVERS)("users on %s", (driver) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(driver);
  });
  afterAll(async () => {
    await t.close();
  });

  it("applies the allowed-users list repeatedly, updating roles", async () => {
    await upsertUser(t.db, { telegramUserId: 9_007_199_254, role: "trader" }, T0);
    const again = await upsertUser(
      t.db,
      { telegramUserId: 9_007_199_254, role: "admin", displayName: "Ann" },
      at(1),
    );
    expect(again.role).toBe("admin");
    expect(again.displayTimeZone).toBe("America/New_York");
    expect(again.notificationSettings).toEqual({});
    expect((await listUsers(t.db)).map((u) => u.telegramUserId)).toEqual([9_007_199_254]);
  });

  it("keeps display time zone and notification settings", async () => {
    await upsertUser(t.db, { telegramUserId: 77, role: "viewer" }, T0);
    const changed = await updateUserSettings(
      t.db,
      77,
      { displayTimeZone: "Europe/Berlin", notificationSettings: { fills: "silent" } },
      at(2),
    );
    expect(changed?.displayTimeZone).toBe("Europe/Berlin");
    expect(changed?.notificationSettings).toEqual({ fills: "silent" });
    expect((await findUserByTelegramId(t.db, 77))?.notificationSettings.fills).toBe("silent");
    expect(await updateUserSettings(t.db, 78, { displayTimeZone: "UTC" }, at(3))).toBeNull();
  });
});
