/** The environment of an exec alert's command. */

import type { AlertPayload } from "./alert-event.ts";

/**
 * The name of the variable carrying field `name`: TANDEM_FIELD_ then the name in upper case,
 * camelCase split by "_" and every run of other characters turned into "_"
 * ("peerName" and "peer-name" both give TANDEM_FIELD_PEER_NAME).
 */
export function alertFieldVariable(name: string): string {
  const upper = name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase().replace(/[^A-Z0-9]+/g, "_");
  return `TANDEM_FIELD_${upper}`;
}

/**
 * The variables set for an exec alert: TANDEM_EVENT (the kind), TANDEM_SUBJECT, TANDEM_SEVERITY,
 * TANDEM_MESSAGE, TANDEM_NODE, TANDEM_CLUSTER, TANDEM_TIME (ISO 8601), TANDEM_REPEAT,
 * TANDEM_DETAIL (the whole payload as JSON) and one TANDEM_FIELD_<NAME> per field (booleans as
 * "true"/"false"). Two fields that map to one name: the later one wins.
 */
export function alertEnv(payload: AlertPayload): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(payload.fields)) env[alertFieldVariable(name)] = String(value);
  return {
    ...env,
    TANDEM_EVENT: payload.kind,
    TANDEM_SUBJECT: payload.subject,
    TANDEM_SEVERITY: payload.severity,
    TANDEM_MESSAGE: payload.message,
    TANDEM_NODE: payload.node,
    TANDEM_CLUSTER: payload.cluster,
    TANDEM_TIME: payload.time,
    TANDEM_REPEAT: String(payload.repeat),
    TANDEM_DETAIL: JSON.stringify(payload),
  };
}
