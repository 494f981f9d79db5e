// /repository/{ns}/{repo}: information, tags, tag history; for admins also logs and settings.
import {
  Breadcrumb,
  BreadcrumbItem,
  Card,
  CardBody,
  CardTitle,
  Content,
  Label,
  PageSection,
  Tab,
  Tabs,
  TabTitleText,
  Title,
} from '@patternfly/react-core';
import {Link, useParams, useSearchParams} from 'react-router-dom';
import {CopyLine} from 'src/components/CopyLine';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {LogsView} from 'src/components/LogsView';
import {Markdown} from 'src/components/Markdown';
import {RepositorySettings} from 'src/components/RepositorySettings';
import {TagHistory} from 'src/components/TagHistory';
import {TagsTable} from 'src/components/TagsTable';
import {useConfig} from 'src/hooks/UseConfig';
import {useRepository} from 'src/hooks/UseRepository';
import {pullCommand} from 'src/libs/registry';

export function RepositoryDetails() {
  const {namespace = '', name = ''} = useParams();
  const [params, setParams] = useSearchParams();
  const repo = useRepository(namespace, name);
  const {data: config} = useConfig();
  const tab = params.get('tab') ?? 'tags';
  const header = (
    <PageSection>
      <Breadcrumb>
        <BreadcrumbItem>
          <Link to="/repository">Repositories</Link>
        </BreadcrumbItem>
        <BreadcrumbItem>
          <Link to={repo.data?.is_organization ? `/organization/${namespace}` : `/user/${namespace}`}>{namespace}</Link>
        </BreadcrumbItem>
        <BreadcrumbItem isActive>{name}</BreadcrumbItem>
      </Breadcrumb>
      <Title headingLevel="h1">
        {namespace}/{name}{' '}
        {repo.data ? (
          <Label color={repo.data.is_public ? 'green' : 'grey'}>{repo.data.is_public ? 'public' : 'private'}</Label>
        ) : null}
      </Title>
    </PageSection>
  );
  if (repo.isLoading) {
    return (
      <>
        {header}
        <Loading />
      </>
    );
  }
  if (repo.error || !repo.data) {
    return (
      <>
        {header}
        <PageSection>
          <ErrorAlert error={repo.error} />
        </PageSection>
      </>
    );
  }
  const r = repo.data;
  const ref = `${namespace}/${name}`;
  return (
    <>
      {header}
      <PageSection>
        <Tabs
          activeKey={tab}
          onSelect={(_e, key) => setParams({tab: String(key)})}
          aria-label="Repository"
          mountOnEnter
          unmountOnExit
        >
          <Tab eventKey="information" title={<TabTitleText>Information</TabTitleText>}>
            <Card isPlain>
              <CardTitle component="h2">Pull this repository</CardTitle>
              <CardBody>
                <CopyLine label="podman pull command" value={pullCommand('podman', config, ref)} />
                <CopyLine label="docker pull command" value={pullCommand('docker', config, ref)} />
              </CardBody>
            </Card>
            <Card isPlain>
              <CardTitle component="h2">Description</CardTitle>
              <CardBody>
                {r.description ? <Markdown text={r.description} /> : <Content component="p">No description.</Content>}
              </CardBody>
            </Card>
          </Tab>
          <Tab eventKey="tags" title={<TabTitleText>Tags</TabTitleText>}>
            <TagsTable namespace={namespace} name={name} canWrite={r.can_write} />
          </Tab>
          <Tab eventKey="history" title={<TabTitleText>Tag history</TabTitleText>}>
            <TagHistory namespace={namespace} name={name} canWrite={r.can_write} />
          </Tab>
          {r.can_admin ? (
            <Tab eventKey="logs" title={<TabTitleText>Logs</TabTitleText>}>
              <LogsView scope={{kind: 'repository', namespace, name}} />
            </Tab>
          ) : null}
          {r.can_admin ? (
            <Tab eventKey="settings" title={<TabTitleText>Settings</TabTitleText>}>
              <RepositorySettings repo={r} />
            </Tab>
          ) : null}
        </Tabs>
      </PageSection>
    </>
  );
}
