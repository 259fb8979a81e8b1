// The main area for one server: its card, then its charts.

import type { RangeKey } from "../charts/ranges";
import type { ServerEntry } from "../generated/ServerEntry";
import type { StatusState } from "../hooks/useServerStatuses";
import { ServerCard } from "./ServerCard";
import { ServerCharts } from "./ServerCharts";

interface ServerViewProps {
  entry: ServerEntry;
  state: StatusState | undefined;
  range: RangeKey;
  onRangeChange: (range: RangeKey) => void;
  onRemoved: (id: string) => void;
}

export function ServerView({ entry, state, range, onRangeChange, onRemoved }: ServerViewProps) {
  return (
    <div className="server-view">
      <ServerCard entry={entry} state={state} onRemoved={onRemoved} />
      <ServerCharts serverId={entry.id} range={range} onRangeChange={onRangeChange} />
    </div>
  );
}
