import { connect } from 'node:net';
import type { ApiKeyScope } from '@imagefleet/jobs';
import type { TestProducer } from './producer.js';

/** A multipart/form-data body for app.inject: payload and content-type header. */
export function multipart(parts: { name: string; filename?: string; content: Buffer | string }[]) {
  const boundary = '----imagefleet-test';
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ''}`;
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${part.filename ? 'Content-Type: application/octet-stream\r\n' : ''}\r\n`));
    chunks.push(Buffer.isBuffer(part.content) ? part.content : Buffer.from(part.content), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** A new API key in the producer's Redis; returns its id and the Authorization header that carries it. */
export async function apiKey(producer: TestProducer, scopes: ApiKeyScope[], name = scopes.join('+')): Promise<{ id: string; token: string; auth: { authorization: string } }> {
  const { key, token } = await producer.deps.apiKeys.create(name, scopes);
  return { id: key.id, token, auth: { authorization: `Bearer ${token}` } };
}

/**
 * A slow-loris client: connects and sends one header byte every `everyMs`, never finishing the
 * headers. Resolves with how long the server kept the connection (it closes it), or rejects
 * when it is still open after `giveUpMs`.
 */
export function slowLoris(host: string, port: number, options: { everyMs?: number; giveUpMs: number }): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const drip = setInterval(() => socket.write('X'), options.everyMs ?? 200);
    const giveUp = setTimeout(() => {
      finish();
      reject(new Error(`the server still held a header-less connection after ${options.giveUpMs} ms`));
    }, options.giveUpMs);
    function finish() {
      clearInterval(drip);
      clearTimeout(giveUp);
      socket.destroy();
    }
    socket.on('connect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: '));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      finish();
      resolve(Date.now() - started);
    });
  });
}
