import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from '@imagefleet/metrics';

export interface HealthChecks {
  /** Redis reachable and, when the worker runs an engine, the engine host up. */
  ready(): Promise<{ ready: boolean; checks: Record<string, boolean> }>;
}

/** /healthz, /readyz and /metrics of a standalone worker (three routes: plain node:http). */
export async function startHealthServer(host: string, port: number, checks: HealthChecks, registry: Registry): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const send = (status: number, type: string, body: string) => {
      response.writeHead(status, { 'content-type': type });
      response.end(body);
    };
    if (request.method !== 'GET') return send(405, 'application/json', '{"error":"method_not_allowed"}');
    switch (request.url) {
      case '/healthz':
        return send(200, 'application/json', '{"status":"ok"}');
      case '/readyz':
        return void checks.ready().then(
          ({ ready, checks: detail }) => send(ready ? 200 : 503, 'application/json', JSON.stringify({ status: ready ? 'ready' : 'unavailable', checks: detail })),
          (error: Error) => send(503, 'application/json', JSON.stringify({ status: 'unavailable', error: error.message })),
        );
      case '/metrics':
        return void registry.metrics().then((body) => send(200, registry.contentType, body));
      default:
        return send(404, 'application/json', '{"error":"not_found"}');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
