import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, WebhookRefusedError, checkWebhookUrl, loadConfig, newWebhookSecret, refusedAddressReason, webhookPolicyOf } from '@imagefleet/core';
import { REFUSED_WEBHOOKS } from '../helpers/webhook-cases.js';

const strict = webhookPolicyOf(loadConfig({}));

for (const [url, reason] of REFUSED_WEBHOOKS) {
  test(`a webhook to ${url} is refused at submission, naming the field`, () => {
    assert.throws(() => checkWebhookUrl(url, strict), (error: unknown) => error instanceof WebhookRefusedError && /^webhook /.test(error.message) && reason.test(error.message));
  });
}

test('public addresses and host names pass submission (host names are checked again after DNS at delivery)', () => {
  for (const url of ['https://hooks.example.com/imagefleet', 'http://8.8.8.8:8080/x', 'https://[2606:4700:4700::1111]/', 'http://receiver.internal/']) {
    assert.equal(checkWebhookUrl(url, strict).href, new URL(url).href);
  }
});

test('WEBHOOK_ALLOW_PRIVATE lifts the address check but never allows credentials', () => {
  const open = webhookPolicyOf(loadConfig({ WEBHOOK_ALLOW_PRIVATE: 'true' }));
  assert.equal(checkWebhookUrl('http://127.0.0.1:9000/', open).port, '9000');
  assert.equal(checkWebhookUrl('http://localhost/', open).hostname, 'localhost');
  assert.throws(() => checkWebhookUrl('http://u:p@127.0.0.1/', open), /credentials/);
});

test('WEBHOOK_ALLOWLIST allows the hosts and CIDRs it names, and only those', () => {
  const policy = webhookPolicyOf(loadConfig({ WEBHOOK_ALLOWLIST: 'hooks.internal, 10.1.0.0/16, ::1' }));
  assert.equal(refusedAddressReason('10.1.2.3', 'x.example', policy), undefined);
  assert.equal(refusedAddressReason('::1', 'x.example', policy), undefined);
  assert.equal(refusedAddressReason('127.0.0.1', 'hooks.internal', policy), undefined);
  assert.match(refusedAddressReason('10.2.0.1', 'x.example', policy) ?? '', /private/);
  assert.match(refusedAddressReason('127.0.0.1', 'other.internal', policy) ?? '', /loopback/);
  assert.equal(checkWebhookUrl('http://10.1.9.9/', policy).hostname, '10.1.9.9');
});

test('a malformed WEBHOOK_ALLOWLIST or WEBHOOK_ALLOW_PRIVATE stops the start with one line naming it', () => {
  for (const [variable, value] of [['WEBHOOK_ALLOWLIST', '10.0.0.0/99'], ['WEBHOOK_ALLOWLIST', 'bad host!'], ['WEBHOOK_ALLOW_PRIVATE', 'maybe'], ['WEBHOOK_CONCURRENCY', '0']] as const) {
    assert.throws(() => loadConfig({ [variable]: value }), (error: unknown) => error instanceof ConfigError && error.variable === variable && !error.message.includes('\n'));
  }
});

test('signing secrets are Standard Webhooks secrets: whsec_ and 32 random bytes', () => {
  const [a, b] = [newWebhookSecret(), newWebhookSecret()];
  assert.match(a, /^whsec_[A-Za-z0-9+/]{43}=$/);
  assert.equal(Buffer.from(a.slice(6), 'base64').length, 32);
  assert.notEqual(a, b);
});
