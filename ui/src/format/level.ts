// The words beside an office's colour, so the state is never told by colour alone.

import type { PairLevel } from "../generated/PairLevel";

export function levelWord(level: PairLevel): string {
  switch (level) {
    case "protected":
      return "Protected";
    case "at_risk":
      return "At risk";
    case "down":
      return "Down";
  }
}
