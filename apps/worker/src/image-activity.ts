/**
 * Jobs in flight and images finished over a sliding window, for the heartbeat. Finishes are
 * counted per second in a ring of windowSeconds buckets, so memory stays constant at any rate.
 */
export class ImageActivity {
  private inFlight = 0;
  private readonly buckets: number[];
  private readonly bucketSeconds: number[];

  constructor(
    private readonly windowSeconds = 60,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new Array<number>(windowSeconds).fill(0);
    this.bucketSeconds = new Array<number>(windowSeconds).fill(-1);
  }

  get jobsInFlight(): number {
    return this.inFlight;
  }

  /** Runs one job, counted in flight meanwhile; `finished` says whether its result counts as an image done. */
  async track<R>(work: () => Promise<R>, finished: (result: R) => boolean): Promise<R> {
    this.inFlight += 1;
    try {
      const result = await work();
      if (finished(result)) this.recordFinish();
      return result;
    } finally {
      this.inFlight -= 1;
    }
  }

  /** Images finished per second over the window. */
  imagesPerSecond(): number {
    const second = Math.floor(this.now() / 1000);
    let total = 0;
    for (let index = 0; index < this.windowSeconds; index++) {
      if (this.bucketSeconds[index]! > second - this.windowSeconds) total += this.buckets[index]!;
    }
    return Math.round((total / this.windowSeconds) * 1000) / 1000;
  }

  private recordFinish(): void {
    const second = Math.floor(this.now() / 1000);
    const index = second % this.windowSeconds;
    if (this.bucketSeconds[index] !== second) {
      this.bucketSeconds[index] = second;
      this.buckets[index] = 0;
    }
    this.buckets[index]! += 1;
  }
}
