// A repository's settings (admins only): visibility, description, permissions, deletion.
import {
  ActionGroup,
  Button,
  Card,
  CardBody,
  CardTitle,
  Form,
  FormGroup,
  Stack,
  StackItem,
  TextArea,
} from '@patternfly/react-core';
import {useState} from 'react';
import {useNavigate} from 'react-router-dom';
import {ConfirmDelete} from 'src/components/ConfirmDelete';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Markdown} from 'src/components/Markdown';
import {PermissionsEditor} from 'src/components/PermissionsEditor';
import {type Repository, useRepositoryChanges} from 'src/hooks/UseRepository';

export function RepositorySettings({repo}: {repo: Repository}) {
  const {setDescription, setVisibility, remove} = useRepositoryChanges(repo.namespace, repo.name);
  const [description, setText] = useState(repo.description ?? '');
  const [confirmVisibility, setConfirmVisibility] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const navigate = useNavigate();
  const full = `${repo.namespace}/${repo.name}`;
  const next = repo.is_public ? 'private' : 'public';
  return (
    <Stack hasGutter>
      <StackItem>
        <Card>
          <CardTitle component="h2">Visibility</CardTitle>
          <CardBody>
            <p>
              This repository is <strong>{repo.is_public ? 'public' : 'private'}</strong>:{' '}
              {repo.is_public ? 'anyone can see and pull it.' : 'only accounts with a role on it can see and pull it.'}
            </p>
            <ErrorAlert error={setVisibility.error} />
            <Button variant="secondary" onClick={() => setConfirmVisibility(true)} style={{marginTop: '0.5rem'}}>
              Make {next}
            </Button>
          </CardBody>
        </Card>
      </StackItem>
      <StackItem>
        <Card>
          <CardTitle component="h2">Description</CardTitle>
          <CardBody>
            <Form onSubmit={(e) => (e.preventDefault(), setDescription.mutate(description))}>
              <FormGroup label="Description (Markdown)" fieldId="repo-settings-description">
                <TextArea
                  id="repo-settings-description"
                  value={description}
                  onChange={(_e, v) => setText(v)}
                  rows={6}
                  resizeOrientation="vertical"
                />
              </FormGroup>
              <ErrorAlert error={setDescription.error} />
              <ActionGroup>
                <Button type="submit" isLoading={setDescription.isPending} isDisabled={description === (repo.description ?? '')}>
                  Save description
                </Button>
              </ActionGroup>
            </Form>
            {description ? (
              <section aria-label="Preview" style={{marginTop: '1rem'}}>
                <Markdown text={description} />
              </section>
            ) : null}
          </CardBody>
        </Card>
      </StackItem>
      <StackItem>
        <Card>
          <CardTitle component="h2">Permissions</CardTitle>
          <CardBody>
            <PermissionsEditor namespace={repo.namespace} name={repo.name} isOrg={repo.is_organization} />
          </CardBody>
        </Card>
      </StackItem>
      <StackItem>
        <Card>
          <CardTitle component="h2">Delete repository</CardTitle>
          <CardBody>
            <p>Its tags, manifests, history and permissions go at once. This cannot be undone.</p>
            <Button variant="danger" onClick={() => setDeleting(true)} style={{marginTop: '0.5rem'}}>
              Delete repository
            </Button>
          </CardBody>
        </Card>
      </StackItem>
      {confirmVisibility ? (
        <ConfirmDelete
          title={`Make ${full} ${next}?`}
          action={`Make ${next}`}
          body={
            <p>
              {next === 'public'
                ? 'Anyone who can reach this registry will be able to see and pull its images, without signing in.'
                : 'Only accounts with a role on it will be able to see and pull it.'}
            </p>
          }
          onConfirm={() => setVisibility.mutateAsync(next)}
          onClose={() => setConfirmVisibility(false)}
        />
      ) : null}
      {deleting ? (
        <ConfirmDelete
          title={`Delete ${full}?`}
          confirmText={full}
          body={<p>Every tag and manifest of {full} is deleted.</p>}
          onConfirm={async () => {
            await remove.mutateAsync();
            navigate('/repository');
          }}
          onClose={() => setDeleting(false)}
        />
      ) : null}
    </Stack>
  );
}
