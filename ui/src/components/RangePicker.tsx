// Segmented buttons choosing the charts' time range (15 min … 1 year).

import { RANGES, type RangeKey } from "../charts/ranges";

interface RangePickerProps {
  value: RangeKey;
  onChange: (key: RangeKey) => void;
  /** While zoomed, no range is the one shown. */
  zoomed?: boolean;
}

export function RangePicker({ value, onChange, zoomed = false }: RangePickerProps) {
  return (
    <div className="segmented" role="group" aria-label="Time range">
      {RANGES.map((r) => {
        const active = r.key === value && !zoomed;
        return (
          <button
            key={r.key}
            type="button"
            className={`segment${active ? " active" : ""}`}
            aria-pressed={active}
            data-testid={`range-${r.key}`}
            onClick={() => onChange(r.key)}
          >
            {r.label}
          </button>
        );
      })}
    </div>
  );
}
