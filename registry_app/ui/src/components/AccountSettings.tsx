// The signed-in user's settings: password (with a fresh password check, as Quay asks), e-mail,
// app-specific tokens.
import {
  ActionGroup,
  Alert,
  Button,
  Card,
  CardBody,
  CardTitle,
  Checkbox,
  Form,
  FormGroup,
  Stack,
  StackItem,
  TextInput,
} from '@patternfly/react-core';
import {Table, Tbody, Td, Th, Thead, Tr} from '@patternfly/react-table';
import {useState} from 'react';
import {ConfirmDelete} from 'src/components/ConfirmDelete';
import {CopyLine} from 'src/components/CopyLine';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {useAccountChanges} from 'src/hooks/UseAccount';
import {SCOPES, useApiTokenChanges, useApiTokens} from 'src/hooks/UseApiTokens';
import {useAppTokenChanges, useAppTokens} from 'src/hooks/UseAppTokens';
import {useConfig} from 'src/hooks/UseConfig';
import {type CurrentUser, useVerifyPassword} from 'src/hooks/UseCurrentUser';
import {ApiError} from 'src/libs/api';
import {formatDate} from 'src/libs/format';
import {loginCommand} from 'src/libs/registry';

function PasswordCard() {
  const change = useAccountChanges();
  const verify = useVerifyPassword();
  const [current, setCurrent] = useState('');
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [done, setDone] = useState(false);
  const needsVerify = change.error instanceof ApiError && change.error.type === 'fresh_login_required';
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setDone(false);
    try {
      if (current) await verify.mutateAsync(current);
      await change.mutateAsync({password});
      setDone(true);
      setCurrent('');
      setPassword('');
      setRepeat('');
    } catch {
      /* shown below */
    }
  };
  return (
    <Card>
      <CardTitle component="h2">Password</CardTitle>
      <CardBody>
        <Form onSubmit={submit}>
          <FormGroup label="Current password" fieldId="current-password" isRequired={needsVerify}>
            <TextInput
              id="current-password"
              type="password"
              autoComplete="current-password"
              value={current}
              onChange={(_e, v) => setCurrent(v)}
            />
          </FormGroup>
          <FormGroup label="New password (8 characters or more)" isRequired fieldId="new-password">
            <TextInput id="new-password" type="password" autoComplete="new-password" value={password} onChange={(_e, v) => setPassword(v)} />
          </FormGroup>
          <FormGroup label="New password again" isRequired fieldId="new-password-again">
            <TextInput
              id="new-password-again"
              type="password"
              autoComplete="new-password"
              value={repeat}
              validated={repeat && repeat !== password ? 'error' : 'default'}
              onChange={(_e, v) => setRepeat(v)}
            />
          </FormGroup>
          <ErrorAlert error={verify.error ?? change.error} />
          {needsVerify ? <p>Enter your current password too: it was checked too long ago.</p> : null}
          {done ? <Alert variant="success" isInline title="Password changed. Your other sessions were signed out." /> : null}
          <ActionGroup>
            <Button type="submit" isDisabled={password.length < 8 || password !== repeat} isLoading={change.isPending}>
              Change password
            </Button>
          </ActionGroup>
        </Form>
      </CardBody>
    </Card>
  );
}

function EmailCard({user}: {user: CurrentUser}) {
  const change = useAccountChanges();
  const [email, setEmail] = useState(user.email ?? '');
  return (
    <Card>
      <CardTitle component="h2">E-mail</CardTitle>
      <CardBody>
        <Form onSubmit={(e) => (e.preventDefault(), change.mutate({email}))}>
          <FormGroup label="E-mail address" fieldId="account-email">
            <TextInput id="account-email" type="email" value={email} onChange={(_e, v) => setEmail(v)} />
          </FormGroup>
          <ErrorAlert error={change.error} />
          <ActionGroup>
            <Button type="submit" isDisabled={!email || email === user.email} isLoading={change.isPending}>
              Save
            </Button>
          </ActionGroup>
        </Form>
      </CardBody>
    </Card>
  );
}

function AppTokensCard() {
  const tokens = useAppTokens();
  const {create, revoke} = useAppTokenChanges();
  const {data: config} = useConfig();
  const [title, setTitle] = useState('');
  const [revoking, setRevoking] = useState<string | null>(null);
  const made = create.data;
  return (
    <Card>
      <CardTitle component="h2">App-specific tokens</CardTitle>
      <CardBody>
        <p>
          Tokens for registry clients: log in with <code>$app</code> as the username and the token as the
          password.
        </p>
        <Form
          onSubmit={(e) => {
            e.preventDefault();
            create.mutateAsync(title).then(() => setTitle(''), () => undefined);
          }}
        >
          <FormGroup label="App token title" fieldId="apptoken-title">
            <TextInput id="apptoken-title" value={title} onChange={(_e, v) => setTitle(v)} />
          </FormGroup>
          <ActionGroup>
            <Button type="submit" isDisabled={!title} isLoading={create.isPending}>
              Create token
            </Button>
          </ActionGroup>
        </Form>
        <ErrorAlert error={create.error ?? revoke.error ?? tokens.error} />
        {made?.token_code ? (
          <Alert variant="info" isInline title={`Token "${made.title}" created`}>
            <CopyLine label="App token" value={made.token_code} />
            <CopyLine label="podman login with the token" value={loginCommand('podman', config, '$app', made.token_code)} />
          </Alert>
        ) : null}
        {tokens.isLoading ? (
          <Loading />
        ) : (
          <Table aria-label="App-specific tokens" variant="compact">
            <Thead>
              <Tr>
                <Th>Title</Th>
                <Th>Created</Th>
                <Th>Expires</Th>
                <Th>Last used</Th>
                <Th screenReaderText="Actions" />
              </Tr>
            </Thead>
            <Tbody>
              {(tokens.data ?? []).map((t) => (
                <Tr key={t.uuid}>
                  <Td dataLabel="Title">{t.title}</Td>
                  <Td dataLabel="Created">{formatDate(t.created)}</Td>
                  <Td dataLabel="Expires">{t.expiration ? formatDate(t.expiration) : 'Never'}</Td>
                  <Td dataLabel="Last used">{formatDate(t.last_accessed)}</Td>
                  <Td isActionCell>
                    <Button variant="link" isDanger onClick={() => setRevoking(t.uuid)} aria-label={`Revoke ${t.title}`}>
                      Revoke
                    </Button>
                  </Td>
                </Tr>
              ))}
            </Tbody>
          </Table>
        )}
        {revoking ? (
          <ConfirmDelete
            title="Revoke this token?"
            action="Revoke"
            body={<p>Clients using it can no longer log in.</p>}
            onConfirm={() => revoke.mutateAsync(revoking)}
            onClose={() => setRevoking(null)}
          />
        ) : null}
      </CardBody>
    </Card>
  );
}

