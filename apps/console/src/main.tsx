import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { onUnauthorized, postJson, request } from './api';
import { useHashRoute } from './hooks';
import { session } from './session';
import { BatchList } from './views/BatchList';
import { BatchPage } from './views/BatchPage';
import { FleetBanner } from './views/FleetBanner';
import { NewBatch } from './views/NewBatch';
import { SignIn } from './views/SignIn';
import { Upload } from './views/Upload';
import './styles.css';

type Access = 'checking' | 'signed-out' | 'signed-in';

/** Whether the API answers without a key (AUTH=off) or with the session's key. */
async function probe(): Promise<boolean> {
  return request('/v1/batches?limit=1').then(() => true, () => false);
}

/** Admin keys may open bull-board: it gets the key in its own HttpOnly cookie. */
async function openAdminSession(): Promise<boolean> {
  return postJson('/v1/admin/session').then(() => true, () => false);
}

function Page({ route }: { route: string }) {
  const batch = /^#\/batches\/(.+)$/.exec(route);
  // Keyed by the id: another batch is a fresh page, never the last one's state under a new id.
  if (batch) return <BatchPage key={batch[1]} batchId={decodeURIComponent(batch[1]!)} />;
  if (route === '#/new') return <NewBatch />;
  if (route === '#/upload') return <Upload />;
  return <BatchList />;
}

function App() {
  const route = useHashRoute();
  const [access, setAccess] = useState<Access>('checking');
  const [admin, setAdmin] = useState(false);
  const enter = async () => {
    setAccess('signed-in');
    setAdmin(await openAdminSession());
  };
  useEffect(() => {
    void probe().then((ok) => (ok ? enter() : setAccess('signed-out')));
    return onUnauthorized(() => {
      session.signOut();
      setAccess('signed-out');
    });
  }, []);
  const signOut = async () => {
    if (admin) await postJson('/v1/admin/session', undefined, 'DELETE').catch(() => undefined);
    session.signOut();
    setAdmin(false);
    setAccess('signed-out');
  };
  return (
    <>
      {/* Routes live in the fragment, so the skip link moves focus itself instead of changing it. */}
      <a class="skip" href="#main" onClick={(event) => (event.preventDefault(), document.getElementById('main')?.focus())}>Skip to content</a>
      <header class="top">
        <a class="brand" href="#/">imagefleet</a>
        {access === 'signed-in' && (
          <nav aria-label="Main">
            <a href="#/" aria-current={route === '#/' ? 'page' : undefined}>Batches</a>
            <a href="#/new" aria-current={route === '#/new' ? 'page' : undefined}>New batch</a>
            <a href="#/upload" aria-current={route === '#/upload' ? 'page' : undefined}>Upload</a>
            <a href="/docs/">API docs</a>
            {admin && <a href="/admin/queues">Queues</a>}
            {session.key() && <button type="button" class="link" onClick={signOut}>Sign out</button>}
          </nav>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        {access === 'checking' && <p aria-busy="true">Loading…</p>}
        {access === 'signed-out' && <SignIn onSignedIn={enter} />}
        {access === 'signed-in' && <FleetBanner admin={admin} />}
        {access === 'signed-in' && <Page route={route} />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
