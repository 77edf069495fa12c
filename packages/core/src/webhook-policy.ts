import { randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';

/**
 * Where a batch webhook may be delivered. By default only public unicast addresses: a webhook
 * must never reach the fleet's own network (Redis, the API, cloud metadata). WEBHOOK_ALLOW_PRIVATE
 * lifts the check; WEBHOOK_ALLOWLIST names the exceptions (hosts, or CIDRs the resolved address
 * may fall in).
 */
export interface WebhookAddressPolicy {
  allowPrivate: boolean;
  allowlist: WebhookAllowlist;
}

export interface WebhookAllowlist {
  /** Lower-case host names, matched exactly against the URL's host. */
  hosts: string[];
  cidrs: [ipaddr.IPv4 | ipaddr.IPv6, number][];
}

/** A webhook URL or address that is refused; the message names the field `webhook`. */
export class WebhookRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookRefusedError';
  }
}

/** Cloud metadata endpoints (AWS, GCP, Azure, OpenStack; AWS over IPv6); link-local or unique-local too, named for the message. */
const METADATA_ADDRESSES = new Set(['169.254.169.254', 'fd00:ec2::254']);

/** ipaddr.js range names as the error message says them. */
const RANGE_NAMES: Record<string, string> = {
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  multicast: 'multicast',
  linkLocal: 'link-local',
  loopback: 'loopback',
  carrierGradeNat: 'carrier-grade NAT',
  private: 'private',
  uniqueLocal: 'unique-local',
  reserved: 'reserved',
};

/** Parses WEBHOOK_ALLOWLIST: comma-separated host names, IP addresses and CIDRs. Throws on a malformed CIDR or address. */
export function parseWebhookAllowlist(raw: string): WebhookAllowlist {
  const allowlist: WebhookAllowlist = { hosts: [], cidrs: [] };
  for (const entry of raw.split(',').map((part) => part.trim().toLowerCase()).filter((part) => part !== '')) {
    if (entry.includes('/')) allowlist.cidrs.push(ipaddr.parseCIDR(entry));
    else if (ipaddr.isValid(entry)) {
      const address = ipaddr.parse(entry);
      allowlist.cidrs.push([address, address.kind() === 'ipv4' ? 32 : 128]);
    } else if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(entry)) allowlist.hosts.push(entry);
    else throw new Error(`not a host name, address or CIDR: ${entry}`);
  }
  return allowlist;
}

/**
 * The address as ipaddr.js sees it; an IPv4-mapped (::ffff:a.b.c.d) or the deprecated
 * IPv4-compatible (::a.b.c.d, which ipaddr.js calls unicast) IPv6 address as its IPv4 address.
 */
function normalised(address: string): ipaddr.IPv4 | ipaddr.IPv6 {
  const parsed = ipaddr.parse(address);
  if (parsed.kind() !== 'ipv6') return parsed;
  const v6 = parsed as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address();
  const parts = v6.parts;
  const compatible = parts.slice(0, 6).every((part) => part === 0) && (parts[6] !== 0 || parts[7]! > 1);
  return compatible ? new ipaddr.IPv4([parts[6]! >> 8, parts[6]! & 0xff, parts[7]! >> 8, parts[7]! & 0xff]) : v6;
}

/**
 * Why a webhook may not be delivered to this IP address (e.g. "a loopback address"), or undefined
 * when it may: a public unicast address, or one the policy allows.
 */
export function refusedAddressReason(address: string, host: string, policy: WebhookAddressPolicy): string | undefined {
  if (policy.allowPrivate || policy.allowlist.hosts.includes(host.toLowerCase())) return undefined;
  const parsed = normalised(address);
  if (policy.allowlist.cidrs.some(([network, bits]) => network.kind() === parsed.kind() && parsed.match(network, bits))) return undefined;
  if (METADATA_ADDRESSES.has(parsed.toNormalizedString()) || METADATA_ADDRESSES.has(parsed.toString())) return 'a cloud metadata address';
  const range = parsed.range();
  if (range === 'unicast') return undefined;
  // 6to4, Teredo, NAT64 and the like can carry an internal IPv4 address: refused as non-unicast.
  const name = RANGE_NAMES[range] ?? `non-unicast (${range})`;
  return `${/^[aeiou]/.test(name) ? 'an' : 'a'} ${name} address`;
}

/** The URL's host without IPv6 brackets, lower case (the WHATWG parser already turned 127.1, 2130706433, 0x7f000001 into 127.0.0.1). */
export function webhookHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/** Names that always mean this machine (RFC 6761), whatever DNS says. */
function isLocalhostName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host === 'localhost.' || host.endsWith('.localhost.');
}

/**
 * The check at submission: an http(s) URL without credentials whose host, when it is an IP
 * address (in any spelling) or a localhost name, is allowed. Host names are checked again after
 * DNS resolution at delivery. Throws WebhookRefusedError.
 */
export function checkWebhookUrl(raw: string, policy: WebhookAddressPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookRefusedError('webhook must be an absolute http or https URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new WebhookRefusedError('webhook must be an http or https URL');
  if (url.username !== '' || url.password !== '') throw new WebhookRefusedError('webhook must not carry credentials (user:password@): the payload is signed instead');
  const host = webhookHost(url);
  const reason = ipaddr.isValid(host) ? refusedAddressReason(host, host, policy) : isLocalhostName(host) && !policy.allowPrivate && !policy.allowlist.hosts.includes(host) ? 'a loopback address' : undefined;
  if (reason) throw new WebhookRefusedError(`webhook host ${url.hostname} is ${reason}; set WEBHOOK_ALLOW_PRIVATE or WEBHOOK_ALLOWLIST to allow it`);
  return url;
}

/** A new Standard Webhooks signing secret: whsec_ and 32 random bytes in base64. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The address policy of this configuration. */
export function webhookPolicyOf(config: { webhookAllowPrivate: boolean; webhookAllowlist: WebhookAllowlist }): WebhookAddressPolicy {
  return { allowPrivate: config.webhookAllowPrivate, allowlist: config.webhookAllowlist };
}
