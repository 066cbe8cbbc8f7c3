import { dirname } from "./paths.ts";
import type { OpenStore, Platform } from "./platform.ts";

/** Where the store lives when neither --store nor the config says: the appliance's data partition. */
export const DEFAULT_STORE_PATH = "/data/tandem.db";

/** The store path chosen by `--store`, else `$TANDEM_STORE`, else `fallback`. */
export function storePath(platform: Platform, flag: string | undefined, fallback = DEFAULT_STORE_PATH): string {
  return flag ?? platform.env("TANDEM_STORE") ?? fallback;
}

/** Opens the store at `path`, creating its directory first. Throws a printable Error on failure. */
export function openCliStore(platform: Platform, path: string): OpenStore {
  platform.ensureDirectory(dirname(path));
  return platform.openStore(path);
}
