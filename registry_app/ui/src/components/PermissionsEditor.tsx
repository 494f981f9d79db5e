// Who has which role on a repository: users, robots and teams (set, change, remove).
import {
  Button,
  Form,
  FormGroup,
  FormSelect,
  FormSelectOption,
  TextInput,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import {Table, Tbody, Td, Th, Thead, Tr} from '@patternfly/react-table';
import {useState} from 'react';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {type Permission, type Role, usePermissionChanges, usePermissions} from 'src/hooks/UsePermissions';

const ROLES: Role[] = ['read', 'write', 'admin'];

export function PermissionsEditor({namespace, name, isOrg}: {namespace: string; name: string; isOrg: boolean}) {
  const perms = usePermissions(namespace, name, true);
  const {set, remove} = usePermissionChanges(namespace, name);
  const [kind, setKind] = useState<Permission['kind']>('user');
  const [who, setWho] = useState('');
  const [role, setRole] = useState<Role>('read');
  const add = async (e: React.FormEvent) => {
    e.preventDefault();
    const entity = kind === 'robot' && !who.includes('+') ? `${namespace}+${who}` : who;
    await set.mutateAsync({kind, name: entity, role}).then(() => setWho(''), () => undefined);
  };
  return (
    <>
      <Form onSubmit={add} aria-label="Add a permission">
        <Toolbar>
          <ToolbarContent>
            <ToolbarItem>
              <FormGroup label="Kind" fieldId="perm-kind">
                <FormSelect id="perm-kind" value={kind} onChange={(_e, v) => setKind(v as Permission['kind'])}>
                  <FormSelectOption value="user" label="User" />
                  <FormSelectOption value="robot" label="Robot account" />
                  {isOrg ? <FormSelectOption value="team" label="Team" /> : null}
                </FormSelect>
              </FormGroup>
            </ToolbarItem>
            <ToolbarItem>
              <FormGroup label={kind === 'team' ? 'Team name' : kind === 'robot' ? 'Robot name' : 'Username'} fieldId="perm-name">
                <TextInput id="perm-name" value={who} onChange={(_e, v) => setWho(v)} />
              </FormGroup>
            </ToolbarItem>
            <ToolbarItem>
              <FormGroup label="Role" fieldId="perm-role">
                <FormSelect id="perm-role" value={role} onChange={(_e, v) => setRole(v as Role)}>
                  {ROLES.map((r) => (
                    <FormSelectOption key={r} value={r} label={r} />
                  ))}
                </FormSelect>
              </FormGroup>
            </ToolbarItem>
            <ToolbarItem alignSelf="end">
              <Button type="submit" isDisabled={!who} isLoading={set.isPending}>
                Add permission
              </Button>
            </ToolbarItem>
          </ToolbarContent>
        </Toolbar>
      </Form>
      <ErrorAlert error={set.error ?? remove.error ?? perms.error} />
      {perms.isLoading ? (
        <Loading label="Loading permissions" />
      ) : (
        <Table aria-label="Repository permissions" variant="compact">
          <Thead>
            <Tr>
              <Th>Account or team</Th>
              <Th>Kind</Th>
              <Th>Role</Th>
              <Th screenReaderText="Actions" />
            </Tr>
          </Thead>
          <Tbody>
            {(perms.data ?? []).map((p) => (
              <Tr key={`${p.kind}:${p.name}`}>
                <Td dataLabel="Account or team">{p.name}</Td>
                <Td dataLabel="Kind">{p.kind}</Td>
                <Td dataLabel="Role">
                  <FormSelect
                    aria-label={`Role of ${p.name}`}
                    value={p.role}
                    onChange={(_e, v) => set.mutate({kind: p.kind, name: p.name, role: v as Role})}
                  >
                    {ROLES.map((r) => (
                      <FormSelectOption key={r} value={r} label={r} />
                    ))}
                  </FormSelect>
                </Td>
                <Td isActionCell>
                  <Button variant="link" isDanger onClick={() => remove.mutate(p)} aria-label={`Remove ${p.name}`}>
                    Remove
                  </Button>
                </Td>
              </Tr>
            ))}
            {perms.data?.length === 0 ? (
              <Tr>
                <Td colSpan={4}>No explicit permissions.</Td>
              </Tr>
            ) : null}
          </Tbody>
        </Table>
      )}
    </>
  );
}
