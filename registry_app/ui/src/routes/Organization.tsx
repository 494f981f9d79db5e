// /organization/{org}: repositories, teams and members, robot accounts; for admins also logs
// and settings.
import {
  ActionGroup,
  Breadcrumb,
  BreadcrumbItem,
  Button,
  Card,
  CardBody,
  CardTitle,
  Form,
  FormGroup,
  PageSection,
  Stack,
  StackItem,
  Tab,
  Tabs,
  TabTitleText,
  TextInput,
  Title,
} from '@patternfly/react-core';
import {useState} from 'react';
import {Link, useNavigate, useParams, useSearchParams} from 'react-router-dom';
import {ConfirmDelete} from 'src/components/ConfirmDelete';
import {CreateRepositoryModal} from 'src/components/CreateRepositoryModal';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {LogsView} from 'src/components/LogsView';
import {RepositoryTable} from 'src/components/RepositoryTable';
import {RobotsTab} from 'src/components/RobotsTab';
import {TeamsTab} from 'src/components/TeamsTab';
import {type Organization as Org, useOrganization, useOrganizationChanges} from 'src/hooks/UseOrganization';
import {useRepositories} from 'src/hooks/UseRepositories';

function OrgRepositories({org}: {org: Org}) {
  const repos = useRepositories(org.name);
  const [creating, setCreating] = useState(false);
  return (
    <>
      <ErrorAlert error={repos.error} />
      {repos.isLoading ? (
        <Loading />
      ) : (
        <RepositoryTable
          repositories={repos.data ?? []}
          showNamespaceFilter={false}
          toolbarExtra={
            org.is_member ? <Button onClick={() => setCreating(true)}>Create repository</Button> : null
          }
        />
      )}
      {creating ? <CreateRepositoryModal namespace={org.name} onClose={() => setCreating(false)} /> : null}
    </>
  );
}

function OrgSettings({org}: {org: Org}) {
  const {update, remove} = useOrganizationChanges(org.name);
  const [email, setEmail] = useState(org.email ?? '');
  const [deleting, setDeleting] = useState(false);
  const navigate = useNavigate();
  return (
    <Stack hasGutter>
      <StackItem>
        <Card>
          <CardTitle component="h2">Organization e-mail</CardTitle>
          <CardBody>
            <Form onSubmit={(e) => (e.preventDefault(), update.mutate({email}))}>
              <FormGroup label="E-mail" fieldId="org-email">
                <TextInput id="org-email" type="email" value={email} onChange={(_e, v) => setEmail(v)} />
              </FormGroup>
              <ErrorAlert error={update.error} />
              <ActionGroup>
                <Button type="submit" isLoading={update.isPending} isDisabled={!email || email === org.email}>
                  Save
                </Button>
              </ActionGroup>
            </Form>
          </CardBody>
        </Card>
      </StackItem>
      <StackItem>
        <Card>
          <CardTitle component="h2">Delete organization</CardTitle>
          <CardBody>
            <p>Its repositories, teams and robot accounts go with it. This cannot be undone.</p>
            <Button variant="danger" onClick={() => setDeleting(true)} style={{marginTop: '0.5rem'}}>
              Delete organization
            </Button>
          </CardBody>
        </Card>
      </StackItem>
      {deleting ? (
        <ConfirmDelete
          title={`Delete ${org.name}?`}
          confirmText={org.name}
          body={<p>Every repository of {org.name} is deleted, and every robot token stops working.</p>}
          onConfirm={async () => {
            await remove.mutateAsync();
            navigate('/organization');
          }}
          onClose={() => setDeleting(false)}
        />
      ) : null}
    </Stack>
  );
}

export function Organization() {
  const {name = ''} = useParams();
  const [params, setParams] = useSearchParams();
  const org = useOrganization(name);
  const tab = params.get('tab') ?? 'repositories';
  return (
    <>
      <PageSection>
        <Breadcrumb>
          <BreadcrumbItem>
            <Link to="/organization">Organizations</Link>
          </BreadcrumbItem>
          <BreadcrumbItem isActive>{name}</BreadcrumbItem>
        </Breadcrumb>
        <Title headingLevel="h1">{name}</Title>
      </PageSection>
      <PageSection>
        {org.isLoading ? <Loading /> : null}
        <ErrorAlert error={org.error} />
        {org.data ? (
          <Tabs
            activeKey={tab}
            onSelect={(_e, key) => setParams({tab: String(key)})}
            aria-label="Organization"
            mountOnEnter
            unmountOnExit
          >
            <Tab eventKey="repositories" title={<TabTitleText>Repositories</TabTitleText>}>
              <OrgRepositories org={org.data} />
            </Tab>
            {org.data.is_member ? (
              <Tab eventKey="teams" title={<TabTitleText>Teams and membership</TabTitleText>}>
                <TeamsTab org={org.data} />
              </Tab>
            ) : null}
            {org.data.is_member ? (
              <Tab eventKey="robots" title={<TabTitleText>Robot accounts</TabTitleText>}>
                <RobotsTab org={name} prefix={name} canAdmin={org.data.is_admin} />
              </Tab>
            ) : null}
            {org.data.is_admin ? (
              <Tab eventKey="logs" title={<TabTitleText>Logs</TabTitleText>}>
                <LogsView scope={{kind: 'organization', name}} />
              </Tab>
            ) : null}
            {org.data.is_admin ? (
              <Tab eventKey="settings" title={<TabTitleText>Settings</TabTitleText>}>
                <OrgSettings org={org.data} />
              </Tab>
            ) : null}
          </Tabs>
        ) : null}
      </PageSection>
    </>
  );
}
