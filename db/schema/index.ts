/** The whole database schema, as drizzle and drizzle-kit see it. */
export * from "./accounts";
export * from "./alerts";
export * from "./decisions";
export * from "./enums";
export * from "./equitySnapshots";
export * from "./executionLog";
export * from "./killSwitchSettings";
export * from "./notificationOutbox";
export * from "./orders";
export * from "./positions";
export * from "./trades";
export * from "./users";
