// /signin: username and password (database or LDAP users), POST /api/v1/signin.
import {
  ActionGroup,
  Alert,
  Button,
  Divider,
  Form,
  FormGroup,
  ListItem,
  LoginPage,
  Stack,
  StackItem,
  TextInput,
} from '@patternfly/react-core';
import {useState} from 'react';
import {Link, useNavigate, useSearchParams} from 'react-router-dom';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {useConfig} from 'src/hooks/UseConfig';
import {useSignIn} from 'src/hooks/UseCurrentUser';
import {useExternalLogin} from 'src/hooks/UseExternalLogin';

// Only paths of this UI: a redirect must never leave the registry.
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/repository';
}

export function SignIn() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const signIn = useSignIn();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const {data: config} = useConfig();
  const title = config?.config.REGISTRY_TITLE || 'Registry';
  const external = useExternalLogin();
  const providers = config?.external_login ?? [];
  const failed = params.get('error'); // set by /oauth2/{service}/callback when a sign-in failed

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    try {
      await signIn.mutateAsync({username, password});
      navigate(safeNext(params.get('next')), {replace: true});
    } catch {
      setPassword('');
    }
  };

  const footer = (
    <>
      {config?.features.USER_CREATION ? (
        <ListItem>
          <Link to="/createaccount">Create an account</Link>
        </ListItem>
      ) : null}
      <ListItem>
        <Link to="/repository">Browse public repositories</Link>
      </ListItem>
    </>
  );

  return (
    <LoginPage loginTitle={`Sign in to ${title}`} footerListItems={footer}>
      {failed ? <Alert variant="danger" isInline title={failed} style={{marginBottom: '1rem'}} /> : null}
      {providers.length ? (
        <Stack hasGutter style={{marginBottom: '1.5rem'}}>
          {providers.map((p) => (
            <StackItem key={p.id}>
              <Button variant="secondary" isBlock onClick={() => external.mutate(p.id)} isLoading={external.isPending}>
                Sign in with {p.title}
              </Button>
            </StackItem>
          ))}
          <ErrorAlert error={external.error} />
          {config?.features.DIRECT_LOGIN !== false ? <Divider /> : null}
        </Stack>
      ) : null}
      <Form onSubmit={submit} aria-label="Sign in">
        <ErrorAlert error={signIn.error} />
        <FormGroup label="Username" isRequired fieldId="signin-username">
          <TextInput
            id="signin-username"
            name="username"
            isRequired
            autoComplete="username"
            value={username}
            onChange={(_e, v) => setUsername(v)}
          />
        </FormGroup>
        <FormGroup label="Password" isRequired fieldId="signin-password">
          <TextInput
            id="signin-password"
            name="password"
            type="password"
            isRequired
            autoComplete="current-password"
            value={password}
            onChange={(_e, v) => setPassword(v)}
          />
        </FormGroup>
        <ActionGroup>
          <Button type="submit" variant="primary" isBlock isLoading={signIn.isPending} isDisabled={!username || !password}>
            Sign in
          </Button>
        </ActionGroup>
      </Form>
    </LoginPage>
  );
}
