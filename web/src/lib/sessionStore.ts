/**
 * The signed-in session, kept in IndexedDB so a reload does not ask the wallet again: the bearer token,
 * the address and the session key (a CryptoKey is stored by structured clone and stays non-extractable).
 */

export interface StoredSession {
  address: string;
  token: string;
  expiresMs: number;
  privateKey: CryptoKey;
  spki: string;
  wallet: string; // which wallet signed in ("demo" or the provider's name), for display
}

const DB_NAME = 'taptrade';
const STORE = 'session';
const KEY = 'current';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB unavailable'));
  });
}

async function run<T>(mode: IDBTransactionMode, body: (store: IDBObjectStore) => IDBRequest): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const request = body(db.transaction(STORE, mode).objectStore(STORE));
      request.onsuccess = () => resolve(request.result as T);
      request.onerror = () => reject(request.error ?? new Error('IndexedDB request failed'));
    });
  } finally {
    db.close();
  }
}

export async function loadSession(nowMs: number): Promise<StoredSession | null> {
  try {
    const found = await run<StoredSession | undefined>('readonly', (s) => s.get(KEY));
    return found !== undefined && found.expiresMs > nowMs ? found : null;
  } catch {
    return null; // private mode or blocked storage: sign in again
  }
}

export async function saveSession(session: StoredSession): Promise<void> {
  try {
    await run('readwrite', (s) => s.put(session, KEY));
  } catch {
    // not fatal: the session lives until the page closes
  }
}

export async function clearSession(): Promise<void> {
  try {
    await run('readwrite', (s) => s.delete(KEY));
  } catch {
    // nothing stored
  }
}
