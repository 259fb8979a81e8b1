// Loads a machine's series list and the history of every series for the chosen time window. The
// answers come from the machine, or from this computer's copy of its history when it does not
// answer or has been replaced (`copy` says so).

import { useEffect, useState } from "react";

import { useApi } from "../api/context";
import { toConsoleError, type CommandError } from "../api/errors";
import { rangeWindow, refreshIntervalMs, type RangeKey, type TimeWindow } from "../charts/ranges";
import type { HistoryResponse } from "../generated/HistoryResponse";
import type { SeriesInfo } from "../generated/SeriesInfo";

const SERIES_REFRESH_MS = 60_000;
const SERIES_RETRY_MS = 5_000;
/** Waits for resizes and clicks to settle before asking. */
const FETCH_DEBOUNCE_MS = 100;

export interface HistoryData {
  /** Which request this answers: the range key, or the zoom window. */
  key: string;
  window: TimeWindow;
  /** Answers by series name; a series missing here has never answered. */
  responses: Record<string, HistoryResponse>;
}

/** Where the shown history comes from, when it is this computer's copy rather than the machine. */
export interface CopySource {
  /** Unix seconds of the copy's newest period. */
  until: number | null;
  /** Why the machine itself was not asked (null for a machine no longer in the office). */
  reason: CommandError | null;
}

export interface HistoryState {
  /** null until the list first arrives. */
  series: SeriesInfo[] | null;
  /** null while the machine answers for itself. */
  copy: CopySource | null;
  /** null until the first history arrives; then the last one, kept through errors. */
  data: HistoryData | null;
  /** Error of the latest attempt (series list or history); null after a success. */
  error: CommandError | null;
  /** True while the shown data is for another range than the one chosen. */
  updating: boolean;
}

export function requestKey(range: RangeKey, zoom: TimeWindow | null): string {
  return zoom ? `zoom:${zoom.from}-${zoom.to}` : `range:${range}`;
}

export function useHistory(
  machine: string,
  range: RangeKey,
  zoom: TimeWindow | null,
  points: number,
): HistoryState {
  const api = useApi();
  const [series, setSeries] = useState<SeriesInfo[] | null>(null);
  const [copy, setCopy] = useState<CopySource | null>(null);
  const [seriesError, setSeriesError] = useState<CommandError | null>(null);
  const [data, setData] = useState<HistoryData | null>(null);
  const [historyError, setHistoryError] = useState<CommandError | null>(null);

  // The series list: on mount, then now and then (new disks, new network cards).
  useEffect(() => {
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      let wait = SERIES_REFRESH_MS;
      try {
        const list = await api.metricsSeries(machine);
        if (cancelled) return;
        setSeries((prev) => (prev && sameSeries(prev, list.series) ? prev : list.series));
        setCopy(
          list.from_copy
            ? { until: list.copy_until_unix, reason: list.live_error ? toConsoleError(list.live_error) : null }
            : null,
        );
        // While the copy answers, ask the machine again soon: it may be back.
        if (list.from_copy && list.live_error) wait = SERIES_RETRY_MS;
        setSeriesError(null);
      } catch (error) {
        if (cancelled) return;
        setSeriesError(toConsoleError(error));
        wait = SERIES_RETRY_MS;
      }
      timer = setTimeout(() => void load(), wait);
    };
    void load();
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [api, machine]);

  const names = series ? series.map((s) => s.name).join("\n") : null;
  const key = requestKey(range, zoom);
  const zoomFrom = zoom?.from;
  const zoomTo = zoom?.to;

  // The history: whenever the window or the chart width changes, and periodically for live ranges.
  useEffect(() => {
    if (names === null) return;
    const list = names ? names.split("\n") : [];
    let cancelled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;

    const load = async () => {
      const window =
        zoomFrom !== undefined && zoomTo !== undefined ? { from: zoomFrom, to: zoomTo } : rangeWindow(range, Date.now());
      const results = await Promise.allSettled(
        list.map((name) => api.metricsHistory({ machine, series: name, ...window, points })),
      );
      if (cancelled) return;
      const responses: Record<string, HistoryResponse> = {};
      let firstError: CommandError | null = null;
      results.forEach((result, i) => {
        const name = list[i];
        if (name === undefined) return;
        if (result.status === "fulfilled") responses[name] = result.value;
        else firstError ??= toConsoleError(result.reason);
      });
      const anyOk = Object.keys(responses).length > 0 || list.length === 0;
      if (anyOk) {
        // A series that failed this time keeps its previous answer rather than vanishing.
        setData((prev) => ({
          key,
          window,
          responses: prev && prev.key === key ? { ...prev.responses, ...responses } : responses,
        }));
      }
      setHistoryError(firstError);
      if (zoomFrom === undefined) {
        timer = setTimeout(() => void load(), refreshIntervalMs(range));
      }
    };

    timer = setTimeout(() => void load(), FETCH_DEBOUNCE_MS);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [api, machine, names, range, zoomFrom, zoomTo, points, key]);

  return {
    series,
    copy,
    data,
    error: seriesError ?? historyError,
    updating: data !== null && data.key !== key,
  };
}

function sameSeries(a: readonly SeriesInfo[], b: readonly SeriesInfo[]): boolean {
  return (
    a.length === b.length &&
    a.every((s, i) => {
      const o = b[i];
      return o !== undefined && o.name === s.name && o.label === s.label && o.unit === s.unit && o.kind === s.kind;
    })
  );
}
