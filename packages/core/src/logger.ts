import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** JSON lines on stdout (or the given destination). Secrets are redacted by path. */
export function createLogger(name: string, level: LevelWithSilent = 'info', destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    base: { pid: process.pid },
    redact: ['config.awsSecretAccessKey', 'config.awsAccessKeyId', 'config.openaiApiKey', '*.authorization', 'req.headers.authorization'],
  };
  return destination ? pino(options, destination) : pino(options);
}
