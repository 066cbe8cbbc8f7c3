/**
 * The deterministic rules that decide between the two nodes of a pair. Both nodes compute them
 * from the same facts (their own and the peer's last heartbeat), so they reach the same answer
 * without another round of messages.
 */

/** The facts about one node that the rules compare. */
export interface RankedNode {
  readonly name: string;
  readonly priority: number;
  readonly witnessOk: boolean;
  readonly handover: boolean;
}

/** The outcome of a rule: whether `self` wins, and why, as a phrase for events. */
export interface RankVerdict {
  readonly selfWins: boolean;
  readonly why: string;
}

// Plain UTF-16 code-unit comparison: locale-free, so both hosts sort names identically.
function byNameAndPriority(self: RankedNode, peer: RankedNode): RankVerdict {
  if (self.priority !== peer.priority) {
    const selfWins = self.priority > peer.priority;
    const [hi, lo] = selfWins ? [self, peer] : [peer, self];
    return { selfWins, why: `"${hi.name}" has the higher priority (${hi.priority} > ${lo.priority})` };
  }
  const selfWins = self.name < peer.name;
  const first = selfWins ? self.name : peer.name;
  return { selfWins, why: `equal priority ${self.priority}, "${first}" sorts first` };
}

/**
 * Which node becomes active when neither is: the one reaching a witness (when `withWitness`),
 * then the higher priority, then the lexicographically smaller name (UTF-16 code units).
 * Contract: names differ; both nodes pass the same `withWitness`.
 */
export function electionWinner(self: RankedNode, peer: RankedNode, withWitness: boolean): RankVerdict {
  if (withWitness && self.witnessOk !== peer.witnessOk) {
    const name = self.witnessOk ? self.name : peer.name;
    return { selfWins: self.witnessOk, why: `only "${name}" reaches a witness` };
  }
  return byNameAndPriority(self, peer);
}

/**
 * Which node keeps the VIPs when both are active: a node with the handover flag loses (it is
 * handing over); otherwise the higher priority keeps them, then the smaller name. Witnesses are
 * left out on purpose: the rule must not flip with a flapping ping. Contract: names differ.
 */
export function splitBrainKeeper(self: RankedNode, peer: RankedNode): RankVerdict {
  if (self.handover !== peer.handover) {
    const name = self.handover ? self.name : peer.name;
    return { selfWins: peer.handover, why: `"${name}" is handing over` };
  }
  return byNameAndPriority(self, peer);
}
