import type { BatchStatus, BatchSummary } from '@imagefleet/core';
import type { FleetModel } from '@imagefleet/jobs';
import { CliError } from './cli-error.js';

/** The producer's HTTP API as the CLI uses it. */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    /** A bearer token (imagefleet keys create); none when the API runs with AUTH=off. */
    private readonly apiKey?: string,
  ) {}

  /** `absentOn`: statuses that mean "there is none" (answered as undefined) rather than an error. */
  private async request(path: string, init: RequestInit = {}, absentOn: number[] = []): Promise<Response> {
    let response: Response;
    const headers = new Headers(init.headers);
    if (this.apiKey) headers.set('authorization', `Bearer ${this.apiKey}`);
    try {
      response = await fetch(new URL(path, this.baseUrl), { ...init, headers });
    } catch (error) {
      throw new CliError(`Cannot reach the imagefleet API at ${this.baseUrl} (${(error as Error).cause ?? (error as Error).message}); start it with 'imagefleet up' or set IMAGEFLEET_API`);
    }
    if (!response.ok && !absentOn.includes(response.status)) {
      const body = (await response.json().catch(() => ({}))) as { message?: string };
      const hint = response.status === 401 ? (this.apiKey ? ' (the key is unknown or revoked)' : ' (set IMAGEFLEET_API_KEY or --api-key)') : '';
      throw new CliError(`API ${init.method ?? 'GET'} ${path} answered ${response.status}: ${body.message ?? response.statusText}${hint}`);
    }
    return response;
  }

  async createBatch(body: unknown): Promise<{ batchId: string; created: boolean; webhookSecret?: string }> {
    const response = await this.request('/v1/batches', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return (await response.json()) as { batchId: string; created: boolean; webhookSecret?: string };
  }

  async batchStatus(batchId: string): Promise<BatchStatus> {
    return (await (await this.request(`/v1/batches/${encodeURIComponent(batchId)}`)).json()) as BatchStatus;
  }

  /** A finished batch's summary (written with its manifest); undefined for an unfinished or cancelled batch, or a server without summaries. */
  async batchSummary(batchId: string): Promise<BatchSummary | undefined> {
    const response = await this.request(`/v1/batches/${encodeURIComponent(batchId)}/summary`, {}, [404, 409]);
    return response.ok ? ((await response.json()) as BatchSummary) : undefined;
  }

  async listBatches(query: { state?: string; limit: number; cursor?: string }): Promise<{ batches: BatchStatus[]; next: string | null }> {
    const params = new URLSearchParams({ limit: String(query.limit) });
    if (query.state) params.set('state', query.state);
    if (query.cursor) params.set('cursor', query.cursor);
    return (await (await this.request(`/v1/batches?${params}`)).json()) as { batches: BatchStatus[]; next: string | null };
  }

  /** POST /v1/batches/:id/<action>: the batch's status after it, with the action's own fields (held, requeued, retried). */
  async batchAction(batchId: string, action: 'pause' | 'resume' | 'retry'): Promise<BatchStatus & Record<string, unknown>> {
    return (await (await this.request(`/v1/batches/${encodeURIComponent(batchId)}/${action}`, { method: 'POST' })).json()) as BatchStatus & Record<string, unknown>;
  }

  /** POST /v1/fleet/pause or /resume (admin scope): whether the image queues are paused now. */
  async fleetAction(action: 'pause' | 'resume'): Promise<{ paused: boolean }> {
    return (await (await this.request(`/v1/fleet/${action}`, { method: 'POST' })).json()) as { paused: boolean };
  }

  async fleetModels(): Promise<{ models: FleetModel[] }> {
    return (await (await this.request('/v1/models')).json()) as { models: FleetModel[] };
  }

  /** NDJSON lines of the batch's results, streamed. */
  async *results(batchId: string): AsyncGenerator<string> {
    const response = await this.request(`/v1/batches/${encodeURIComponent(batchId)}/results`);
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) yield line;
      }
    }
    if (buffered.trim()) yield buffered.trim();
  }
}
