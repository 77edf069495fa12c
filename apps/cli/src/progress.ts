import type { BatchStatus } from '@imagefleet/core';

function formatSeconds(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '--';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes}m${String(Math.ceil(seconds % 60)).padStart(2, '0')}s` : `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** One progress line: bar, counts, images/s and ETA. */
export function progressLine(status: BatchStatus, width = 30): string {
  const done = status.completed + status.failed;
  const fraction = status.total > 0 ? Math.min(done / status.total, 1) : 0;
  const filled = Math.round(fraction * width);
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  const listing = status.state === 'listing' ? ' (listing…)' : status.state === 'paused' ? ' (paused)' : '';
  const cached = status.cached ? `  cached ${status.cached}` : '';
  return `[${bar}] ${done}/${status.total}${listing} ${(fraction * 100).toFixed(0)}%  ${status.throughput.toFixed(1)} img/s  ETA ${formatSeconds(status.eta)}  failed ${status.failed}${cached}`;
}

/** Redraws in place on a terminal; elsewhere prints a line at most every intervalMs. */
export class ProgressPrinter {
  private lastPrinted = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly intervalMs = 5000,
  ) {}

  update(status: BatchStatus): void {
    if (this.out.isTTY) {
      this.out.write(`\r${progressLine(status)}\x1b[K`);
    } else if (Date.now() - this.lastPrinted >= this.intervalMs) {
      this.out.write(`${progressLine(status)}\n`);
      this.lastPrinted = Date.now();
    }
  }

  done(status: BatchStatus): void {
    this.out.write(`${this.out.isTTY ? '\r' : ''}${progressLine(status)}${this.out.isTTY ? '\x1b[K' : ''}\n`);
  }
}

export { formatSeconds };
