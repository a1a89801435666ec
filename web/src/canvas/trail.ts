/** The recent price path for the chart: (time, price) points, oldest first, bounded in age and count. */

export interface PricePoint {
  t: number; // ms, server time
  p: number; // cents
}

export class PriceTrail {
  readonly points: PricePoint[] = [];

  constructor(
    private readonly maxAgeMs = 5 * 60_000,
    private readonly maxPoints = 6000,
  ) {}

  push(t: number, p: number): void {
    const last = this.points[this.points.length - 1];
    if (last !== undefined && t < last.t) return; // out of order: the newest wins
    if (last !== undefined && t === last.t) last.p = p;
    else this.points.push({ t, p });
    const cutoff = t - this.maxAgeMs;
    let drop = 0;
    while (drop < this.points.length && (this.points[drop]?.t ?? 0) < cutoff) drop += 1;
    if (this.points.length - drop > this.maxPoints) drop = this.points.length - this.maxPoints;
    if (drop > 0) this.points.splice(0, drop);
  }

  get last(): PricePoint | undefined {
    return this.points[this.points.length - 1];
  }
}
