import { hostname } from 'node:os';
import type { Config, Logger } from '@imagefleet/core';
import type { EngineSupervisor } from '@imagefleet/engine';
import type { WorkerHeartbeat, WorkerHeartbeats } from '@imagefleet/jobs';
import type { ImageActivity } from './image-activity.js';
import { resolveEngineKind, resolveModelFiles } from './engine-runtime.js';
import { modelIdOfFile } from './model-id.js';

/** Heartbeats a worker may miss before it leaves the listing. */
const MISSED_HEARTBEATS = 3;

/** MODEL_ID, else: `none` without an engine, the server's model name for ENGINE=openai, the GGUF file's derived id. */
export async function resolveModelId(config: Config, logger: Logger, engine: EngineSupervisor | undefined): Promise<string> {
  if (config.modelId) return config.modelId;
  if (!engine) return 'none';
  if (resolveEngineKind(config) === 'openai') return engine.modelName;
  return modelIdOfFile((await resolveModelFiles(config, logger)).model);
}

function deviceOf(engine: EngineSupervisor | undefined): string {
  if (!engine) return 'cpu';
  const device = engine.plan?.device;
  if (!device) return 'remote';
  return device.kind === 'gpu' ? device.name : 'cpu';
}

/** Publishes this worker's heartbeat every HEARTBEAT_MS until stopped; stop() removes it at once. */
export class HeartbeatPublisher {
  readonly workerId = `${hostname()}:${process.pid}`;
  private timer: NodeJS.Timeout | undefined;
  private publishing: Promise<void> = Promise.resolve();

  constructor(
    private readonly heartbeats: WorkerHeartbeats,
    private readonly options: { config: Config; logger: Logger; modelId: string; engine: EngineSupervisor | undefined; activity: ImageActivity },
  ) {}

  heartbeat(): WorkerHeartbeat {
    const { engine, activity, modelId } = this.options;
    return {
      workerId: this.workerId,
      modelId,
      engine: engine?.engine.kind ?? 'none',
      device: deviceOf(engine),
      slots: engine?.gate.capacity ?? 0,
      imagesPerSecond: activity.imagesPerSecond(),
      jobsInFlight: activity.jobsInFlight,
      lastSeen: new Date().toISOString(),
    };
  }

  /** Publishes the first heartbeat (the worker is listed once this resolves), then every interval. */
  async start(): Promise<void> {
    await this.publish();
    this.timer = setInterval(() => {
      this.publishing = this.publish().catch((error: unknown) => this.options.logger.warn({ err: error }, 'heartbeat not published; retried next interval'));
    }, this.options.config.heartbeatMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.publishing;
    await this.heartbeats.remove(this.workerId).catch((error: unknown) => this.options.logger.warn({ err: error }, 'heartbeat not removed; it expires on its own'));
  }

  private publish(): Promise<void> {
    return this.heartbeats.publish(this.heartbeat(), this.options.config.heartbeatMs * MISSED_HEARTBEATS);
  }
}
