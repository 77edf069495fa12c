/**
 * Lets at most `capacity` callers into the engine at once; the rest wait in FIFO order. The
 * worker holds more jobs than slots, so downloads and preprocessing overlap inference, and only
 * the engine step waits here. Capacity can shrink (out of memory, probation after a crash).
 */
export class SlotGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private limit: number) {}

  get capacity(): number {
    return this.limit;
  }

  get busy(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  setCapacity(limit: number): void {
    this.limit = Math.max(1, limit);
    this.drain();
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active += 1;
    try {
      return await work();
    } finally {
      this.active -= 1;
      this.drain();
    }
  }

  private drain(): void {
    while (this.active < this.limit && this.waiting.length > 0) {
      this.active += 1;
      this.waiting.shift()!();
    }
  }
}
