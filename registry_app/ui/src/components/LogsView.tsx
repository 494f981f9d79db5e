// Usage logs of a repository, organization, user or the whole registry: a per-day chart, then
// the entries (newest first, 20 a page, "Load more"), filtered by kind or performer.
import {
  Button,
  FormSelect,
  FormSelectOption,
  SearchInput,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import {Table, Tbody, Td, Th, Thead, Tr} from '@patternfly/react-table';
import {useState} from 'react';
import {DayChart} from 'src/components/DayChart';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {type LogEntry, type LogScope, useAggregateLogs, useLogs} from 'src/hooks/UseLogs';
import {formatDate} from 'src/libs/format';

function describe(entry: LogEntry): string {
  const m = entry.metadata ?? {};
  const parts = Object.entries(m)
    .filter(([, v]) => v !== null && v !== undefined && typeof v !== 'object')
    .map(([k, v]) => `${k}=${String(v)}`);
  return parts.join(', ');
}

export function LogsView({scope}: {scope: LogScope}) {
  const [days, setDays] = useState(7);
  const [filter, setFilter] = useState('');
  const counts = useAggregateLogs(scope, days);
  const logs = useLogs(scope, days);
  const needle = filter.trim().toLowerCase();
  const entries = (logs.data?.pages ?? [])
    .flatMap((p) => p.logs)
    .filter(
      (e) =>
        !needle ||
        e.kind.toLowerCase().includes(needle) ||
        (e.performer?.name ?? '').toLowerCase().includes(needle) ||
        describe(e).toLowerCase().includes(needle),
    );
  return (
    <>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <FormSelect
              aria-label="Period"
              value={String(days)}
              onChange={(_e, v) => setDays(Number(v))}
            >
              <FormSelectOption value="1" label="Today" />
              <FormSelectOption value="7" label="Last 7 days" />
              <FormSelectOption value="30" label="Last 30 days" />
            </FormSelect>
          </ToolbarItem>
          <ToolbarItem>
            <SearchInput
              aria-label="Filter logs"
              placeholder="Filter by kind, performer or detail"
              value={filter}
              onChange={(_e, v) => setFilter(v)}
              onClear={() => setFilter('')}
            />
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      <ErrorAlert error={counts.error ?? logs.error} />
      {counts.data ? <DayChart counts={counts.data} days={days} /> : null}
      {logs.isLoading ? (
        <Loading label="Loading logs" />
      ) : (
        <Table aria-label="Usage logs" variant="compact">
          <Thead>
            <Tr>
              <Th>Time</Th>
              <Th>Action</Th>
              <Th>Performer</Th>
              <Th>Address</Th>
              <Th>Details</Th>
            </Tr>
          </Thead>
          <Tbody>
            {entries.map((e, i) => (
              <Tr key={`${e.datetime}-${i}`}>
                <Td dataLabel="Time">{formatDate(e.datetime)}</Td>
                <Td dataLabel="Action">{e.kind}</Td>
                <Td dataLabel="Performer">{e.performer?.name ?? '(anonymous)'}</Td>
                <Td dataLabel="Address">{e.ip ?? '-'}</Td>
                <Td dataLabel="Details">{describe(e)}</Td>
              </Tr>
            ))}
            {entries.length === 0 ? (
              <Tr>
                <Td colSpan={5}>No log entries in this period.</Td>
              </Tr>
            ) : null}
          </Tbody>
        </Table>
      )}
      {logs.hasNextPage ? (
        <Button variant="secondary" onClick={() => logs.fetchNextPage()} isLoading={logs.isFetchingNextPage}>
          Load more
        </Button>
      ) : null}
    </>
  );
}
