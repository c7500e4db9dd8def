// A JavaScript flow that attacks its sandbox. The input `attack` picks the
// attack; the host's tests check that each ends in its typed failure and
// that nothing else is disturbed.
import { autolaunchedFlow, FlowError } from "../../../plugin-sdk/js/stagecraft-flow.js";

function recurse(n) {
  return recurse(n + 1) + 1;
}

export const autolaunched = autolaunchedFlow(({ attack }) => {
  switch (attack) {
    case "infinite-loop":
      for (;;) {}
    case "memory-bomb": {
      const hoard = [];
      for (;;) hoard.push(new Uint8Array(1 << 20));
    }
    case "deep-recursion":
      return { depth: recurse(0) };
    default:
      throw new FlowError("unknown-attack", `no attack named ${JSON.stringify(attack)}`);
  }
});
