// /repository: every repository the visitor may see (theirs, their organizations', public ones).
import {Button, PageSection, Title} from '@patternfly/react-core';
import {useState} from 'react';
import {CreateRepositoryModal} from 'src/components/CreateRepositoryModal';
import {ErrorAlert} from 'src/components/ErrorAlert';
import {Loading} from 'src/components/Loading';
import {RepositoryTable} from 'src/components/RepositoryTable';
import {useCurrentUser} from 'src/hooks/UseCurrentUser';
import {useRepositories} from 'src/hooks/UseRepositories';

export function RepositoriesList() {
  const {data: user} = useCurrentUser();
  const repos = useRepositories();
  const [creating, setCreating] = useState(false);
  return (
    <>
      <PageSection>
        <Title headingLevel="h1">Repositories</Title>
      </PageSection>
      <PageSection>
        <ErrorAlert error={repos.error} />
        {repos.isLoading ? (
          <Loading />
        ) : (
          <RepositoryTable
            repositories={repos.data ?? []}
            toolbarExtra={
              user ? (
                <Button variant="primary" onClick={() => setCreating(true)}>
                  Create repository
                </Button>
              ) : null
            }
          />
        )}
        {creating ? <CreateRepositoryModal onClose={() => setCreating(false)} /> : null}
      </PageSection>
    </>
  );
}
