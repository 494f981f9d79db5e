// /createaccount: sign-up (FEATURE_USER_CREATION with database users), POST /api/v1/user/.
import {ActionGroup, Button, Form, FormGroup, ListItem, LoginPage, TextInput} from '@patternfly/react-core';
import {useState} from 'react';
import {Link, useNavigate} from 'react-router-dom';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {useConfig} from 'src/hooks/UseConfig';
import {useCreateAccount} from 'src/hooks/UseCurrentUser';

export function CreateAccount() {
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const create = useCreateAccount();
  const navigate = useNavigate();
  const {data: config, isLoading} = useConfig();
  if (isLoading) return <Loading />;
  const mismatch = repeat !== '' && repeat !== password;
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    await create.mutateAsync({username, password, email: email || undefined}).then(
      () => navigate('/repository', {replace: true}),
      () => undefined,
    );
  };
  if (!config?.features.USER_CREATION) {
    return (
      <LoginPage loginTitle="Create an account">
        <p>This registry does not let people create their own accounts. Ask an administrator.</p>
        <p>
          <Link to="/signin">Sign in</Link>
        </p>
      </LoginPage>
    );
  }
  return (
    <LoginPage loginTitle="Create an account" footerListItems={
        <ListItem>
          <Link to="/signin">Sign in instead</Link>
        </ListItem>
      }>
      <Form onSubmit={submit} aria-label="Create an account">
        <ErrorAlert error={create.error} />
        <FormGroup label="Username" isRequired fieldId="new-username">
          <TextInput id="new-username" isRequired autoComplete="username" value={username} onChange={(_e, v) => setUsername(v)} />
        </FormGroup>
        <FormGroup label="E-mail" fieldId="new-email">
          <TextInput id="new-email" type="email" autoComplete="email" value={email} onChange={(_e, v) => setEmail(v)} />
        </FormGroup>
        <FormGroup label="Password (8 characters or more)" isRequired fieldId="new-password">
          <TextInput
            id="new-password"
            type="password"
            isRequired
            autoComplete="new-password"
            value={password}
            onChange={(_e, v) => setPassword(v)}
          />
        </FormGroup>
        <FormGroup label="Password again" isRequired fieldId="new-password-repeat">
          <TextInput
            id="new-password-repeat"
            type="password"
            isRequired
            autoComplete="new-password"
            value={repeat}
            validated={mismatch ? 'error' : 'default'}
            onChange={(_e, v) => setRepeat(v)}
          />
        </FormGroup>
        <ActionGroup>
          <Button
            type="submit"
            isBlock
            isLoading={create.isPending}
            isDisabled={!username || password.length < 8 || password !== repeat}
          >
            Create account
          </Button>
        </ActionGroup>
      </Form>
    </LoginPage>
  );
}
