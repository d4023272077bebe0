// The signed-in session: tokens kept in localStorage (so every tab of the browser shares one
// session), refreshed silently shortly before the access token expires, or when a call is
// answered Unauthenticated. Refresh tokens rotate: the first tab to refresh stores the new pair
// and the other tabs pick it up from the storage event instead of refreshing again.

import { Code, ConnectError } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { AuthTokens } from "../gen/todo/v1/auth_service_pb";
import type { User } from "../gen/todo/v1/task_pb";

const STORAGE_KEY = "todo-suite.session";
/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 30_000;

/** What is stored of a session. */
export interface StoredSession {
  accessToken: string;
  accessExpiresMs: number;
  refreshToken: string;
  user: { id: string; email: string; displayName: string };
}

/** Makes the stored form of a signed-in response. */
export function storedSession(user: User | undefined, tokens: AuthTokens | undefined): StoredSession {
  if (!user || !tokens) throw new Error("the server answered without a user or tokens");
  return {
    accessToken: tokens.accessToken,
    accessExpiresMs: tokens.accessTokenExpireTime ? timestampMs(tokens.accessTokenExpireTime) : Date.now() + 60_000,
    refreshToken: tokens.refreshToken,
    user: { id: user.id, email: user.email, displayName: user.displayName },
  };
}

type Refresher = (refreshToken: string) => Promise<AuthTokens | undefined>;

/** The session of this browser, shared by its tabs. */
export class Session {
  private current: StoredSession | null = read();
  private refreshing: Promise<string> | null = null;
  private readonly listeners = new Set<(session: StoredSession | null, reason?: string) => void>();

  constructor(private readonly refresher: Refresher) {
    window.addEventListener("storage", (event) => {
      if (event.key !== STORAGE_KEY) return;
      this.current = read();
      this.emit(this.current ? undefined : "signed-out-elsewhere");
    });
  }

  /** The session, or null when signed out. */
  get value(): StoredSession | null {
    return this.current;
  }

  /** Calls `listener` on every change; returns the unsubscribe function. */
  subscribe(listener: (session: StoredSession | null, reason?: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stores a new session (after sign-up or sign-in). */
  signedIn(session: StoredSession): void {
    this.store(session);
    this.emit();
  }

  /** Forgets the session; `reason` says why, for the sign-in screen. */
  signedOut(reason?: string): void {
    this.current = null;
    localStorage.removeItem(STORAGE_KEY);
    this.emit(reason);
  }

  /** A valid access token, refreshed first if it is about to expire. */
  async accessToken(): Promise<string> {
    const session = this.current;
    if (!session) throw new ConnectError("not signed in", Code.Unauthenticated);
    if (session.accessExpiresMs - Date.now() > REFRESH_MARGIN_MS) return session.accessToken;
    return this.refresh();
  }

  /**
   * An access token to use after `rejected` was refused: the current one if another call has
   * refreshed meanwhile, else a refreshed one.
   */
  freshTokenAfter(rejected: string): Promise<string> {
    const current = this.current?.accessToken;
    return current && current !== rejected ? Promise.resolve(current) : this.refresh();
  }

  /** Refreshes the tokens once, however many calls ask at the same time. */
  refresh(): Promise<string> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<string> {
    const before = this.current;
    if (!before) throw new ConnectError("not signed in", Code.Unauthenticated);
    // Another tab may have refreshed already: its tokens are in storage.
    const stored = read();
    if (stored && stored.refreshToken !== before.refreshToken && stored.accessExpiresMs - Date.now() > REFRESH_MARGIN_MS) {
      this.current = stored;
      return stored.accessToken;
    }
    let tokens: AuthTokens | undefined;
    try {
      tokens = await this.refresher(before.refreshToken);
    } catch (error) {
      const code = ConnectError.from(error).code;
      if (code === Code.Unauthenticated || code === Code.InvalidArgument || code === Code.NotFound) {
        this.signedOut("expired");
      }
      throw error;
    }
    const next = storedSession(
      { id: before.user.id, email: before.user.email, displayName: before.user.displayName } as User,
      tokens,
    );
    this.store(next);
    return next.accessToken;
  }

  private store(session: StoredSession): void {
    this.current = session;
    localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  }

  private emit(reason?: string): void {
    for (const listener of this.listeners) listener(this.current, reason);
  }
}

function read(): StoredSession | null {
  try {
    const text = localStorage.getItem(STORAGE_KEY);
    return text ? (JSON.parse(text) as StoredSession) : null;
  } catch {
    return null;
  }
}
