/** Health checking, pure part: the state machine and the probe timing. */
export * from "./state";
export * from "./schedule";
