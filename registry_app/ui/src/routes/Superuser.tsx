// /superuser: every user (create with a generated password, disable, enable, delete) and the
// whole registry's logs.
import {
  Alert,
  Button,
  Form,
  FormGroup,
  Label,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
  PageSection,
  SearchInput,
  Tab,
  Tabs,
  TabTitleText,
  TextInput,
  Title,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from '@patternfly/react-core';
import {Table, Tbody, Td, Th, Thead, Tr} from '@patternfly/react-table';
import {useState} from 'react';
import {useSearchParams} from 'react-router-dom';
import {ConfirmDelete} from 'src/components/ConfirmDelete';
import {CopyLine} from 'src/components/CopyLine';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {LogsView} from 'src/components/LogsView';
import {useCurrentUser} from 'src/hooks/UseCurrentUser';
import {useSuperuserUserChanges, useSuperuserUsers} from 'src/hooks/UseSuperuserUsers';

function CreateUser({onClose}: {onClose: () => void}) {
  const {create} = useSuperuserUserChanges();
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const made = create.data;
  return (
    <Modal isOpen variant="small" onClose={onClose} aria-labelledby="create-user-title">
      <ModalHeader title="Create user" labelId="create-user-title" />
      <ModalBody>
        {made ? (
          <Alert variant="success" isInline title={`User ${made.username} created`}>
            <p>Their password, shown only now:</p>
            <CopyLine label="Generated password" value={made.password} />
          </Alert>
        ) : (
          <Form
            id="create-user-form"
            onSubmit={(e) => {
              e.preventDefault();
              create.mutate({username, email: email || undefined});
            }}
          >
            <FormGroup label="Username" isRequired fieldId="su-username">
              <TextInput id="su-username" isRequired value={username} onChange={(_e, v) => setUsername(v)} />
            </FormGroup>
            <FormGroup label="E-mail" fieldId="su-email">
              <TextInput id="su-email" type="email" value={email} onChange={(_e, v) => setEmail(v)} />
            </FormGroup>
          </Form>
        )}
        <ErrorAlert error={create.error} />
      </ModalBody>
      <ModalFooter>
        {made ? null : (
          <Button type="submit" form="create-user-form" isDisabled={!username} isLoading={create.isPending}>
            Create user
          </Button>
        )}
        <Button variant="link" onClick={onClose}>
          {made ? 'Close' : 'Cancel'}
        </Button>
      </ModalFooter>
    </Modal>
  );
}

function Users() {
  const users = useSuperuserUsers(true);
  const {setEnabled, remove} = useSuperuserUserChanges();
  const [filter, setFilter] = useState('');
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<string | null>(null);
  const rows = (users.data ?? []).filter((u) => u.username.includes(filter.trim().toLowerCase()));
  return (
    <>
      <Toolbar>
        <ToolbarContent>
          <ToolbarItem>
            <SearchInput aria-label="Filter users" value={filter} onChange={(_e, v) => setFilter(v)} onClear={() => setFilter('')} />
          </ToolbarItem>
          <ToolbarItem>
            <Button onClick={() => setCreating(true)}>Create user</Button>
          </ToolbarItem>
        </ToolbarContent>
      </Toolbar>
      <ErrorAlert error={users.error ?? setEnabled.error ?? remove.error} />
      {users.isLoading ? (
        <Loading />
      ) : (
        <Table aria-label="Users" variant="compact">
          <Thead>
            <Tr>
              <Th>Username</Th>
              <Th>E-mail</Th>
              <Th>Status</Th>
              <Th screenReaderText="Actions" />
            </Tr>
          </Thead>
          <Tbody>
            {rows.map((u) => (
              <Tr key={u.username}>
                <Td dataLabel="Username">
                  {u.username} {u.super_user ? <Label isCompact color="purple">superuser</Label> : null}
                </Td>
                <Td dataLabel="E-mail">{u.email ?? '-'}</Td>
                <Td dataLabel="Status">{u.enabled ? 'enabled' : 'disabled'}</Td>
                <Td isActionCell>
                  {u.super_user ? null : (
                    <>
                      <Button
                        variant="secondary"
                        size="sm"
                        onClick={() => setEnabled.mutate({username: u.username, enabled: !u.enabled})}
                        aria-label={`${u.enabled ? 'Disable' : 'Enable'} ${u.username}`}
                      >
                        {u.enabled ? 'Disable' : 'Enable'}
                      </Button>{' '}
                      <Button variant="link" isDanger size="sm" onClick={() => setDeleting(u.username)} aria-label={`Delete ${u.username}`}>
                        Delete
                      </Button>
                    </>
                  )}
                </Td>
              </Tr>
            ))}
          </Tbody>
        </Table>
      )}
      {creating ? <CreateUser onClose={() => setCreating(false)} /> : null}
      {deleting ? (
        <ConfirmDelete
          title={`Delete user ${deleting}?`}
          confirmText={deleting}
          body={<p>Their namespace, repositories and robot accounts are deleted.</p>}
          onConfirm={() => remove.mutateAsync(deleting)}
          onClose={() => setDeleting(null)}
        />
      ) : null}
    </>
  );
}

export function Superuser() {
  const {data: user, isLoading} = useCurrentUser();
  const [params, setParams] = useSearchParams();
  const tab = params.get('tab') ?? 'users';
  if (isLoading) return <Loading />;
  return (
    <>
      <PageSection>
        <Title headingLevel="h1">Superuser</Title>
      </PageSection>
      <PageSection>
        {!user?.super_user ? (
          <Alert variant="warning" isInline title="Only superusers can see this page." />
        ) : (
          <Tabs activeKey={tab} onSelect={(_e, k) => setParams({tab: String(k)})} aria-label="Superuser" mountOnEnter unmountOnExit>
            <Tab eventKey="users" title={<TabTitleText>Users</TabTitleText>}>
              <Users />
            </Tab>
            <Tab eventKey="logs" title={<TabTitleText>Logs</TabTitleText>}>
              <LogsView scope={{kind: 'superuser'}} />
            </Tab>
          </Tabs>
        )}
      </PageSection>
    </>
  );
}
