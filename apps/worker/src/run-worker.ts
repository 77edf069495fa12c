import { isModelId, type Config, type Logger } from '@imagefleet/core';
import { pingRedis } from '@imagefleet/jobs';
import { GpuSampler, createMetricsRegistry, registerEngineMetrics, type Registry } from '@imagefleet/metrics';
import { closeWorkerDeps, createWorkerDeps, type WorkerDeps } from './deps.js';
import { FleetWorker } from './fleet-worker.js';
import { startEngine } from './engine-runtime.js';
import { startHealthServer } from './health-server.js';
import { HeartbeatPublisher, resolveModelId } from './heartbeat.js';
import { ImageActivity } from './image-activity.js';

export interface RunningWorker {
  /** Whether Redis answers and, with an engine, the engine host is up. */
  ready(): Promise<{ ready: boolean; checks: Record<string, boolean> }>;
  /** http://host:port of /healthz, /readyz, /metrics when this worker serves them. */
  healthUrl: string | undefined;
  /** Graceful stop: finish active jobs within SHUTDOWN_TIMEOUT_MS, then close connections. */
  stop(): Promise<void>;
}

export interface WorkerStartOptions {
  /** Metrics go here (`imagefleet up` shares the API's registry); default: a new one. */
  metrics?: Registry;
  /** Serve /healthz, /readyz, /metrics on WORKER_PORT (default true). */
  serveHealth?: boolean;
}

function engineMetrics(deps: WorkerDeps, registry: Registry) {
  return registerEngineMetrics(registry, {
    slotsPlanned: () => deps.engine?.plannedSlots ?? 0,
    slotsAllowed: () => deps.engine?.gate.capacity ?? 0,
    slotsBusy: () => deps.engine?.gate.busy ?? 0,
    engineUp: () => deps.engine?.ready ?? false,
    engineKind: () => deps.engine?.engine.kind,
    tokens: () => deps.engine?.tokens,
    stats: async () => (await deps.engine?.engine.stats?.()) ?? {},
    restarts: () => deps.engine?.engine.restarts ?? 0,
    oomBackoffs: () => deps.engine?.oomBackoffs ?? 0,
    deviceMemory: () => {
      const device = deps.engine?.plan?.device;
      return device && { device: device.name, freeBytes: device.freeBytes, totalBytes: device.totalBytes };
    },
  });
}

/**
 * The model whose own queue this worker consumes: its MODEL_ID when it runs an engine and the id
 * is one a batch can name (an OpenAI server's model name may not be: then only the shared queue).
 */
function modelQueueOf(modelId: string, deps: WorkerDeps, logger: Logger): string | undefined {
  if (!deps.engine) return undefined;
  if (isModelId(modelId)) return modelId;
  logger.warn({ modelId }, 'this model id cannot be named by a batch (letters, digits, . _ : -; set MODEL_ID): consuming only the shared model queue');
  return undefined;
}

export async function startWorker(config: Config, logger: Logger, options: WorkerStartOptions = {}): Promise<RunningWorker> {
  const registry = options.metrics ?? createMetricsRegistry({ service: 'worker' });
  const deps = createWorkerDeps(config, logger, registry);
  try {
    deps.engine = await startEngine(config, logger);
  } catch (error) {
    await closeWorkerDeps(deps);
    throw error;
  }
  engineMetrics(deps, registry);
  const gpus = new GpuSampler(registry, {
    intervalMs: config.gpuSampleMs,
    onUnavailable: (reason) => logger.info({ reason }, 'no GPU metrics: nvidia-smi unavailable (no GPU series are exported)'),
  });
  if (config.gpuSampleMs > 0) gpus.start();
  const activity = new ImageActivity();
  let modelId: string;
  let worker: FleetWorker;
  try {
    modelId = await resolveModelId(config, logger, deps.engine);
    worker = new FleetWorker(deps, activity, modelQueueOf(modelId, deps, logger));
  } catch (error) {
    gpus.stop();
    await closeWorkerDeps(deps);
    throw error;
  }
  await worker.waitUntilReady();
  const heartbeat = new HeartbeatPublisher(deps.workers, { config, logger, modelId, engine: deps.engine, activity });
  await heartbeat.start();
  const ready = async () => {
    const redis = await pingRedis(deps.redis).then(() => true, () => false);
    const checks: Record<string, boolean> = { redis };
    if (deps.engine) checks.engine = deps.engine.ready;
    return { ready: Object.values(checks).every(Boolean), checks };
  };
  const health = options.serveHealth === false ? undefined : await startHealthServer(config.host, config.workerPort, { ready }, registry);
  logger.info(
    { concurrency: config.workerConcurrency, queuePrefix: config.queuePrefix, engine: deps.engine?.engine.kind ?? 'none', model: deps.engine?.modelName, modelId, modelQueue: worker.modelQueue, workerId: heartbeat.workerId, slots: deps.engine?.plannedSlots, health: health?.url },
    'worker started',
  );
  let stopping: Promise<void> | undefined;
  return {
    ready,
    healthUrl: health?.url,
    stop() {
      stopping ??= (async () => {
        logger.info({ timeoutMs: config.shutdownTimeoutMs }, 'worker stopping: finishing active jobs');
        await heartbeat.stop();
        const { graceful } = await worker.close(config.shutdownTimeoutMs);
        gpus.stop();
        await health?.close();
        await closeWorkerDeps(deps);
        logger.info({ graceful }, graceful ? 'worker stopped' : 'worker stopped at the deadline; unfinished jobs will be retried elsewhere');
      })();
      return stopping;
    },
  };
}
