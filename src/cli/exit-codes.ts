/** Process exit codes of the `tandem` command; documented in docs/cli.md. */
export const ExitCode = {
  /** Success. */
  Ok: 0,
  /** The config is invalid (every problem is printed as FILE:LINE:COL: key.path: message). */
  InvalidConfig: 1,
  /** The command line is wrong (unknown subcommand or flag, missing argument). */
  Usage: 2,
  /** A file, the store or the system failed (cannot read, cannot open, corrupt store). */
  Failure: 3,
  /** The config is valid but names no node for this host, or several. */
  NoIdentity: 4,
  /** `standby`/`takeover`: the node accepted the switchover but did not reach the new role in time. */
  TimedOut: 5,
} as const;

/** One of the exit codes above. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
