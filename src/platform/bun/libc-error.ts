/**
 * Shared pieces of the bun:ffi bindings to libc (serial line, UDP sockets, ARP socket): binding a
 * symbol table once, on first use, and the errno message of the call that just failed (each
 * binding lists `__errno_location` and `strerror` in its own table).
 */
import { CString, dlopen, type FFIFunction, type Pointer, read as peek } from "bun:ffi";

/** A function that binds `symbols` from libc on its first call and returns the same table after. */
export function lazyLibc<T extends Record<string, FFIFunction>>(symbols: T): () => ReturnType<typeof dlopen<T>>["symbols"] {
  let bound: ReturnType<typeof dlopen<T>>["symbols"] | undefined;
  return () => (bound ??= dlopen("libc.so.6", symbols).symbols);
}

/** The two libc symbols `lastLibcError` needs, as bun:ffi binds them. */
export interface ErrnoSymbols {
  __errno_location(): Pointer | bigint | null;
  strerror(code: number): Pointer | bigint | null;
}

/** strerror(errno) of the call that just failed on this thread ("errno N" when libc has no text). */
export function lastLibcError(c: ErrnoSymbols): string {
  const at = c.__errno_location();
  const code = at === null ? 0 : peek.i32(at as Pointer, 0);
  const message = c.strerror(code);
  return message === null ? `errno ${code}` : new CString(message as Pointer).toString();
}
