export * from "./unknown";
export * from "./addresses";
export { ChangeKind, FieldMode, ID_PATTERN, describeValue } from "./fields";
export * from "./schemas";
export * from "./transports";
export * from "./check";
export * from "./reference";
