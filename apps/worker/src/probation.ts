import type { SlotGate } from '@imagefleet/engine';

/**
 * After an engine crash, one job at a time for `durationMs`: if the same input crashes the host
 * again it is alone in flight, so only it is charged. Then the target slot count comes back: the
 * planned one, or fewer after an out-of-memory back-off.
 */
export class Probation {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly gate: SlotGate,
    private targetSlots: number,
    private readonly durationMs = 30_000,
  ) {}

  /** The slot count to return to (lowered by out-of-memory back-offs). */
  setTarget(slots: number): void {
    this.targetSlots = slots;
    if (!this.timer) this.gate.setCapacity(slots);
  }

  start(): void {
    this.gate.setCapacity(1);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.gate.setCapacity(this.targetSlots);
    }, this.durationMs);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
