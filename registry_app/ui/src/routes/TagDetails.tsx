// /repository/{ns}/{repo}/tag/{tag}: one tag: digest, size, dates, pull commands (by tag and by
// digest), platforms of a multi-arch index, layers, labels, and the security scan.
import {
  Breadcrumb,
  BreadcrumbItem,
  Card,
  CardBody,
  CardTitle,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  FormSelect,
  FormSelectOption,
  PageSection,
  Stack,
  StackItem,
  Title,
} from '@patternfly/react-core';
import {Table, Tbody, Td, Th, Thead, Tr} from '@patternfly/react-table';
import {useState} from 'react';
import {Link, useParams} from 'react-router-dom';
import {CopyLine} from 'src/components/CopyLine';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {SecurityReport} from 'src/components/SecurityReport';
import {useConfig} from 'src/hooks/UseConfig';
import {platformsOf, useManifest, useManifestLabels} from 'src/hooks/UseManifest';
import {useTagHistory} from 'src/hooks/UseTags';
import {formatDate, formatSize, shortDigest} from 'src/libs/format';
import {pullCommand} from 'src/libs/registry';

function Layers({namespace, name, digest}: {namespace: string; name: string; digest: string}) {
  const manifest = useManifest(namespace, name, digest);
  if (manifest.isLoading) return <Loading label="Loading layers" />;
  if (manifest.error) return <ErrorAlert error={manifest.error} />;
  const layers = manifest.data?.layers ?? [];
  return (
    <Table aria-label="Layers" variant="compact">
      <Thead>
        <Tr>
          <Th>#</Th>
          <Th>Layer</Th>
          <Th>Size</Th>
          <Th>Command</Th>
        </Tr>
      </Thead>
      <Tbody>
        {layers.map((l) => (
          <Tr key={`${l.index}-${l.blob_digest}`}>
            <Td dataLabel="#">{l.index + 1}</Td>
            <Td dataLabel="Layer">
              <code title={l.blob_digest}>{shortDigest(l.blob_digest)}</code>
            </Td>
            <Td dataLabel="Size">{formatSize(l.compressed_size)}</Td>
            <Td dataLabel="Command">
              <code>{(l.command ?? []).join(' ') || '-'}</code>
            </Td>
          </Tr>
        ))}
      </Tbody>
    </Table>
  );
}

