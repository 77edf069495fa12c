import { isAbsolute, resolve } from 'node:path';
import { parseWebhookAllowlist } from './webhook-policy.js';
import { isModelId } from './ids.js';

/** A configuration value that failed validation; its message is one line naming the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    expected: string,
    got: string,
  ) {
    super(`Invalid configuration: ${variable} must be ${expected} (got ${JSON.stringify(got)})`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

interface Setting<T> {
  /** Environment variable name. */
  variable: string;
  /** Default as written in the README (empty string = unset). */
  default: string;
  description: string;
  parse(raw: string, variable: string): T;
}

function setting<T>(
  variable: string,
  defaultValue: string,
  description: string,
  parse: (raw: string, variable: string) => T,
): Setting<T> {
  return { variable, default: defaultValue, description, parse };
}

function integer(min: number, max: number) {
  return (raw: string, variable: string): number => {
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || value < min || value > max) {
      throw new ConfigError(variable, `an integer between ${min} and ${max}`, raw);
    }
    return value;
  };
}

function text(raw: string): string {
  return raw.trim();
}

function oneOf<T extends string>(...values: T[]) {
  return (raw: string, variable: string): T => {
    if (!(values as string[]).includes(raw)) throw new ConfigError(variable, `one of ${values.join(', ')}`, raw);
    return raw as T;
  };
}

function boolean(raw: string, variable: string): boolean {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(variable, 'true or false', raw);
}

function urlWithProtocol(...protocols: string[]) {
  return (raw: string, variable: string): string => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError(variable, `a URL starting with ${protocols.join(' or ')}`, raw);
    }
    if (!protocols.includes(url.protocol)) {
      throw new ConfigError(variable, `a URL starting with ${protocols.join(' or ')}`, raw);
    }
    return raw;
  };
}

function optionalHttpUrl(raw: string, variable: string): string | undefined {
  return raw === '' ? undefined : urlWithProtocol('http:', 'https:')(raw, variable);
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** s3://bucket/prefix, or a local directory (made absolute). */
function storeLocation(raw: string, variable: string): string {
  if (raw.startsWith('s3://')) {
    const bucket = raw.slice(5).split('/')[0];
    if (!bucket || !BUCKET_NAME.test(bucket)) {
      throw new ConfigError(variable, 's3://<bucket>/<prefix> with a valid bucket name, or a directory', raw);
    }
    return raw.replace(/\/+$/, '');
  }
  if (raw === '' || raw.includes('\0') || /^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    throw new ConfigError(variable, 's3://<bucket>/<prefix> or a local directory', raw);
  }
  return isAbsolute(raw) ? raw : resolve(raw);
}

function directoryList(raw: string): string[] {
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => resolve(entry));
}

/** Bucket names, or ['*'] for any; empty = the configuration's own buckets (see allowedBuckets). */
function bucketList(raw: string, variable: string): string[] {
  const entries = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (entries.includes('*')) return ['*'];
  const bad = entries.find((entry) => !BUCKET_NAME.test(entry));
  if (bad !== undefined) throw new ConfigError(variable, 'a comma-separated list of bucket names, or *', raw);
  return entries;
}

function originList(raw: string, variable: string): string[] {
  const entries = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  for (const entry of entries) {
    let origin: string | undefined;
    try {
      origin = new URL(entry).origin;
    } catch {
      origin = undefined;
    }
    if (origin !== entry.replace(/\/+$/, '')) throw new ConfigError(variable, 'a comma-separated list of origins such as https://app.example.com', raw);
  }
  return entries.map((entry) => entry.replace(/\/+$/, ''));
}

function byteSize(max: number) {
  return (raw: string, variable: string): number => {
    const match = /^(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(raw.trim());
    const units: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };
    const value = match ? Number(match[1]) * (units[(match[2] ?? 'b').toLowerCase()] ?? 1) : NaN;
    if (!Number.isSafeInteger(value) || value < 1 || value > max) {
      throw new ConfigError(variable, `a size in bytes (e.g. 25MiB) between 1 and ${max}`, raw);
    }
    return value;
  };
}

const GiB = 1024 ** 3;

