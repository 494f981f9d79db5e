// Live tags of a repository: digest, size, last modified, expiration, the platforms of
// multi-arch indexes (fetched when a row is opened: no call per tag), the pull command.
import {
  Button,
  ClipboardCopyButton,
  Label,
  SearchInput,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
  Pagination,
} from '@patternfly/react-core';
import {ExpandableRowContent, Table, Tbody, Td, Th, Thead, Tr} from '@patternfly/react-table';
import {useMemo, useState} from 'react';
import {Link} from 'react-router-dom';
import {ConfirmDelete} from 'src/components/ConfirmDelete';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {useConfig} from 'src/hooks/UseConfig';
import {platformsOf, useManifest} from 'src/hooks/UseManifest';
import {type Tag, useTagChanges, useTags} from 'src/hooks/UseTags';
import {formatDate, formatSize, shortDigest} from 'src/libs/format';
import {pullCommand} from 'src/libs/registry';

// The podman pull command of a tag, copied by one button (the command shows in its tooltip).
function PullButton({command, tag}: {command: string; tag: string}) {
  const [copied, setCopied] = useState(false);
  return (
    <ClipboardCopyButton
      id={`pull-${tag}`}
      textId={`pull-${tag}`}
      variant="plain"
      aria-label={`Copy the pull command for ${tag}`}
      exitDelay={copied ? 1500 : 600}
      maxWidth="40rem"
      onTooltipHidden={() => setCopied(false)}
      onClick={() => navigator.clipboard?.writeText(command).then(() => setCopied(true), () => undefined)}
    >
      {copied ? 'Copied' : command}
    </ClipboardCopyButton>
  );
}

function Platforms({namespace, name, digest}: {namespace: string; name: string; digest: string}) {
  const manifest = useManifest(namespace, name, digest);
  if (manifest.isLoading) return <Loading label="Loading platforms" />;
  if (manifest.error) return <ErrorAlert error={manifest.error} />;
  const platforms = platformsOf(manifest.data);
  return (
    <Table aria-label={`Platforms of ${shortDigest(digest)}`} variant="compact" borders={false}>
      <Thead>
        <Tr>
          <Th>Platform</Th>
          <Th>Manifest</Th>
          <Th>Manifest size</Th>
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
              <code>{shortDigest(p.digest)}</code>
            </Td>
            <Td dataLabel="Manifest size">{formatSize(p.size)}</Td>
          </Tr>
        ))}
      </Tbody>
    </Table>
  );
}

export function TagsTable({namespace, name, canWrite}: {namespace: string; name: string; canWrite: boolean}) {
  const tags = useTags(namespace, name);
  const {remove} = useTagChanges(namespace, name);
  const {data: config} = useConfig();
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [search, setSearch] = useState('');
  const [page, setPage] = useState(1);
  const [perPage, setPerPage] = useState(20);
  const [deleting, setDeleting] = useState<Tag | null>(null);
  const rows = useMemo(
    () => (tags.data ?? []).filter((t) => t.name.toLowerCase().includes(search.trim().toLowerCase())),
    [tags.data, search],
  );
  if (tags.isLoading) return <Loading label="Loading tags" />;
  if (tags.error) return <ErrorAlert error={tags.error} />;
  const shown = rows.slice((page - 1) * perPage, page * perPage);
  const toggle = (tag: string) =>
    setExpanded((old) => {
      const next = new Set(old);
      if (next.has(tag)) next.delete(tag);
      else next.add(tag);
      return next;
    });
  return (
    <>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <SearchInput
              aria-label="Filter tags"
              placeholder="Filter by tag name"
              value={search}
              onChange={(_e, v) => (setSearch(v), setPage(1))}
              onClear={() => setSearch('')}
            />
          </ToolbarItem>
          <ToolbarItem variant="pagination" align={{default: 'alignEnd'}}>
            <Pagination
              itemCount={rows.length}
              perPage={perPage}
              page={page}
              onSetPage={(_e, p) => setPage(p)}
              onPerPageSelect={(_e, n) => (setPerPage(n), setPage(1))}
              isCompact
              titles={{paginationAriaLabel: 'Tag pages'}}
            />
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      <Table aria-label="Tags" variant="compact">
        <Thead>
          <Tr>
            <Th screenReaderText="Platforms" />
            <Th>Tag</Th>
            <Th>Manifest</Th>
            <Th>Size</Th>
            <Th>Last modified</Th>
            <Th>Expires</Th>
            <Th>Pull</Th>
            {canWrite ? <Th screenReaderText="Actions" /> : null}
          </Tr>
        </Thead>
        {shown.map((tag, rowIndex) => {
          const isOpen = expanded.has(tag.name);
          return (
            <Tbody key={tag.name} isExpanded={isOpen}>
              <Tr>
                {tag.is_manifest_list ? (
                  <Td
                    expand={{rowIndex, isExpanded: isOpen, onToggle: () => toggle(tag.name), expandId: `platforms-${rowIndex}`}}
                  />
                ) : (
                  <Td />
                )}
                <Td dataLabel="Tag">
                  <Link to={`/repository/${namespace}/${name}/tag/${tag.name}`}>{tag.name}</Link>
                </Td>
                <Td dataLabel="Manifest">
                  <code title={tag.manifest_digest}>{shortDigest(tag.manifest_digest)}</code>{' '}
                  {tag.is_manifest_list ? <Label isCompact>multi-arch</Label> : null}
                </Td>
                <Td dataLabel="Size">{tag.is_manifest_list ? '-' : formatSize(tag.size)}</Td>
                <Td dataLabel="Last modified">{formatDate(tag.last_modified)}</Td>
                <Td dataLabel="Expires">{tag.expiration ? formatDate(tag.expiration) : 'Never'}</Td>
                <Td dataLabel="Pull">
                  <PullButton command={pullCommand('podman', config, `${namespace}/${name}:${tag.name}`)} tag={tag.name} />
                </Td>
                {canWrite ? (
                  <Td isActionCell>
                    <Button variant="link" isDanger onClick={() => setDeleting(tag)} aria-label={`Delete tag ${tag.name}`}>
                      Delete
                    </Button>
                  </Td>
                ) : null}
              </Tr>
              {tag.is_manifest_list ? (
                <Tr isExpanded={isOpen}>
                  <Td colSpan={canWrite ? 8 : 7}>
                    <ExpandableRowContent>
                      {isOpen ? <Platforms namespace={namespace} name={name} digest={tag.manifest_digest} /> : null}
                    </ExpandableRowContent>
                  </Td>
                </Tr>
              ) : null}
            </Tbody>
          );
        })}
        {shown.length === 0 ? (
          <Tbody>
            <Tr>
              <Td colSpan={8}>{search ? 'No tag matches.' : 'No tags yet: push an image to this repository.'}</Td>
            </Tr>
          </Tbody>
        ) : null}
      </Table>
      {deleting ? (
        <ConfirmDelete
          title={`Delete tag ${deleting.name}?`}
          body={
            <p>
              The tag stops being pullable. Its manifest <code>{shortDigest(deleting.manifest_digest)}</code> stays in the
              tag history, from where the tag can be restored.
            </p>
          }
          onConfirm={() => remove.mutateAsync(deleting.name)}
          onClose={() => setDeleting(null)}
        />
      ) : null}
    </>
  );
}