export function TagDetails() {
  const {namespace = '', name = '', tag = ''} = useParams();
  const {data: config} = useConfig();
  const history = useTagHistory(namespace, name, tag);
  const live = (history.data ?? []).find((t) => t.name === tag && (!t.end_ts || t.end_ts * 1000 > Date.now()));
  const digest = live?.manifest_digest;
  const manifest = useManifest(namespace, name, digest);
  const labels = useManifestLabels(namespace, name, digest);
  const platforms = platformsOf(manifest.data);
  const [platform, setPlatform] = useState<string>('');
  const scanDigest = live?.is_manifest_list ? platform || platforms[0]?.digest : digest;
  const ref = `${namespace}/${name}`;
  return (
    <>
      <PageSection>
        <Breadcrumb>
          <BreadcrumbItem>
            <Link to="/repository">Repositories</Link>
          </BreadcrumbItem>
          <BreadcrumbItem>
            <Link to={`/repository/${namespace}/${name}`}>
              {namespace}/{name}
            </Link>
          </BreadcrumbItem>
          <BreadcrumbItem isActive>{tag}</BreadcrumbItem>
        </Breadcrumb>
        <Title headingLevel="h1">
          {namespace}/{name}:{tag}
        </Title>
      </PageSection>
      <PageSection>
        {history.isLoading ? <Loading /> : null}
        <ErrorAlert error={history.error} />
        {!history.isLoading && !history.error && !live ? (
          <ErrorAlert error={new Error(`There is no tag ${tag} in ${ref} now; its history is in the repository's Tag history.`)} />
        ) : null}
        {live && digest ? (
          <Stack hasGutter>
            <StackItem>
              <Card isPlain>
                <CardBody>
                  <DescriptionList isHorizontal aria-label="Tag">
                    <DescriptionListGroup>
                      <DescriptionListTerm>Manifest digest</DescriptionListTerm>
                      <DescriptionListDescription>
                        <CopyLine label="Manifest digest" value={digest} />
                      </DescriptionListDescription>
                    </DescriptionListGroup>
                    <DescriptionListGroup>
                      <DescriptionListTerm>Size</DescriptionListTerm>
                      <DescriptionListDescription>
                        {live.is_manifest_list ? 'multi-arch index' : formatSize(live.size)}
                      </DescriptionListDescription>
                    </DescriptionListGroup>
                    <DescriptionListGroup>
                      <DescriptionListTerm>Last modified</DescriptionListTerm>
                      <DescriptionListDescription>{formatDate(live.last_modified)}</DescriptionListDescription>
                    </DescriptionListGroup>
                    <DescriptionListGroup>
                      <DescriptionListTerm>Expires</DescriptionListTerm>
                      <DescriptionListDescription>
                        {live.expiration ? formatDate(live.expiration) : 'Never'}
                      </DescriptionListDescription>
                    </DescriptionListGroup>
                  </DescriptionList>
                </CardBody>
              </Card>
            </StackItem>
            <StackItem>
              <Card isPlain>
                <CardTitle component="h2">Pull</CardTitle>
                <CardBody>
                  <CopyLine label="podman pull by tag" value={pullCommand('podman', config, `${ref}:${tag}`)} />
                  <CopyLine label="docker pull by tag" value={pullCommand('docker', config, `${ref}:${tag}`)} />
                  <CopyLine label="podman pull by digest" value={pullCommand('podman', config, `${ref}@${digest}`)} />
                  <CopyLine label="docker pull by digest" value={pullCommand('docker', config, `${ref}@${digest}`)} />
                </CardBody>
              </Card>
            </StackItem>
            {live.is_manifest_list ? (
              <StackItem>
                <Card isPlain>
                  <CardTitle component="h2">Platforms</CardTitle>
                  <CardBody>
                    <Table aria-label="Platforms" variant="compact">
                      <Thead>
                        <Tr>
                          <Th>Platform</Th>
                          <Th>Manifest</Th>
                        </Tr>
                      </Thead>
                      <Tbody>
                        {platforms.map((p) => (
                          <Tr key={p.digest}>
                            <Td dataLabel="Platform">
                              {p.os}/{p.architecture}
                              {p.variant ? `/${p.variant}` : ''}
                            </Td>
                            <Td dataLabel="Manifest">
                              <code>{p.digest}</code>
                            </Td>
                          </Tr>
                        ))}
                      </Tbody>
                    </Table>
                  </CardBody>
                </Card>
              </StackItem>
            ) : (
              <StackItem>
                <Card isPlain>
                  <CardTitle component="h2">Layers</CardTitle>
                  <CardBody>
                    <Layers namespace={namespace} name={name} digest={digest} />
                  </CardBody>
                </Card>
              </StackItem>
            )}
            <StackItem>
              <Card isPlain>
                <CardTitle component="h2">Labels</CardTitle>
                <CardBody>
                  <ErrorAlert error={labels.error} />
                  {(labels.data?.labels ?? []).length === 0 ? (
                    <p>No labels.</p>
                  ) : (
                    <DescriptionList isCompact isHorizontal aria-label="Labels">
                      {labels.data?.labels.map((l) => (
                        <DescriptionListGroup key={l.id}>
                          <DescriptionListTerm>{l.key}</DescriptionListTerm>
                          <DescriptionListDescription>{l.value}</DescriptionListDescription>
                        </DescriptionListGroup>
                      ))}
                    </DescriptionList>
                  )}
                </CardBody>
              </Card>
            </StackItem>
            {config?.features.SECURITY_SCANNER ? (
              <StackItem>
                <Card isPlain>
                  <CardTitle component="h2">Security scan</CardTitle>
                  <CardBody>
                    {live.is_manifest_list && platforms.length ? (
                      <FormSelect
                        aria-label="Platform to show the scan of"
                        value={scanDigest}
                        onChange={(_e, v) => setPlatform(v)}
                      >
                        {platforms.map((p) => (
                          <FormSelectOption
                            key={p.digest}
                            value={p.digest}
                            label={`${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`}
                          />
                        ))}
                      </FormSelect>
                    ) : null}
                    {scanDigest ? <SecurityReport namespace={namespace} name={name} digest={scanDigest} /> : null}
                  </CardBody>
                </Card>
              </StackItem>
            ) : null}
          </Stack>
        ) : null}
      </PageSection>
    </>
  );
}