function ApiTokensCard({user}: {user: CurrentUser}) {
  const tokens = useApiTokens();
  const {create, revoke} = useApiTokenChanges();
  const {data: config} = useConfig();
  const [title, setTitle] = useState('');
  const [scopes, setScopes] = useState<string[]>(['repo:read', 'repo:write', 'repo:create']);
  const [revoking, setRevoking] = useState<number | null>(null);
  const made = create.data;
  const offered = SCOPES.filter(([s]) => s !== 'super:user' || user.super_user);
  const toggle = (scope: string, on: boolean) =>
    setScopes((old) => (on ? [...old, scope] : old.filter((s) => s !== scope)));
  return (
    <Card>
      <CardTitle component="h2">API tokens</CardTitle>
      <CardBody>
        <p>
          Tokens for the API (<code>Authorization: Bearer</code>) and for registry clients, with{' '}
          <code>$oauthtoken</code> as the username. A token is shown once.
        </p>
        <Form
          onSubmit={(e) => {
            e.preventDefault();
            create.mutateAsync({title, scopes}).then(() => setTitle(''), () => undefined);
          }}
        >
          <FormGroup label="API token title" fieldId="apitoken-title">
            <TextInput id="apitoken-title" value={title} onChange={(_e, v) => setTitle(v)} />
          </FormGroup>
          <FormGroup role="group" label="Scopes" fieldId="apitoken-scopes" isInline>
            {offered.map(([scope, text]) => (
              <Checkbox
                key={scope}
                id={`apitoken-scope-${scope}`}
                label={`${text} (${scope})`}
                isChecked={scopes.includes(scope)}
                onChange={(_e, on) => toggle(scope, on)}
              />
            ))}
          </FormGroup>
          <ActionGroup>
            <Button type="submit" isDisabled={!title || scopes.length === 0} isLoading={create.isPending}>
              Create API token
            </Button>
          </ActionGroup>
        </Form>
        <ErrorAlert error={create.error ?? revoke.error ?? tokens.error} />
        {made?.access_token ? (
          <Alert variant="info" isInline title={`API token "${made.title}" created: copy it now, it is not shown again`}>
            <CopyLine label="API token" value={made.access_token} />
            <CopyLine
              label="podman login with the API token"
              value={loginCommand('podman', config, '$oauthtoken', made.access_token)}
            />
          </Alert>
        ) : null}
        {tokens.isLoading ? (
          <Loading />
        ) : (
          <Table aria-label="API tokens" variant="compact">
            <Thead>
              <Tr>
                <Th>Title</Th>
                <Th>Scopes</Th>
                <Th>Created</Th>
                <Th>Expires</Th>
                <Th screenReaderText="Actions" />
              </Tr>
            </Thead>
            <Tbody>
              {(tokens.data ?? []).map((t) => (
                <Tr key={t.id}>
                  <Td dataLabel="Title">{t.title}</Td>
                  <Td dataLabel="Scopes">{t.scopes.join(' ')}</Td>
                  <Td dataLabel="Created">{formatDate(t.created)}</Td>
                  <Td dataLabel="Expires">{t.expiration ? formatDate(t.expiration) : 'Never'}</Td>
                  <Td isActionCell>
                    <Button variant="link" isDanger onClick={() => setRevoking(t.id)} aria-label={`Revoke API token ${t.title}`}>
                      Revoke
                    </Button>
                  </Td>
                </Tr>
              ))}
            </Tbody>
          </Table>
        )}
        {revoking !== null ? (
          <ConfirmDelete
            title="Revoke this API token?"
            action="Revoke"
            body={<p>Clients and scripts using it stop working at once.</p>}
            onConfirm={() => revoke.mutateAsync(revoking)}
            onClose={() => setRevoking(null)}
          />
        ) : null}
      </CardBody>
    </Card>
  );
}

export function AccountSettings({user}: {user: CurrentUser}) {
  const {data: config} = useConfig();
  return (
    <Stack hasGutter>
      {config?.config.AUTHENTICATION_TYPE === 'Database' ? (
        <StackItem>
          <PasswordCard />
        </StackItem>
      ) : null}
      <StackItem>
        <EmailCard user={user} />
      </StackItem>
      {config?.features.APP_SPECIFIC_TOKENS ? (
        <StackItem>
          <AppTokensCard />
        </StackItem>
      ) : null}
      <StackItem>
        <ApiTokensCard user={user} />
      </StackItem>
    </Stack>
  );
}
