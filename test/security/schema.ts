import { customTask } from '@imagefleet/tasks';
import { ensureBucket, deleteRedisPrefix, startServices } from '../helpers/services.js';
import { testConfig, testEnv } from '../helpers/fleet.js';
import { startTestProducer } from '../helpers/producer.js';
import { hostileSchemas, worstAllowedSchema } from '../helpers/schema-cases.js';
import { row, type SecurityRow } from './row.js';

const AREA = 'schema';

/**
 * Every hostile custom schema posted to a real API (Redis, s3rver): each must be a 400 naming its
 * JSON path within 5 s (body parsing included; the probe saw minutes); /healthz must answer while the costliest allowed schemas compile.
 */
export async function runSecurityCases(): Promise<SecurityRow[]> {
  const services = await startServices();
  await ensureBucket(services, 'photos');
  // AUTH=off: this area tests schemas, not keys (a setting this branch does not read yet is ignored).
  const config = testConfig(testEnv(services, { AUTH: 'off' }));
  const producer = await startTestProducer(config);
  const rows: SecurityRow[] = [];
  try {
    const post = (schema: unknown) =>
      producer.app.inject({ method: 'POST', url: '/v1/batches', payload: { task: 'custom', source: { s3: { bucket: 'photos', prefix: 'none/' } }, options: { prompt: 'Describe', schema } } });
    for (const { name, schema, path } of hostileSchemas) {
      const started = performance.now();
      const response = await post(schema);
      const body = response.json<{ error?: string; message?: string }>();
      const ms = Math.round(performance.now() - started);
      // The body is parsed first: the 2.9 MB of the 300,000-value enum take most of this budget.
      const fast = ms < 5000;
      const named = typeof body.message === 'string' && body.message.startsWith(path);
      rows.push(row(AREA, name, `400 bad_request naming ${path}, < 5 s`, `${response.statusCode} ${body.error}${named ? ` naming ${path}` : `: ${body.message}`}${fast ? ', < 5 s' : `, in ${ms} ms`}`));
    }
    const compiles = [1, 2, 3, 4].map((salt) => post(worstAllowedSchema(salt + 100)));
    const started = performance.now();
    const health = await producer.app.inject({ method: 'GET', url: '/healthz' });
    const healthMs = performance.now() - started;
    const statuses = (await Promise.all(compiles)).map((response) => response.statusCode);
    rows.push(row(AREA, '4 costliest allowed schemas at once, /healthz meanwhile', '202,202,202,202, /healthz 200 < 1 s', `${statuses.join(',')}, /healthz ${health.statusCode}${healthMs < 1000 ? ' < 1 s' : ` in ${Math.round(healthMs)} ms`}`));
    const problem = customTask.validateOptions({ prompt: 'x', schema: { type: 'string', pattern: '^[a-z]{1,8}$' } });
    rows.push(row(AREA, 'anchored bounded pattern ^[a-z]{1,8}$', 'accepted', problem ?? 'accepted'));
  } finally {
    await producer.close();
    await deleteRedisPrefix(services.redisUrl, config.queuePrefix);
    await services.stop();
  }
  return rows;
}
