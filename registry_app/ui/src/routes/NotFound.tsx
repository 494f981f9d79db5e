import {EmptyState, EmptyStateBody, PageSection} from '@patternfly/react-core';
import {Link} from 'react-router-dom';

export function NotFound() {
  return (
    <PageSection>
      <EmptyState titleText="Page not found" headingLevel="h1">
        <EmptyStateBody>
          There is no such page. <Link to="/repository">Go to the repositories</Link>.
        </EmptyStateBody>
      </EmptyState>
    </PageSection>
  );
}