/** Every setting, in README order. The README's configuration table lists exactly these. */
export const settings = {
  redisUrl: setting('REDIS_URL', 'redis://127.0.0.1:6379', 'Redis for queues and batch state', urlWithProtocol('redis:', 'rediss:')),
  queuePrefix: setting('QUEUE_PREFIX', 'imagefleet', 'Prefix of every Redis key (use `{imagefleet}` on Redis Cluster)', (raw, variable) => {
    if (!/^[A-Za-z0-9_{}.-]{1,64}$/.test(raw)) throw new ConfigError(variable, 'letters, digits, _ . - { } (1-64 chars)', raw);
    return raw;
  }),
  s3Endpoint: setting('S3_ENDPOINT', '', 'S3-compatible endpoint URL; empty = AWS S3', (raw, variable) => optionalHttpUrl(raw, variable)),
  s3ForcePathStyle: setting('S3_FORCE_PATH_STYLE', '', 'Path-style bucket addressing; default on when S3_ENDPOINT is set', (raw, variable) =>
    raw === '' ? undefined : boolean(raw, variable),
  ),
  awsRegion: setting('AWS_REGION', 'us-east-1', 'S3 region (any value works for most S3-compatible servers)', text),
  awsAccessKeyId: setting('AWS_ACCESS_KEY_ID', '', 'S3 access key (empty = the AWS SDK default chain)', (raw) => raw || undefined),
  awsSecretAccessKey: setting('AWS_SECRET_ACCESS_KEY', '', 'S3 secret key', (raw) => raw || undefined),
  s3RequestTimeoutMs: setting('S3_REQUEST_TIMEOUT_MS', '30000', 'Timeout of one S3 request: to connect (at most 5 s of it), until the answer starts, and for any pause while a body streams; the SDK tries a timed-out request 3 times', integer(100, 3_600_000)),
  resultsUrl: setting('RESULTS_URL', './data/results', 'Where results and manifests go: s3://bucket/prefix or a directory', storeLocation),
  uploadsUrl: setting('UPLOADS_URL', './data/uploads', 'Where POST /v1/images stores uploads: s3://bucket/prefix or a directory', storeLocation),
  localSourceRoots: setting('LOCAL_SOURCE_ROOTS', '', 'Comma-separated directories a batch may read from the local disk (empty = local sources disabled; `imagefleet up` allows the working directory). The uploads and results directories are never a source', directoryList),
  allowedSourceBuckets: setting('ALLOWED_SOURCE_BUCKETS', '', 'Comma-separated buckets a batch may read (`*` = any); empty = the buckets of RESULTS_URL and UPLOADS_URL. The results and uploads prefixes themselves are never a source', bucketList),
  host: setting('HOST', '127.0.0.1', 'API listen address', text),
  port: setting('PORT', '8080', 'API listen port', integer(0, 65535)),
  workerPort: setting('WORKER_PORT', '9464', 'Worker /healthz, /readyz and /metrics port (0 = any free port, logged); `imagefleet up` serves them on the API port instead', integer(0, 65535)),
  auth: setting('AUTH', 'on', 'API keys on every /v1 route and the API port\'s /metrics (on, off); `imagefleet up` and `demo` default to off when HOST is loopback and no key exists, and say so', boolean),
  producerMetricsPort: setting('PRODUCER_METRICS_PORT', '', 'A port for the producer\'s /metrics without a key (internal network only, for Prometheus); empty = /metrics on the API port behind a key with the metrics scope', (raw, variable) =>
    raw === '' ? undefined : integer(0, 65535)(raw, variable),
  ),
  corsOrigins: setting('CORS_ORIGINS', '', 'Comma-separated browser origins allowed to call the API (CORS); empty = none, and any request with another Origin is refused', originList),
  rateLimitMax: setting('RATE_LIMIT_MAX', '600', 'Requests one API key (or one IP address without a key) may make per RATE_LIMIT_WINDOW_MS, counted in Redis across producers; more = 429 with Retry-After', integer(1, 10_000_000)),
  rateLimitWindowMs: setting('RATE_LIMIT_WINDOW_MS', '60000', 'The rate limit window', integer(1000, 86_400_000)),
  httpHeadersTimeoutMs: setting('HTTP_HEADERS_TIMEOUT_MS', '10000', 'Time a client has to send the request headers (a slow client is cut off)', integer(1000, 600_000)),
  httpRequestTimeoutMs: setting('HTTP_REQUEST_TIMEOUT_MS', '120000', 'Time a client has to send a whole request, body included (uploads)', integer(1000, 3_600_000)),
  httpConnectionTimeoutMs: setting('HTTP_CONNECTION_TIMEOUT_MS', '60000', 'A connection with no traffic for this long is closed', integer(1000, 3_600_000)),
  httpKeepAliveTimeoutMs: setting('HTTP_KEEP_ALIVE_TIMEOUT_MS', '72000', 'How long an idle keep-alive connection stays open (above common load-balancer idle timeouts)', integer(1000, 3_600_000)),
  gpuSampleMs: setting('GPU_SAMPLE_MS', '5000', 'How often workers read GPU metrics from nvidia-smi (0 = never)', integer(0, 3_600_000)),
  queueSampleMs: setting('QUEUE_SAMPLE_MS', '5000', 'How often the producer samples queue depth and batch progress for /metrics', integer(250, 3_600_000)),
  workerConcurrency: setting('WORKER_CONCURRENCY', '4', 'Jobs a worker process holds at once (download, prepare and analyse overlap)', integer(1, 1024)),
  maxImageBytes: setting('MAX_IMAGE_BYTES', '50MiB', 'Largest source object a worker reads', byteSize(4 * GiB)),
  maxImagePixels: setting('MAX_IMAGE_PIXELS', '100000000', 'Largest image (width x height) a worker decodes', integer(1, 2 ** 31)),
  maxPages: setting('MAX_PAGES', '200', 'Most pages a document (PDF, multi-page TIFF, multi-frame GIF or WebP) may have; a longer one fails with too_many_pages and no page is analysed', integer(1, 100_000)),
  uploadMaxBytes: setting('UPLOAD_MAX_BYTES', '25MiB', 'Largest upload accepted by POST /v1/images (larger = 413)', byteSize(4 * GiB)),
  thumbnailCacheBytes: setting('THUMBNAIL_CACHE_BYTES', '32MiB', 'Memory the producer keeps for the console\'s thumbnails (256 px previews of batch inputs, least recently used dropped first)', byteSize(GiB)),
  jobAttempts: setting('JOB_ATTEMPTS', '5', 'Attempts for transient failures (storage, network), with exponential backoff', integer(1, 100)),
  jobBackoffMs: setting('JOB_BACKOFF_MS', '1000', 'First retry delay; doubles each attempt', integer(0, 3_600_000)),
  lockDurationMs: setting('JOB_LOCK_MS', '30000', 'Job lock; a job whose worker stops renewing it for this long is retried elsewhere', integer(1000, 3_600_000)),
  stalledIntervalMs: setting('STALLED_CHECK_MS', '30000', 'How often workers look for jobs of dead workers', integer(500, 3_600_000)),
  jobMaxStalls: setting('JOB_MAX_STALLS', '3', 'Times a job may lose its worker (its lock expires, e.g. the worker was killed) and be retried before it fails as stalled', integer(1, 1000)),
  storageOutageWindowMs: setting('STORAGE_OUTAGE_WINDOW_MS', '300000', 'How long an input waits out storage errors (S3 down or timing out) without using up its attempts; then it fails with storage_unavailable (0 = storage errors use attempts like any other)', integer(0, 7 * 86_400_000)),
  shutdownTimeoutMs: setting('SHUTDOWN_TIMEOUT_MS', '30000', 'On SIGTERM/SIGINT, time to finish active jobs before they are handed back', integer(0, 3_600_000)),
  batchTtlSeconds: setting('BATCH_TTL_SECONDS', '604800', 'How long a finished batch record stays in Redis (results stay in storage)', integer(60, 10 * 365 * 86400)),
  resultCache: setting('RESULT_CACHE', 'on', 'Reuse model-task results by content: a worker whose input (source bytes, task and its version, batch options, MODEL_ID) was answered before writes that result, marked cached, without running the model (on, off); entries live under <results>/_result-cache/', boolean),
  resultCacheTtlDays: setting('RESULT_CACHE_TTL_DAYS', '30', 'Days a result cache entry is reused; an older one is a miss and is overwritten (delete old entries with an S3 lifecycle rule on the _result-cache/ prefix)', integer(1, 3650)),
  listerLockMs: setting('LISTER_LOCK_MS', '30000', 'Lock of the producer listing a batch; when that producer dies, another one (or the restarted one) takes the listing over once the lock expires', integer(1000, 3_600_000)),
  listingAhead: setting('LISTING_AHEAD', '10000', 'Inputs of one batch that may wait in Redis (enqueued, no outcome yet); its listing pauses at this many and continues as they finish, so a huge prefix never fills Redis', integer(1, 10_000_000)),
  interactiveShare: setting('INTERACTIVE_SHARE', '4', 'Uploads (POST /v1/images) served per scheduling round, ahead of batch work: each round also serves one job of every running batch (times its priority), so uploads wait for about one job per running batch and never starve a batch', integer(1, 1000)),
  reconcileIntervalMs: setting('RECONCILE_INTERVAL_MS', '5000', 'How often the leading producer checks unfinished batches: resumes listings whose producer died, (re)starts finalize, records inputs failed without an outcome', integer(100, 3_600_000)),
  finalizeRetryMs: setting('FINALIZE_RETRY_MS', '30000', 'How long after a failed finalize (e.g. the manifest write failing) the reconciler starts it again', integer(0, 86_400_000)),
  webhookAttempts: setting('WEBHOOK_ATTEMPTS', '5', 'Deliveries tried per batch webhook (a failed one is retried with exponential backoff from JOB_BACKOFF_MS)', integer(1, 50)),
  webhookTimeoutMs: setting('WEBHOOK_TIMEOUT_MS', '10000', 'Timeout of one webhook delivery', integer(100, 600_000)),
  webhookConcurrency: setting('WEBHOOK_CONCURRENCY', '16', 'Webhook deliveries a worker process makes at once (their own queue: a slow receiver never delays a batch)', integer(1, 1024)),
  webhookAllowPrivate: setting('WEBHOOK_ALLOW_PRIVATE', 'false', 'Allow webhooks to loopback, private, link-local and other non-public addresses (refused by default)', boolean),
  webhookAllowlist: setting('WEBHOOK_ALLOWLIST', '', 'Comma-separated hosts and CIDRs webhooks may reach even when not public (e.g. `hooks.internal,10.1.0.0/16`)', (raw, variable) => {
    try {
      return parseWebhookAllowlist(raw);
    } catch (error) {
      throw new ConfigError(variable, `host names, IP addresses or CIDRs separated by commas (${(error as Error).message})`, raw);
    }
  }),
  engine: setting('ENGINE', 'auto', 'Vision engine of a worker: auto (server when a llama-server is found, else llama), server (a managed llama-server child process), llama (llama.node in a child process: zero-build fallback, slow on CPU), openai (an external OpenAI-compatible server), none (model-free tasks only)', oneOf('auto', 'server', 'llama', 'openai', 'none')),
  llamaServerBin: setting('LLAMA_SERVER_BIN', '', 'llama-server binary for ENGINE=server; empty = the one `imagefleet engine build` cached under ENGINE_CACHE_DIR', (raw) => (raw === '' ? undefined : resolve(raw))),
  engineCacheDir: setting('ENGINE_CACHE_DIR', './data/engine', 'Where `imagefleet engine build` keeps llama-server builds (<commit>-<backend>/bin/llama-server)', (raw) => resolve(raw)),
  modelPath: setting('MODEL_PATH', '', 'GGUF text model; unset = the generated tiny random-weight model under MODELS_DIR (answers are noise)', (raw) => (raw === '' ? undefined : resolve(raw))),
  mmprojPath: setting('MMPROJ_PATH', '', 'GGUF vision projector (mmproj) belonging to MODEL_PATH', (raw) => (raw === '' ? undefined : resolve(raw))),
  modelId: setting('MODEL_ID', '', 'The model a worker serves, as the fleet names it (GET /v1/models); empty = derived: the GGUF file name and a hash prefix of its path and size (e.g. `qwen3-vl-2b-q8_0-1a2b3c`), the server\'s model name for ENGINE=openai, `none` for ENGINE=none', (raw, variable) => {
    if (raw !== '' && !isModelId(raw)) throw new ConfigError(variable, 'letters, digits, . _ : - (1-100 chars)', raw);
    return raw || undefined;
  }),
  heartbeatMs: setting('HEARTBEAT_MS', '5000', 'How often a worker publishes its heartbeat (model, device, slots, images/s) to Redis; a worker whose heartbeats stop leaves GET /v1/models after 3 intervals', integer(100, 600_000)),
  modelsDir: setting('MODELS_DIR', './data/models', 'Where `models pull` downloads and the tiny model is generated', (raw) => resolve(raw)),
  engineSlots: setting('ENGINE_SLOTS', '0', 'Parallel sequences on the model; 0 = planned from free device memory', integer(0, 256)),
  engineMaxSlots: setting('ENGINE_MAX_SLOTS', '16', 'Upper bound for the planned slot count', integer(1, 256)),
  engineLibVariant: setting('ENGINE_LIB_VARIANT', 'auto', 'llama.node build: auto (vulkan when a GPU is found, else the CPU build), default (CPU), vulkan (any GPU), cuda (prebuilt for sm_89: L4, L40, RTX 40xx)', oneOf('auto', 'default', 'vulkan', 'cuda')),
  engineGpuLayers: setting('ENGINE_GPU_LAYERS', '-1', 'Layers offloaded to the GPU; -1 = all when a GPU is present, 0 = CPU only', integer(-1, 10000)),
  engineThreads: setting('ENGINE_THREADS', '0', 'CPU threads for the model; 0 = the number of cores', integer(0, 1024)),
  engineMaxCrashes: setting('ENGINE_MAX_CRASHES', '2', 'Engine host crashes one input may cause before it fails with engine_crashed_repeatedly', integer(1, 100)),
  engineLoadTimeoutMs: setting('ENGINE_LOAD_TIMEOUT_MS', '600000', 'Time allowed for loading the model into the engine host', integer(1000, 3_600_000)),
  engineTimeoutMs: setting('ENGINE_TIMEOUT_MS', '30000', 'Base per-request deadline; the host is restarted when a request exceeds it', integer(1000, 3_600_000)),
  engineMsPerToken: setting('ENGINE_MS_PER_TOKEN', '250', 'Added to the deadline per output token the task allows', integer(0, 60_000)),
  memorySafetyMarginMiB: setting('MEMORY_SAFETY_MARGIN_MIB', '1024', 'Device memory the planner leaves free', integer(0, 1_000_000)),
  gpuDevice: setting('GPU_DEVICE', '', 'GPU index this worker is pinned to (set by `worker --gpus`); empty = first GPU or CPU', (raw, variable) =>
    raw === '' ? undefined : integer(0, 63)(raw, variable),
  ),
  openaiBaseUrl: setting('OPENAI_BASE_URL', 'http://127.0.0.1:8081/v1', 'With ENGINE=openai: the server (llama-server, vLLM)', urlWithProtocol('http:', 'https:')),
  openaiApiKey: setting('OPENAI_API_KEY', '', 'With ENGINE=openai: bearer token, if the server wants one', (raw) => raw || undefined),
  openaiModel: setting('OPENAI_MODEL', '', 'With ENGINE=openai: model name to request (empty = the server default)', (raw) => raw || undefined),
  logLevel: setting('LOG_LEVEL', 'info', 'pino log level', oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent')),
} as const;

type Settings = typeof settings;
export type Config = { [K in keyof Settings]: ReturnType<Settings[K]['parse']> };

/** Reads and validates every setting; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const config = {} as Record<string, unknown>;
  for (const [name, spec] of Object.entries(settings) as [string, Setting<unknown>][]) {
    const raw = env[spec.variable];
    config[name] = spec.parse(raw === undefined ? spec.default : raw, spec.variable);
  }
  const loaded = { ...(config as Config), ...overrides };
  if (loaded.httpHeadersTimeoutMs > loaded.httpRequestTimeoutMs) {
    throw new ConfigError('HTTP_HEADERS_TIMEOUT_MS', `at most HTTP_REQUEST_TIMEOUT_MS (${loaded.httpRequestTimeoutMs})`, String(loaded.httpHeadersTimeoutMs));
  }
  return loaded;
}

/** The buckets a batch may read: ALLOWED_SOURCE_BUCKETS, else those of RESULTS_URL and UPLOADS_URL; '*' = any. */
export function allowedSourceBuckets(config: Pick<Config, 'allowedSourceBuckets' | 'resultsUrl' | 'uploadsUrl'>): string[] {
  if (config.allowedSourceBuckets.length > 0) return config.allowedSourceBuckets;
  const own = [config.resultsUrl, config.uploadsUrl].filter((url) => url.startsWith('s3://')).map((url) => url.slice(5).split('/')[0]!);
  return [...new Set(own)];
}
