// The quickstart as a Pulumi program: `pulumi up` from the repository root runs it (Pulumi.yaml),
// and so does `npm run up`, through the Automation API, without any Pulumi account.
import { quickstart } from "./program";

const outputs = quickstart();

export const endpoints = outputs.endpoints;
export const listeners = outputs.listeners;
export const tryIt = outputs.tryIt;
export const trafficShares = outputs.trafficShares;
export const failureWindowSeconds = outputs.failureWindowSeconds;
export const memberHealth = outputs.memberHealth;
export const adminToken = outputs.adminToken;
