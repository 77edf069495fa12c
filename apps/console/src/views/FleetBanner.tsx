import { useState } from 'preact/hooks';
import { describeError, getJson, postJson } from '../api';
import { usePolling } from '../hooks';
import type { FleetState } from '../types';

/**
 * The fleet-wide pause (GET /v1/fleet, every 3 s): a banner while workers take no image job, for
 * every key; admin keys also get Pause fleet / Resume fleet (POST /v1/fleet/{pause,resume}).
 */
export function FleetBanner({ admin }: { admin: boolean }) {
  const fleet = usePolling(() => getJson<FleetState>('/v1/fleet'), 3000, true, []);
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);
  const paused = fleet.data?.paused === true;
  if (!paused && !admin) return null;
  const toggle = async () => {
    if (!paused && !confirm('Pause the whole fleet? No worker starts a new image job until it is resumed.')) return;
    setBusy(true);
    try {
      await postJson(`/v1/fleet/${paused ? 'resume' : 'pause'}`);
      setProblem(undefined);
      fleet.refresh();
    } catch (error) {
      setProblem(describeError(error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class={`fleet ${paused ? 'fleet-paused' : ''}`} aria-label="Fleet" data-testid="fleet">
      <p role="status">{paused ? 'The fleet is paused: no worker starts a new image job (running ones finish).' : 'The fleet is running.'}</p>
      {admin && <button type="button" disabled={busy || fleet.data === undefined} onClick={toggle}>{paused ? 'Resume fleet' : 'Pause fleet'}</button>}
      {problem && <p class="error" role="alert">{problem}</p>}
    </section>
  );
}
