import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { WebhookRefusedError, refusedAddressReason, webhookHost, type WebhookAddressPolicy } from '@imagefleet/core';

/** The one address a delivery connects to, vetted after resolution. */
export interface VettedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Resolves the webhook's host and vets every address it resolves to: one refused address refuses
 * the target (WebhookRefusedError), since a resolver that returns several can be made to pick any.
 * DNS failures are thrown as they come (worth retrying).
 */
export async function resolveWebhookTarget(url: URL, policy: WebhookAddressPolicy): Promise<VettedAddress> {
  const host = webhookHost(url);
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await dnsLookup(host, { all: true, verbatim: true });
  if (addresses.length === 0) throw new Error(`webhook host ${host} resolves to no address`);
  for (const { address } of addresses) {
    const reason = refusedAddressReason(address, host, policy);
    if (reason) throw new WebhookRefusedError(`webhook host ${host} resolves to ${address}, ${reason}; set WEBHOOK_ALLOW_PRIVATE or WEBHOOK_ALLOWLIST to allow it`);
  }
  const first = addresses[0]!;
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}

/**
 * A socket lookup that answers the vetted address whatever name it is asked for: the connection
 * goes where the check looked, so DNS cannot change its answer in between (rebinding).
 */
export function pinnedLookup(target: VettedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) (callback as (error: null, addresses: { address: string; family: number }[]) => void)(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
}
