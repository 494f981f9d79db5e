// Log entries per day as bars: an SVG with a text alternative (the same numbers as a table for
// screen readers). Small enough to write here rather than ship a charting library.
import {useMemo} from 'react';
import type {LogCount} from 'src/hooks/UseLogs';
import {dayKey} from 'src/libs/format';

export function DayChart({counts, days}: {counts: LogCount[]; days: number}) {
  const series = useMemo(() => {
    const totals = new Map<string, number>();
    for (const c of counts) {
      const key = dayKey(new Date(c.datetime));
      totals.set(key, (totals.get(key) ?? 0) + c.count);
    }
    const out: {day: string; count: number}[] = [];
    const today = new Date();
    for (let i = days - 1; i >= 0; i--) {
      const key = dayKey(new Date(today.getTime() - i * 86400_000));
      out.push({day: key, count: totals.get(key) ?? 0});
    }
    return out;
  }, [counts, days]);
  const max = Math.max(1, ...series.map((s) => s.count));
  const width = 640;
  const height = 120;
  const bar = width / series.length;
  const total = series.reduce((n, s) => n + s.count, 0);
  return (
    <figure style={{margin: 0}}>
      <svg
        viewBox={`0 0 ${width} ${height + 20}`}
        width="100%"
        role="img"
        aria-label={`${total} log entries over ${days} days`}
        style={{maxWidth: width}}
      >
        {series.map((s, i) => {
          const h = (s.count / max) * height;
          return (
            <rect
              key={s.day}
              x={i * bar + 1}
              y={height - h}
              width={Math.max(1, bar - 2)}
              height={h}
              fill="var(--pf-t--global--color--brand--default, #0066cc)"
            >
              <title>{`${s.day}: ${s.count}`}</title>
            </rect>
          );
        })}
        <text x={0} y={height + 15} fontSize="11" fill="currentColor">
          {series[0]?.day}
        </text>
        <text x={width} y={height + 15} fontSize="11" textAnchor="end" fill="currentColor">
          {series[series.length - 1]?.day}
        </text>
      </svg>
      <figcaption className="pf-v6-screen-reader">
        <table>
          <caption>Log entries per day</caption>
          <tbody>
            {series.map((s) => (
              <tr key={s.day}>
                <th scope="row">{s.day}</th>
                <td>{s.count}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </figcaption>
    </figure>
  );
}
