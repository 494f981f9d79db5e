// The tag history ("time machine"): every tag change, newest first, with restore.
import {Button, Label} from '@patternfly/react-core';
import {Table, Tbody, Td, Th, Thead, Tr} from '@patternfly/react-table';
import {useState} from 'react';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {type Tag, useTagChanges, useTagHistory} from 'src/hooks/UseTags';
import {formatDate, shortDigest} from 'src/libs/format';

export function TagHistory({namespace, name, canWrite}: {namespace: string; name: string; canWrite: boolean}) {
  const history = useTagHistory(namespace, name);
  const {restore} = useTagChanges(namespace, name);
  const [done, setDone] = useState<string | null>(null);
  if (history.isLoading) return <Loading label="Loading tag history" />;
  if (history.error) return <ErrorAlert error={history.error} />;
  const rows = history.data ?? [];
  const live = new Map(rows.filter((t) => t.end_ts === undefined).map((t) => [t.name, t.manifest_digest]));
  const doRestore = async (t: Tag) => {
    setDone(null);
    await restore.mutateAsync({tag: t.name, digest: t.manifest_digest});
    setDone(`${t.name} now points at ${shortDigest(t.manifest_digest)}.`);
  };
  return (
    <>
      <ErrorAlert error={restore.error} />
      {done ? <p role="status">{done}</p> : null}
      <Table aria-label="Tag history" variant="compact">
        <Thead>
          <Tr>
            <Th>Tag</Th>
            <Th>Manifest</Th>
            <Th>From</Th>
            <Th>Until</Th>
            {canWrite ? <Th screenReaderText="Actions" /> : null}
          </Tr>
        </Thead>
        <Tbody>
          {rows.map((t, i) => {
            const ended = t.end_ts !== undefined && (t.end_ts ?? 0) * 1000 <= Date.now();
            const current = live.get(t.name) === t.manifest_digest;
            return (
              <Tr key={`${t.name}-${t.start_ts}-${i}`}>
                <Td dataLabel="Tag">
                  {t.name} {ended ? <Label isCompact color="grey">ended</Label> : <Label isCompact color="green">live</Label>}
                </Td>
                <Td dataLabel="Manifest">
                  <code title={t.manifest_digest}>{shortDigest(t.manifest_digest)}</code>
                </Td>
                <Td dataLabel="From">{formatDate(t.start_ts)}</Td>
                <Td dataLabel="Until">{t.end_ts ? formatDate(t.end_ts) : '-'}</Td>
                {canWrite ? (
                  <Td isActionCell>
                    {ended && !current ? (
                      <Button
                        variant="secondary"
                        size="sm"
                        isDisabled={restore.isPending}
                        onClick={() => doRestore(t)}
                        aria-label={`Restore ${t.name} to ${shortDigest(t.manifest_digest)}`}
                      >
                        Restore
                      </Button>
                    ) : null}
                  </Td>
                ) : null}
              </Tr>
            );
          })}
          {rows.length === 0 ? (
            <Tr>
              <Td colSpan={5}>No tag has been pushed yet.</Td>
            </Tr>
          ) : null}
        </Tbody>
      </Table>
    </>
  );
}
