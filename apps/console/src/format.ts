/** "1 h 5 min", "2 min 10 s", "8 s"; an em dash when unknown. */
export function formatEta(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const whole = Math.max(0, Math.round(seconds));
  if (whole >= 3600) return `${Math.floor(whole / 3600)} h ${Math.round((whole % 3600) / 60)} min`;
  if (whole >= 60) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  return `${whole} s`;
}

export function formatTime(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}

export function stateLabel(state: string): string {
  return state.replaceAll('_', ' ');
}

/** Finished inputs out of all listed, as a fraction 0..1 (0 while nothing is listed). */
export function progressOf(batch: { total: number; completed: number; failed: number }): number {
  return batch.total === 0 ? 0 : (batch.completed + batch.failed) / batch.total;
}

/** 0.375 → "37.5 %". */
export function formatShare(fraction: number): string {
  return `${Math.round(fraction * 1000) / 10} %`;
}
