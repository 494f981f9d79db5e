// The repository list of every screen that has one: search, namespace and visibility filters,
// sorting and paging, over what GET /api/v1/repository returned.
import {
  Label,
  MenuToggle,
  Pagination,
  SearchInput,
  Select,
  SelectList,
  SelectOption,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import {Table, Tbody, Td, Th, Thead, Tr, type ThProps} from '@patternfly/react-table';
import {useMemo, useState} from 'react';
import {Link} from 'react-router-dom';
import type {RepositorySummary} from 'src/hooks/UseRepositories';
import {formatDate} from 'src/libs/format';

type SortKey = 'name' | 'namespace' | 'visibility' | 'last_modified';

function FilterSelect({
  label,
  value,
  options,
  onChange,
}: {
  label: string;
  value: string;
  options: [string, string][];
  onChange: (v: string) => void;
}) {
  const [open, setOpen] = useState(false);
  const shown = options.find(([v]) => v === value)?.[1] ?? value;
  return (
    <Select
      isOpen={open}
      selected={value}
      onSelect={(_e, v) => {
        onChange(String(v));
        setOpen(false);
      }}
      onOpenChange={setOpen}
      toggle={(ref) => (
        <MenuToggle ref={ref} onClick={() => setOpen(!open)} isExpanded={open}>
          {label}: {shown}
        </MenuToggle>
      )}
    >
      <SelectList>
        {options.map(([v, text]) => (
          <SelectOption key={v} value={v}>
            {text}
          </SelectOption>
        ))}
      </SelectList>
    </Select>
  );
}

export function RepositoryTable({
  repositories,
  showNamespaceFilter = true,
  toolbarExtra,
}: {
  repositories: RepositorySummary[];
  showNamespaceFilter?: boolean;
  toolbarExtra?: React.ReactNode;
}) {
  const [search, setSearch] = useState('');
  const [namespace, setNamespace] = useState('all');
  const [visibility, setVisibility] = useState('all');
  const [sort, setSort] = useState<{key: SortKey; asc: boolean}>({key: 'name', asc: true});
  const [page, setPage] = useState(1);
  const [perPage, setPerPage] = useState(20);

  const namespaces = useMemo(
    () => [...new Set(repositories.map((r) => r.namespace))].sort(),
    [repositories],
  );
  const rows = useMemo(() => {
    const needle = search.trim().toLowerCase();
    const filtered = repositories.filter(
      (r) =>
        (!needle || `${r.namespace}/${r.name}`.toLowerCase().includes(needle)) &&
        (namespace === 'all' || r.namespace === namespace) &&
        (visibility === 'all' || (visibility === 'public') === r.is_public),
    );
    const value = (r: RepositorySummary): string | number => {
      switch (sort.key) {
        case 'name':
          return r.name;
        case 'namespace':
          return `${r.namespace}/${r.name}`;
        case 'visibility':
          return r.is_public ? 0 : 1;
        case 'last_modified':
          return r.last_modified ?? 0;
      }
    };
    return filtered.sort((a, b) => {
      const x = value(a);
      const y = value(b);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return sort.asc ? order : -order;
    });
  }, [repositories, search, namespace, visibility, sort]);
  const shown = rows.slice((page - 1) * perPage, page * perPage);

  const sortBy = (key: SortKey, index: number): ThProps['sort'] => ({
    sortBy: {index: ['namespace', 'name', 'visibility', 'last_modified'].indexOf(sort.key), direction: sort.asc ? 'asc' : 'desc'},
    onSort: (_e, _i, direction) => setSort({key, asc: direction === 'asc'}),
    columnIndex: index,
  });

  return (
    <>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <SearchInput
              aria-label="Search repositories"
              placeholder="Search by name"
              value={search}
              onChange={(_e, v) => {
                setSearch(v);
                setPage(1);
              }}
              onClear={() => setSearch('')}
            />
          </ToolbarItem>
          {showNamespaceFilter ? (
            <ToolbarItem>
              <FilterSelect
                label="Namespace"
                value={namespace}
                options={[['all', 'All'], ...namespaces.map((n): [string, string] => [n, n])]}
                onChange={(v) => {
                  setNamespace(v);
                  setPage(1);
                }}
              />
            </ToolbarItem>
          ) : null}
          <ToolbarItem>
            <FilterSelect
              label="Visibility"
              value={visibility}
              options={[
                ['all', 'All'],
                ['public', 'Public'],
                ['private', 'Private'],
              ]}
              onChange={(v) => {
                setVisibility(v);
                setPage(1);
              }}
            />
          </ToolbarItem>
          {toolbarExtra ? <ToolbarItem>{toolbarExtra}</ToolbarItem> : null}
          <ToolbarItem variant="pagination" align={{default: 'alignEnd'}}>
            <Pagination
              itemCount={rows.length}
              perPage={perPage}
              page={page}
              onSetPage={(_e, p) => setPage(p)}
              onPerPageSelect={(_e, n) => {
                setPerPage(n);
                setPage(1);
              }}
              isCompact
              titles={{paginationAriaLabel: 'Repository pages'}}
            />
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      <Table aria-label="Repositories" variant="compact">
        <Thead>
          <Tr>
            <Th sort={sortBy('namespace', 0)}>Namespace</Th>
            <Th sort={sortBy('name', 1)}>Name</Th>
            <Th sort={sortBy('visibility', 2)}>Visibility</Th>
            <Th sort={sortBy('last_modified', 3)}>Last modified</Th>
          </Tr>
        </Thead>
        <Tbody>
          {shown.map((r) => (
            <Tr key={`${r.namespace}/${r.name}`}>
              <Td dataLabel="Namespace">{r.namespace}</Td>
              <Td dataLabel="Name">
                <Link to={`/repository/${r.namespace}/${r.name}`}>{r.name}</Link>
              </Td>
              <Td dataLabel="Visibility">
                <Label color={r.is_public ? 'green' : 'grey'}>{r.is_public ? 'public' : 'private'}</Label>
              </Td>
              <Td dataLabel="Last modified">{r.last_modified ? formatDate(r.last_modified) : '-'}</Td>
            </Tr>
          ))}
          {shown.length === 0 ? (
            <Tr>
              <Td colSpan={4}>No repositories match.</Td>
            </Tr>
          ) : null}
        </Tbody>
      </Table>
    </>
  );
}
