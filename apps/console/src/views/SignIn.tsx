import { useState } from 'preact/hooks';
import { ApiError, describeError, request } from '../api';
import { session } from '../session';

/** Asks for an API key and keeps it for this tab's session once the API accepts it. */
export function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string>();
  const submit = async (event: Event) => {
    event.preventDefault();
    session.signIn(key.trim());
    try {
      await request('/v1/batches?limit=1');
      onSignedIn();
    } catch (caught) {
      session.signOut();
      setError(caught instanceof ApiError && caught.status === 401 ? 'This key is not valid (unknown, malformed or revoked).' : describeError(caught));
    }
  };
  return (
    <section class="sign-in" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      <p>Paste an API key (<code>imagefleet keys create</code>). It is kept for this browser tab only.</p>
      <form class="form" onSubmit={submit}>
        <label>API key<input type="password" autocomplete="off" required value={key} onInput={(event) => setKey(event.currentTarget.value)} /></label>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit">Sign in</button>
      </form>
    </section>
  );
}
