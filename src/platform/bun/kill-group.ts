/**
 * Kills a detached program's whole process group (its PID is the group's id, see `setsid`), then
 * the program itself, by PID: a command that left children behind takes them with it. Never
 * throws; what is gone already is fine.
 */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // The group is gone already.
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // So is the program.
  }
}
