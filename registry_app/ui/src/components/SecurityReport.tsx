// A manifest's security scan as Quay shows it: status, counts by severity, and the
// vulnerabilities (package, installed version, fixed-by, link, severity).
import {Alert, Label, LabelGroup, SearchInput, Toolbar, ToolbarContent, ToolbarItem} from '@patternfly/react-core';
import {Table, Tbody, Td, Th, Thead, Tr} from '@patternfly/react-table';
import {useMemo, useState} from 'react';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {useSecurity} from 'src/hooks/UseSecurity';

const SEVERITIES = ['Critical', 'High', 'Medium', 'Low', 'Negligible', 'Unknown'];
const COLORS: Record<string, 'red' | 'orange' | 'yellow' | 'blue' | 'grey'> = {
  Critical: 'red',
  High: 'orange',
  Medium: 'yellow',
  Low: 'blue',
  Negligible: 'grey',
  Unknown: 'grey',
};

export function SecurityReport({namespace, name, digest}: {namespace: string; name: string; digest: string}) {
  const report = useSecurity(namespace, name, digest, true);
  const [filter, setFilter] = useState('');
  const rows = useMemo(() => {
    const out: {pkg: string; version: string; vuln: string; severity: string; fixed: string; link: string}[] = [];
    for (const f of report.data?.data?.Layer.Features ?? []) {
      for (const v of f.Vulnerabilities ?? []) {
        out.push({pkg: f.Name, version: f.Version, vuln: v.Name, severity: v.Severity || 'Unknown', fixed: v.FixedBy, link: v.Link});
      }
    }
    return out.sort((a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity));
  }, [report.data]);
  if (report.isLoading) return <Loading label="Loading security scan" />;
  if (report.error) return <ErrorAlert error={report.error} />;
  const status = report.data?.status ?? 'unknown';
  if (status !== 'scanned') {
    const text: Record<string, string> = {
      queued: 'This image is queued for scanning.',
      failed: 'The scan of this image failed.',
      unsupported: 'This kind of manifest cannot be scanned.',
      manifest_layer_too_large: 'A layer is too large to be scanned.',
    };
    return <Alert variant="info" isInline title={text[status] ?? `Scan status: ${status}`} />;
  }
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.severity, (counts.get(r.severity) ?? 0) + 1);
  const needle = filter.trim().toLowerCase();
  const shown = rows.filter((r) => !needle || `${r.pkg} ${r.vuln}`.toLowerCase().includes(needle));
  return (
    <>
      <div>
        {rows.length === 0
          ? 'No known vulnerabilities.'
          : `${rows.length} ${rows.length === 1 ? 'vulnerability' : 'vulnerabilities'}:`}{' '}
        <LabelGroup aria-label="Vulnerabilities by severity">
          {SEVERITIES.filter((s) => counts.get(s)).map((s) => (
            <Label key={s} color={COLORS[s]}>
              {counts.get(s)} {s}
            </Label>
          ))}
        </LabelGroup>
      </div>
      {rows.length ? (
        <>
          <Toolbar>
            <ToolbarContent>
              <ToolbarItem>
                <SearchInput
                  aria-label="Filter vulnerabilities"
                  placeholder="Filter by package or advisory"
                  value={filter}
                  onChange={(_e, v) => setFilter(v)}
                  onClear={() => setFilter('')}
                />
              </ToolbarItem>
            </ToolbarContent>
          </Toolbar>
          <Table aria-label="Vulnerabilities" variant="compact">
            <Thead>
              <Tr>
                <Th>Advisory</Th>
                <Th>Severity</Th>
                <Th>Package</Th>
                <Th>Installed version</Th>
                <Th>Fixed in</Th>
              </Tr>
            </Thead>
            <Tbody>
              {shown.map((r, i) => (
                <Tr key={`${r.vuln}-${r.pkg}-${i}`}>
                  <Td dataLabel="Advisory">
                    {/^https?:/.test(r.link.split(' ')[0] ?? '') ? (
                      <a href={r.link.split(' ')[0]} target="_blank" rel="noreferrer noopener">
                        {r.vuln}
                      </a>
                    ) : (
                      r.vuln
                    )}
                  </Td>
                  <Td dataLabel="Severity">
                    <Label color={COLORS[r.severity] ?? 'grey'}>{r.severity}</Label>
                  </Td>
                  <Td dataLabel="Package">{r.pkg}</Td>
                  <Td dataLabel="Installed version">{r.version}</Td>
                  <Td dataLabel="Fixed in">{r.fixed || '-'}</Td>
                </Tr>
              ))}
            </Tbody>
          </Table>
        </>
      ) : null}
    </>
  );
}
