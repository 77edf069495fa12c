/** The API key the user signed in with, kept for this browser tab's session only (sessionStorage). */
const STORAGE_KEY = 'imagefleet.apiKey';

export const session = {
  key(): string | null {
    return sessionStorage.getItem(STORAGE_KEY);
  },
  signIn(key: string): void {
    sessionStorage.setItem(STORAGE_KEY, key);
  },
  signOut(): void {
    sessionStorage.removeItem(STORAGE_KEY);
  },
};
