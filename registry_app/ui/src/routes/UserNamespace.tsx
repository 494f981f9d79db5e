// /user/{name}: a user's repositories; for the user themself also robot accounts, settings
// and logs.
import {Button, PageSection, Tab, Tabs, TabTitleText, Title} from '@patternfly/react-core';
import {useState} from 'react';
import {useParams, useSearchParams} from 'react-router-dom';
import {AccountSettings} from 'src/components/AccountSettings';
import {CreateRepositoryModal} from 'src/components/CreateRepositoryModal';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {LogsView} from 'src/components/LogsView';
import {RepositoryTable} from 'src/components/RepositoryTable';
import {RobotsTab} from 'src/components/RobotsTab';
import {useCurrentUser} from 'src/hooks/UseCurrentUser';
import {useRepositories} from 'src/hooks/UseRepositories';

export function UserNamespace() {
  const {name = ''} = useParams();
  const [params, setParams] = useSearchParams();
  const {data: user} = useCurrentUser();
  const repos = useRepositories(name);
  const [creating, setCreating] = useState(false);
  const me = user?.username === name;
  const tab = params.get('tab') ?? 'repositories';
  return (
    <>
      <PageSection>
        <Title headingLevel="h1">{name}</Title>
      </PageSection>
      <PageSection>
        <Tabs
          activeKey={tab}
          onSelect={(_e, key) => setParams({tab: String(key)})}
          aria-label="User namespace"
          mountOnEnter
          unmountOnExit
        >
          <Tab eventKey="repositories" title={<TabTitleText>Repositories</TabTitleText>}>
            <ErrorAlert error={repos.error} />
            {repos.isLoading ? (
              <Loading />
            ) : (
              <RepositoryTable
                repositories={repos.data ?? []}
                showNamespaceFilter={false}
                toolbarExtra={me ? <Button onClick={() => setCreating(true)}>Create repository</Button> : null}
              />
            )}
          </Tab>
          {me ? (
            <Tab eventKey="robots" title={<TabTitleText>Robot accounts</TabTitleText>}>
              <RobotsTab org={null} prefix={name} canAdmin />
            </Tab>
          ) : null}
          {me && user ? (
            <Tab eventKey="settings" title={<TabTitleText>Settings</TabTitleText>}>
              <AccountSettings user={user} />
            </Tab>
          ) : null}
          {me ? (
            <Tab eventKey="logs" title={<TabTitleText>Logs</TabTitleText>}>
              <LogsView scope={{kind: 'user'}} />
            </Tab>
          ) : null}
        </Tabs>
        {creating ? <CreateRepositoryModal namespace={name} onClose={() => setCreating(false)} /> : null}
      </PageSection>
    </>
  );
}
