// Usage logs and their per-day counts: /api/v1/{repository/ns/repo|organization/org|user|superuser}/logs
// and .../aggregatelogs.
import {useInfiniteQuery, useQuery} from '@tanstack/react-query';
import {get, path, query} from 'src/libs/api';

export type LogScope =
  | {kind: 'repository'; namespace: string; name: string}
  | {kind: 'organization'; name: string}
  | {kind: 'user'}
  | {kind: 'superuser'};

export interface LogEntry {
  kind: string;
  metadata: Record<string, unknown>;
  ip: string | null;
  datetime: string;
  performer?: {name: string; kind: string};
  namespace?: {name: string};
}

export interface LogCount {
  kind: string;
  count: number;
  datetime: string;
}

function base(scope: LogScope): string {
  switch (scope.kind) {
    case 'repository':
      return path`/api/v1/repository/${scope.namespace}/${scope.name}`;
    case 'organization':
      return path`/api/v1/organization/${scope.name}`;
    case 'user':
      return '/api/v1/user';
    case 'superuser':
      return '/api/v1/superuser';
  }
}

// Quay's log window: MM/DD/YYYY dates, both days included.
function day(date: Date): string {
  const mm = String(date.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(date.getUTCDate()).padStart(2, '0');
  return `${mm}/${dd}/${date.getUTCFullYear()}`;
}

export function logWindow(days: number): {starttime: string; endtime: string} {
  const end = new Date();
  const start = new Date(end.getTime() - (days - 1) * 86400_000);
  return {starttime: day(start), endtime: day(end)};
}

export function useLogs(scope: LogScope, days: number, enabled = true) {
  const window = logWindow(days);
  return useInfiniteQuery({
    queryKey: ['logs', scope, days],
    enabled,
    initialPageParam: undefined as string | undefined,
    queryFn: ({pageParam}) =>
      get<{logs: LogEntry[]; next_page?: string}>(`${base(scope)}/logs${query({...window, next_page: pageParam})}`),
    getNextPageParam: (last) => last.next_page,
  });
}

export function useAggregateLogs(scope: LogScope, days: number, enabled = true) {
  const window = logWindow(days);
  return useQuery({
    queryKey: ['aggregatelogs', scope, days],
    enabled,
    queryFn: () => get<{aggregated: LogCount[]}>(`${base(scope)}/aggregatelogs${query(window)}`).then((b) => b.aggregated),
  });
}
