/** The directory part of a POSIX path (`"a/b.toml"` → `"a"`, `"b.toml"` → `"."`). */
export function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return ".";
  return slash === 0 ? "/" : path.slice(0, slash);
}

/** Resolves `path` against `base` unless it is absolute (POSIX; no normalisation of `..`). */
export function resolvePath(base: string, path: string): string {
  if (path.startsWith("/")) return path;
  if (base === "." || base === "") return path;
  return `${base.replace(/\/+$/, "")}/${path}`;
}
