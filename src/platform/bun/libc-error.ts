/**
 * The errno message of the libc call that just failed, for the bun:ffi bindings (serial line, UDP
 * sockets, ARP socket): each binds `__errno_location` and `strerror` in its own symbol table.
 */
import { CString, type Pointer, read as peek } from "bun:ffi";

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
