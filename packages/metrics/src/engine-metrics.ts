import { Counter, Gauge, type Registry } from 'prom-client';

/** Engine gauges and counters of a worker; values are read at scrape time where possible. */
export interface EngineMetricsSource {
  slotsPlanned(): number;
  slotsBusy(): number;
  slotsAllowed(): number;
  deviceMemory(): { device: string; freeBytes: number; totalBytes: number } | undefined;
  engineUp(): boolean;
  restarts(): number;
  oomBackoffs(): number;
  engineKind(): string | undefined;
  /** Requests sent to the engine (each generation attempt of a model job). */
  requests(): number;
  /** Prompt and completion tokens the engine has processed. */
  tokens(): { prompt: number; completion: number } | undefined;
  /** Figures the engine reports itself (llama-server's KV-cache use); read at scrape time. */
  stats(): Promise<{ kvCacheUsageRatio?: number }>;
}

export function registerEngineMetrics(registry: Registry, source: EngineMetricsSource) {
  new Gauge({
    name: 'imagefleet_engine_slots',
    help: 'Engine slots: planned (from device memory), allowed now (after OOM back-off or crash probation), busy',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.set({ kind: 'planned' }, source.slotsPlanned());
      this.set({ kind: 'allowed' }, source.slotsAllowed());
      this.set({ kind: 'busy' }, source.slotsBusy());
    },
  });
  new Gauge({
    name: 'imagefleet_engine_up',
    help: '1 while the engine host is loaded and answering',
    registers: [registry],
    collect() {
      this.set(source.engineUp() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'imagefleet_planner_device_memory_bytes',
    help: 'Device memory the slot planner saw at start, by state (free, total)',
    labelNames: ['device', 'state'],
    registers: [registry],
    collect() {
      const memory = source.deviceMemory();
      if (!memory) return;
      this.set({ device: memory.device, state: 'free' }, memory.freeBytes);
      this.set({ device: memory.device, state: 'total' }, memory.totalBytes);
    },
  });
  new Gauge({
    name: 'imagefleet_engine_info',
    help: 'The engine this worker runs (server, llama, openai); always 1',
    labelNames: ['engine'],
    registers: [registry],
    collect() {
      const kind = source.engineKind();
      this.reset();
      if (kind) this.set({ engine: kind }, 1);
    },
  });
  new Counter({
    name: 'imagefleet_engine_tokens_total',
    help: 'Tokens the engine processed, by direction (prompt incl. image tokens, completion); rate() gives tokens per second',
    labelNames: ['engine', 'direction'],
    registers: [registry],
    collect() {
      const kind = source.engineKind();
      const tokens = source.tokens();
      this.reset();
      if (!kind || !tokens) return;
      this.inc({ engine: kind, direction: 'prompt' }, tokens.prompt);
      this.inc({ engine: kind, direction: 'completion' }, tokens.completion);
    },
  });
  new Gauge({
    name: 'imagefleet_engine_kv_cache_usage_ratio',
    help: "Share of the engine's KV cache held by requests in flight (llama-server /slots; absent for other engines)",
    labelNames: ['engine'],
    registers: [registry],
    async collect() {
      const kind = source.engineKind();
      const { kvCacheUsageRatio } = await source.stats();
      this.reset();
      if (kind && kvCacheUsageRatio !== undefined) this.set({ engine: kind }, kvCacheUsageRatio);
    },
  });
  // Counted where they happen (supervisor, engine host, OOM handler); read at scrape time.
  new Counter({
    name: 'imagefleet_engine_requests_total',
    help: 'Requests sent to the engine (every generation attempt, retries included)',
    labelNames: ['engine'],
    registers: [registry],
    collect() {
      const kind = source.engineKind();
      this.reset();
      if (kind) this.inc({ engine: kind }, source.requests());
    },
  });
  new Counter({
    name: 'imagefleet_engine_restarts_total',
    help: 'Engine host restarts after a crash, timeout or resize',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(source.restarts());
    },
  });
  new Counter({
    name: 'imagefleet_engine_oom_backoffs_total',
    help: 'Times the slot count was halved after an out-of-memory error',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(source.oomBackoffs());
    },
  });
}
