import { getJson } from './api';

interface OpenApi {
  paths?: Record<string, { post?: { requestBody?: { content?: Record<string, { schema?: { properties?: { task?: { enum?: string[] } } } }> } } }>;
}

/** The tasks POST /v1/batches accepts, read from the server's own OpenAPI document. */
export async function loadTaskNames(): Promise<string[]> {
  const spec = await getJson<OpenApi>('/openapi.json');
  return spec.paths?.['/v1/batches']?.post?.requestBody?.content?.['application/json']?.schema?.properties?.task?.enum ?? ['inspect'];
}
