import type { SlotGate } from '@imagefleet/engine';

/**
 * After an engine crash, one job at a time for `durationMs`: if the same input crashes the host
 * again it is alone in flight, so only it is charged. Then the planned slot count comes back.
 */
export class Probation {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly gate: SlotGate,
    private readonly plannedSlots: number,
    private readonly durationMs = 30_000,
  ) {}

  start(): void {
    this.gate.setCapacity(1);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.gate.setCapacity(this.plannedSlots), this.durationMs);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
